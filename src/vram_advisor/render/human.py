"""The human views (rich): the machine in a few lines, the verdict, the fit grid, stretch, tier and fallback.

Text that comes from inventories (hostnames, GPU names, paths) is untrusted and always passed as ``Text`` or
escaped, never as markup: a hostname such as ``[red]x`` prints as written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.table import Table
from rich.text import Text

from vram_advisor import __version__
from vram_advisor.core import units
from vram_advisor.core.jsonread import clean_text
from vram_advisor.inventory.model import Disk, Gpu, Inventory, all_notes
from vram_advisor.plan.rules import COMFORTABLE, MINIMUM, NONE, OFFLOAD, Option, Plan, need_text, safer_text, shortfall

if TYPE_CHECKING:
    from vram_advisor.plan.check import CheckReport

FIT_STYLE = {COMFORTABLE: "bold green", MINIMUM: "yellow", OFFLOAD: "magenta", NONE: "dim red"}
FIT_SYMBOL = {COMFORTABLE: "●", MINIMUM: "◐", OFFLOAD: "◌", NONE: "·"}
KIND_WORDS = {
    "local": "runs from GPU memory",
    "offload": "runs with weights offloaded to system RAM (slow)",
    "api": "nothing fits: use the DeepSeek API or a smaller local model",
}


def _label(option: Option) -> str:
    return f"{option.model.short_name} {option.quant.id.upper()}"


def gpu_groups(gpus: Iterable[Gpu]) -> list[tuple[int, Gpu]]:
    """GPUs grouped by name and memory, in order of first appearance: [(count, first GPU)]."""
    counts: Counter[tuple[str, int, int]] = Counter()
    first: dict[tuple[str, int, int], Gpu] = {}
    for gpu in gpus:
        key = (gpu.name, gpu.memory_total_bytes, gpu.memory_reserved_bytes or 0)
        counts[key] += 1
        first.setdefault(key, gpu)
    return [(counts[key], first[key]) for key in first]


def _gpu_line(count: int, gpu: Gpu) -> Text:
    line = Text(f"{count} × " if count > 1 else "")
    line.append(gpu.name, style="bold")
    detail = f"  {units.format_gib(gpu.memory_total_bytes)}"
    if count > 1:
        detail += " each"
    if gpu.memory_reserved_bytes:
        detail += f", {units.format_gib(gpu.memory_reserved_bytes)} reserved"
    if gpu.unified:
        detail += ", unified memory"
    line.append(detail)
    return line


def _disk_line(disk: Disk) -> Text:
    line = Text(clean_text(disk.path), style="bold")  # a --model-dir may hold terminal escapes
    if disk.free_bytes is not None:
        line.append(f"  {units.format_file_gb(disk.free_bytes)} free")
        if disk.total_bytes:
            line.append(f" of {units.format_file_gb(disk.total_bytes)}")
    else:
        line.append("  free space unknown")
    if disk.kind and disk.kind != "unknown":
        line.append(f" ({disk.kind})")
    elif disk.fstype:
        line.append(f" ({disk.fstype})")
    return line


def machine_table(
    inventory: Inventory,
    usable_vram_bytes: int | None = None,
    spare_ram_bytes: int | None = None,
    *,
    show_gpus: bool = True,
) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="cyan", no_wrap=True)
    grid.add_column()
    visible = inventory.visible_gpus
    hidden = len(inventory.gpus) - len(visible)
    if not show_gpus:  # the probe view lists them in its own table
        pass
    elif visible:
        for position, (count, gpu) in enumerate(gpu_groups(visible)):
            grid.add_row("GPUs" if position == 0 else "", _gpu_line(count, gpu))
    else:
        grid.add_row("GPUs", Text("none usable" + (f" ({hidden} hidden by CUDA_VISIBLE_DEVICES)" if hidden else "")))
    if show_gpus and visible and hidden:
        grid.add_row("", Text(f"{hidden} more GPU(s) hidden by CUDA_VISIBLE_DEVICES", style="dim"))
    if usable_vram_bytes is not None:
        grid.add_row("VRAM", Text(f"{units.format_gib(usable_vram_bytes)} usable (total less reserved)"))
    ram = inventory.ram
    ram_text = f"{units.format_gib(ram.total_bytes)}"
    if ram.available_bytes is not None:
        ram_text += f" ({units.format_gib(ram.available_bytes)} available)"
    if ram.limit_bytes is not None:
        ram_text += f", container limit {units.format_gib(ram.limit_bytes)}"
    if spare_ram_bytes is not None:
        ram_text += f"; {units.format_gib(spare_ram_bytes)} to spare for offload"
    grid.add_row("RAM", Text(ram_text))
    # check shows the disk under the model dir; probe (no usable VRAM figure) lists every mount
    disks = inventory.disks
    if usable_vram_bytes is not None:
        disks = tuple(d for d in disks if d.model_dir) or disks[:1]
    for position, disk in enumerate(disks):
        grid.add_row("Disk" if position == 0 else "", _disk_line(disk))
    return grid


def _verdict(plan: Plan) -> Text:
    rec = plan.recommendation
    text = Text()
    if rec.option is None:
        text.append("Use the DeepSeek API", style="bold red")
        text.append(" or a smaller local model: ")
    else:
        style = FIT_STYLE[rec.option.fit]
        text.append(f"{rec.option.model.name} {rec.option.quant.id.upper()}", style=f"bold {style}")
        if rec.option.experimental:
            text.append(" (experimental)", style="yellow")
        text.append(f" {KIND_WORDS[rec.kind]}: ")
    text.append(rec.reason + ".")
    return text


def cell_figure(option: Option) -> str:
    """A grid cell's second line: what the option needs (rule 12: its judged minimum, the same figure the verdict
    and the gate print), and, for a dominated option (rule 10), the better-ranked quantization to take instead."""
    text = units.format_gib(option.quant.judged_min_bytes)
    if option.dominated_by is not None:
        text += f" ↑{option.dominated_by.quant.id.upper()}"
    return text


def dominance_legend(plan: Plan, narrow: bool = False) -> str:
    """What the grid's ``↑X`` marks mean, for the kinds that appear in it ("" where none does)."""
    kinds = {option.dominance for option in plan.options if option.dominated_by is not None}
    if not kinds:
        return ""
    if kinds == {"need"}:
        return "↑X: X needs no more"
    if narrow:
        return "↑X: prefer X"
    if kinds == {"same weights"}:
        return "↑X: X, the same weights, runs here"
    return "↑X: X needs no more, or is the same weights and runs here"


