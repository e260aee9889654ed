"""``vram-advisor models``: the profiles as tables (each model's rows and the article's figures, its releases, the
downloads of the planned release and the engines that load them), the engines and where they run, and the DeepSeek
API's model names and prices today. Text from profiles is passed as ``Text``, never as markup."""

from __future__ import annotations

from rich.console import Group
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from vram_advisor.catalog.api import ApiOption, prices_text
from vram_advisor.catalog.downloads import computed_download, downloads_of
from vram_advisor.catalog.engines import EngineTable
from vram_advisor.catalog.profiles import Catalog, ModelProfile
from vram_advisor.core import units


def _hanging(text: str, indent: int, style: str = "") -> Padding:
    """``text`` indented ``indent`` columns, its wrapped lines too (a long file name folds inside the column)."""
    return Padding(Text(text, style=style, overflow="fold"), (0, 0, 0, indent))


def _release_lines(model: ModelProfile) -> list[Padding]:
    """A model's releases (catalog/releases.py): each with its repository, date and source; the one planned by
    default marked, and where a release's files differ in size from the first's."""
    from vram_advisor.catalog.releases import size_differences

    lines = []
    for release in model.releases:
        mark = " (planned by default)" if release.id == model.release else ""
        kind = "official" if release.official else "not official"
        lines.append(
            _hanging(
                f"release {release.id}: {release.repo}, {release.published}, {kind}{mark} [{release.source}]", 2, "dim"
            )
        )
    lines.extend(_hanging(line, 2, "dim") for line in size_differences(model))
    return lines


def _download_lines(model: ModelProfile, engines: EngineTable) -> Table | None:
    """The downloads of the planned release, row by row: name, size, format and the engines that load it, then
    where it is (repository and file or glob); wrapped lines keep their column."""
    table = Table.grid(padding=(0, 1))
    table.add_column(width=4)
    table.add_column(overflow="fold")
    found_any = False
    for row in model.quants:
        found = downloads_of(model, row) or (computed_download(model, row),)
        for position, download in enumerate(found):
            found_any = True
            names = [engines.engines[e].name if e in engines.engines else e for e in download.engines]
            kind = "computed GGUF" if download.computed else download.format or "format unknown"
            what = f"{download.name or '-'}: {units.format_file_gb(download.bytes)}, {kind}, {', '.join(names)}"
            if download.same_weights_as:
                what += f"; holds the {download.same_weights_as.upper()} row's weights"
            table.add_row(row.id if position == 0 else "", Text(what))
            where = download.repo or "repository unknown"
            if download.include:
                where += f" --include {download.include}"
            elif len(download.files) == 1:
                where += f" {download.files[0]}"
            table.add_row("", Text(where, style="dim", overflow="fold"))
    return table if found_any else None


def engines_table(engines: EngineTable) -> Table:
    """Each engine: what it loads, the platforms it runs V4 on (in the order tried there), and its version."""
    table = Table(box=None, padding=(0, 1), header_style="bold", show_edge=False)
    for column in ("engine", "loads", "runs on", "version"):
        table.add_column(column, overflow="fold")
    for engine in engines.engines.values():
        platforms = [
            entry.kind + (f" ({entry.conditions()})" if entry.conditions() != "any GPU" else "")
            for entry in engine.platforms
        ]
        table.add_row(engine.name, ", ".join(engine.formats), Text(", ".join(platforms)), Text(engine.min_version))
    return table


def api_lines(api: ApiOption) -> list[Text]:
    """The API's model names today, what each serves and costs, and the names retired."""
    lines = [Text(f"{api.name} ({api.url}), checked {api.checked or 'undated'}", style="bold")]
    for model in api.served:
        price = prices_text(model)
        lines.append(Text(f"  {model.id}: {model.serves}" + (f"; {price}" if price else "")))
    for alias in api.retired:
        lines.append(Text(f"  {alias.id}: {alias.status} (since {alias.since})", style="dim"))
    return lines


def models_view(catalog: Catalog) -> Group:
    parts: list[object] = []
    for model in catalog.models:
        header = Text(model.name, style="bold")
        header.append(
            f"  ({model.id}; {model.params_total} total"
            + (f" / {model.params_active} active" if model.params_active else "")
            + f"; official weights {model.official_weights})"
        )
        parts.append(header)
        parts.extend(_release_lines(model))
        table = Table(box=None, padding=(0, 1), header_style="bold")
        for column in ("quant", "weights", "minimum VRAM", "safer VRAM", "best for"):
            table.add_column(column)
        for row in model.quants:
            table.add_row(
                row.id + (" *" if row.experimental else "") + (" †" if row.derived else ""),
                row.weights,
                row.min_vram,
                row.safer_vram,
                Text(row.best_for),
            )
        parts.append(table)
        downloads = _download_lines(model, catalog.engines)
        if downloads:
            release = f" of release {model.release}" if model.release else ""
            parts.append(Text(f"  downloads{release} (GB = 10^9 bytes):", style="dim"))
            parts.append(Padding(downloads, (0, 0, 0, 2)))
        parts.append(Text())
    parts.append(
        Text("* experimental. VRAM figures: N GB = N GiB of nominal card capacity; 1TB = 1024 GB.", style="dim")
    )
    if any(row.derived for model in catalog.models for row in model.quants):
        parts.append(
            Text(
                "† derived, no article row (models import; V4.1-Flash): VRAM = weights x a table row's ratio",
                style="dim",
            )
        )
    if catalog.engines.engines:
        parts.extend([Text(), Text("Engines", style="bold"), engines_table(catalog.engines)])
    if catalog.api is not None and catalog.api.served:
        parts.extend([Text(), *api_lines(catalog.api)])
    parts.append(Text(f"profiles: {', '.join(escape(f) for f in catalog.files)}", style="dim"))
    return Group(*parts)  # type: ignore[arg-type]