#: Below this width the grid uses short words ("comfort.") so that all six columns fit in 80 columns.
NARROW_WIDTH = 96
SHORT_FIT = {COMFORTABLE: "comfort.", MINIMUM: "minimum", OFFLOAD: "offload", NONE: "none"}


def fit_grid(plan: Plan, narrow: bool = False) -> Table:
    """Models as rows, quantizations as columns, each cell coloured by fit (the recommendation marked ►)."""
    table = Table(show_edge=False, pad_edge=False, box=None, padding=(0, 1), header_style="bold")
    table.add_column("Model", no_wrap=True, min_width=8)
    quant_ids = [row.id for row in plan.options[0].model.quants] if plan.options else []
    for quant_id in quant_ids:
        experimental = any(o.quant.id == quant_id and o.experimental for o in plan.options)
        table.add_column(quant_id.upper() + ("*" if experimental else ""), no_wrap=True, min_width=10 if narrow else 13)
    recommended = plan.recommendation.option.key if plan.recommendation.option else None
    models = []
    for option in plan.options:
        if option.model not in models:
            models.append(option.model)
    for model in models:
        cells: list[Text] = []
        for quant_id in quant_ids:
            found = next((o for o in plan.options if o.model is model and o.quant.id == quant_id), None)
            if found is None:
                cells.append(Text(""))
                continue
            option = found
            mark = "►" if option.key == recommended else FIT_SYMBOL[option.fit]
            word = SHORT_FIT[option.fit] if narrow else option.fit
            cell = Text(f"{mark} {word}", style=FIT_STYLE[option.fit])
            cell.append(f"\n{cell_figure(option)}", style="dim")
            cells.append(cell)
        table.add_row(Text(model.short_name, style="bold"), *cells)
    return table


def fit_grid_by_quant(plan: Plan) -> Table:
    """The grid turned for narrow terminals: quantizations as rows, models as columns, one line a cell."""
    table = Table(show_edge=False, pad_edge=False, box=None, padding=(0, 1), header_style="bold")
    table.add_column("Quant", no_wrap=True)
    models = []
    for option in plan.options:
        if option.model not in models:
            models.append(option.model)
    for model in models:
        table.add_column(model.short_name, no_wrap=True)
    recommended = plan.recommendation.option.key if plan.recommendation.option else None
    quant_ids = [row.id for row in plan.options[0].model.quants] if plan.options else []
    for quant_id in quant_ids:
        experimental = any(o.quant.id == quant_id and o.experimental for o in plan.options)
        cells: list[Text] = []
        for model in models:
            found = next((o for o in plan.options if o.model is model and o.quant.id == quant_id), None)
            if found is None:
                cells.append(Text(""))
                continue
            mark = "►" if found.key == recommended else FIT_SYMBOL[found.fit]
            cell = Text(f"{mark} {SHORT_FIT[found.fit]} ", style=FIT_STYLE[found.fit])
            cell.append(cell_figure(found), style="dim")
            cells.append(cell)
        table.add_row(Text(quant_id.upper() + ("*" if experimental else ""), style="bold"), *cells)
    return table


class FitGridView:
    """The grid and its legend, laid out for the width it is printed at."""

    def __init__(self, plan: Plan, real: bool = False, sizes: str | None = None) -> None:
        self.plan = plan
        self.sizes = sizes or ("real" if real else "table")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from vram_advisor.render.layout import Fitted

        narrow = options.max_width < NARROW_WIDTH
        yield Fitted(fit_grid(self.plan, narrow), lambda: fit_grid_by_quant(self.plan))
        dominated = dominance_legend(self.plan, narrow)
        if narrow:  # the cells spell their fit: one line says the rest
            parts = ["► recommended", "* experimental", dominated]
            figures = {"real": "VRAM needed", "published": "minimum VRAM, published sizes"}.get(
                self.sizes, "the article's minimum VRAM"
            )
            yield Text("  ".join(part for part in parts if part) + f" · figures: {figures}", style="dim")
            return
        legend = "● comfortable  ◐ minimum  ◌ offload (needs system RAM)  · none  ► recommended  * experimental"
        cells = "figures: the minimum VRAM of the article's table (its N GB read as N GiB of card capacity)"
        if self.sizes == "published":
            cells = "figures: the article's minimum VRAM scaled by each published file's size over the table's weights"
        if self.sizes == "real":
            cells = "figures: VRAM needed (the article's minimum or the real download's need, the larger)"
            if dominated:
                cells += f"; {dominated}"
        yield Text(legend, style="dim")
        yield Text(cells, style="dim")


def facts_grid() -> Table:
    """Label and text, the text wrapping in its own column."""
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="cyan", no_wrap=True)
    facts.add_column()
    return facts


def reach_rows(plan: Plan) -> list[tuple[str, Text]]:
    """Stretch (what else loads, above the recommendation) and Out of reach (the next option up, what it lacks)."""
    rows: list[tuple[str, Text]] = []
    if plan.stretch is not None:
        stretch = plan.stretch
        word = "at its minimum" if stretch.fit == MINIMUM else "comfortably"
        rows.append(
            (
                "Stretch",
                Text(
                    f"{_label(stretch)} also loads, {word}: needs {need_text(stretch.quant)}, safer "
                    f"{safer_text(stretch.quant)}" + (", experimental" if stretch.experimental else "")
                ),
            )
        )
    if plan.next_up is not None:
        short = shortfall(plan.machine.usable_vram_bytes, plan.next_up.quant)
        # under an offload or API verdict nothing loads in GPU memory: the row says what would, the smallest
        label = "Out of reach" if plan.recommendation.kind == "local" else "All on GPUs"
        rows.append(
            (
                label,
                Text(
                    f"{_label(plan.next_up)} needs {need_text(plan.next_up.quant)} of VRAM, "
                    f"{units.format_gib(short)} more"
                ),
            )
        )
    return rows


def alternatives_text(plan: Plan, limit: int = 8) -> Text | None:
    """The API and the (``limit`` largest) smaller local models that fit, when the verdict is not a plain local
    run."""
    rec = plan.recommendation
    if rec.kind == "local" and not (rec.option and rec.option.experimental):
        return None
    alternatives = Text()
    if plan.api is not None:
        alternatives.append(f"{plan.api.name} ({plan.api.url})")
    fits = [f"{m.model.name} {m.model.quant} {m.model.size_gb:.1f} GB ({m.runs_on})" for m in plan.small_models[:limit]]
    if fits:
        many = (
            "the largest smaller local models that fit"
            if len(fits) > 1
            else "the largest smaller local model that fits"
        )
        alternatives.append(f"; or {many}: " + ", ".join(fits))
    elif rec.kind != "local":
        alternatives.append("; no smaller local model in the catalogue fits either")
    return alternatives


def required_rows(plan: Plan) -> list[tuple[str, Text]]:
    """``--require``: whether it fits, and each check with its figures."""
    req = plan.required
    if req is None:
        return []
    rows = [
        (
            "Required",
            Text(("fits: " if req.fits else "does not fit: ") + req.reason, style="green" if req.fits else "red"),
        )
    ]
    for name, ok, detail in req.checks:
        mark = {True: "✓", False: "✗", None: "?"}[ok]
        rows.append(("", Text(f"{mark} {name}: {detail}", style={True: "", False: "red", None: "dim"}[ok])))
    return rows


def check_view(report: CheckReport, details: bool = False) -> Group:
    """The check result. By default the answer first, in one screen (``render.check_summary``); with ``details``
    everything: machine, verdict and its warnings, the grid, the facts, the estimates, the notes."""
    if not details:
        from vram_advisor.render.check_summary import summary_view

        return summary_view(report)
    plan, inventory, estimates = report.plan, report.inventory, report.estimates
    parts: list[object] = []
    title = Text(f"vram-advisor {__version__}", style="bold")
    if inventory.hostname:
        title.append(f" · {inventory.hostname}")
    parts.append(title)
    parts.append(machine_table(inventory, plan.machine.usable_vram_bytes, plan.machine.spare_ram_bytes))
    parts.append(Text())
    verdict = Text("Verdict  ", style="bold")
    verdict.append_text(_verdict(plan))
    where = estimates.run_placement  # where the verdict runs, in the words and with the speed of the summary view
    if where is not None:
        from vram_advisor.render.estimate_view import SHORT_LABELS

        verdict.append(f" Runs {SHORT_LABELS[where.kind]}")
        verdict.append(f", {where.speed.text()} single-stream." if where.speed is not None else ".")
    parts.append(verdict)
    from vram_advisor.report.check import table_note

    article = table_note(report)
    if article is not None:
        parts.append(Text(f"Article  {article.removeprefix('the article ')}", style="dim"))
    for warning in report.warnings:
        parts.append(Text(f"warning: {warning}", style="bold yellow"))
    parts.append(Text())
    parts.append(FitGridView(plan, sizes=report.options.estimate.sizes))
    parts.append(Text())
    facts = facts_grid()
    disk_line = plan.disk.line() if plan.disk is not None else None
    if disk_line is not None:  # rule 11: the download against the disk under the model dir
        facts.add_row("Disk", Text(disk_line[0].upper() + disk_line[1:], style="bold red"))
    for label, text in reach_rows(plan):
        facts.add_row(label, text)
    if plan.tier is not None:
        facts.add_row(
            "Tier",
            Text(
                f"the article's {plan.tier.vram} row (its words, not the verdict): {plan.tier.realistic}. "
                f"Do not expect: {plan.tier.do_not_expect}."
            ),
        )
    else:
        facts.add_row("Tier", Text("below the article's smallest row (24GB)"))
    if plan.advice:
        facts.add_row("Advice", Text("the article's advice (not the verdict): " + " ".join(plan.advice)))
    instead = alternatives_text(plan)
    if instead is not None:
        facts.add_row("Instead", instead)
        if plan.api is not None and plan.api.served:
            from vram_advisor.catalog.api import prices_text

            facts.add_row(
                "",
                Text(
                    "; ".join(f"{m.id}: {m.serves}, {prices_text(m) or 'price unknown'}" for m in plan.api.served),
                    style="dim",
                ),
            )
    for label, text in required_rows(plan):
        facts.add_row(label, text)
    from vram_advisor.render.estimate_view import check_parts, check_rows

    for label, row in check_rows(plan, estimates):
        facts.add_row(label, row)
    parts.append(facts)
    parts.extend(check_parts(plan, estimates))
    notes = report.notes
    if notes:
        parts.append(Text())
        parts.append(notes_table(notes))
    return Group(*parts)  # type: ignore[arg-type]


def notes_table(notes: Sequence[str]) -> Table:
    """Notes with a hanging indent, so that a wrapped note stays in its column."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, style="dim")
    grid.add_column(style="dim")
    for note in notes:
        grid.add_row("note:", Text(clean_text(note)))
    return grid


def probe_view(inventory: Inventory) -> Group:
    parts: list[object] = []
    title = Text("Inventory", style="bold")
    if inventory.hostname:
        title.append(f" · {inventory.hostname}")
    parts.append(title)
    table = Table(box=None, padding=(0, 1), header_style="bold")
    for column in ("#", "GPU", "total", "reserved", "free", "UUID", "visible"):
        table.add_column(column, no_wrap=column != "GPU")
    for position, gpu in enumerate(inventory.gpus):
        table.add_row(
            str(gpu.index if gpu.index is not None else position),
            Text(gpu.name),
            units.format_gib(gpu.memory_total_bytes),
            units.format_gib(gpu.memory_reserved_bytes),
            units.format_gib(gpu.memory_free_bytes),
            Text(gpu.uuid or "-"),
            "yes" if gpu.visible is not False else "no",
        )
    if inventory.gpus:
        parts.append(table)
    else:
        parts.append(Text("no GPUs found"))
    parts.append(machine_table(inventory, None, None, show_gpus=False))
    notes = all_notes(inventory)
    if notes:
        parts.append(notes_table(notes))
    return Group(*parts)  # type: ignore[arg-type]


def print_view(view: Group, console: Console) -> None:
    """Print a view; off a terminal (a file, a pipe, a test) without the spaces rich pads each line with."""
    # crop=False: every part is laid out within the width already, except a command word longer than a line (a
    # long path), which must print whole to be pasted
    if console.is_terminal:
        console.print(view, highlight=False, markup=False, soft_wrap=False, crop=False)
        return
    with console.capture() as captured:
        console.print(view, highlight=False, markup=False, soft_wrap=False, crop=False)
    # off a terminal rich writes no escapes of its own: any control character left came from outside (a path, a name)
    console.file.write("\n".join(clean_text(line.rstrip()) for line in captured.get().split("\n")))
    console.file.flush()
