"""The plan's pieces that both check views show (``render.human``'s ``--details`` view and ``render.check_summary``'s
first screen): the fit grid and its legend, what else loads or is just out of reach, the requirement's rows, and the
GPUs grouped by model. Reads the plan only; below both views, so that neither imports the other.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

from vram_advisor.catalog.profiles import ModelProfile
from vram_advisor.core import units
from vram_advisor.inventory.model import Gpu
from vram_advisor.plan.rules import COMFORTABLE, MINIMUM, NONE, OFFLOAD, Option, Plan, need_text, safer_text, shortfall

FIT_STYLE = {COMFORTABLE: "bold green", MINIMUM: "yellow", OFFLOAD: "magenta", NONE: "dim red"}
FIT_SYMBOL = {COMFORTABLE: "●", MINIMUM: "◐", OFFLOAD: "◌", NONE: "·"}


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


def _models_of(plan: Plan) -> list[ModelProfile]:
    """The plan's models, in the order its options first name them (the grid's columns or rows)."""
    models: list[ModelProfile] = []
    for option in plan.options:
        if option.model not in models:
            models.append(option.model)
    return models


def _option_at(plan: Plan, model: ModelProfile, quant_id: str) -> Option | None:
    """The grid cell of ``model`` at ``quant_id``, or None where the model has no such row."""
    return next((o for o in plan.options if o.model is model and o.quant.id == quant_id), None)


def fit_grid(plan: Plan, narrow: bool = False) -> Table:
    """Models as rows, quantizations as columns, each cell coloured by fit (the recommendation marked ►)."""
    table = Table(show_edge=False, pad_edge=False, box=None, padding=(0, 1), header_style="bold")
    table.add_column("Model", no_wrap=True, min_width=8)
    quant_ids = [row.id for row in plan.options[0].model.quants] if plan.options else []
    for quant_id in quant_ids:
        experimental = any(o.quant.id == quant_id and o.experimental for o in plan.options)
        table.add_column(quant_id.upper() + ("*" if experimental else ""), no_wrap=True, min_width=10 if narrow else 13)
    recommended = plan.recommendation.option.key if plan.recommendation.option else None
    models = _models_of(plan)
    for model in models:
        cells: list[Text] = []
        for quant_id in quant_ids:
            found = _option_at(plan, model, quant_id)
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
    models = _models_of(plan)
    for model in models:
        table.add_column(model.short_name, no_wrap=True)
    recommended = plan.recommendation.option.key if plan.recommendation.option else None
    quant_ids = [row.id for row in plan.options[0].model.quants] if plan.options else []
    for quant_id in quant_ids:
        experimental = any(o.quant.id == quant_id and o.experimental for o in plan.options)
        cells: list[Text] = []
        for model in models:
            found = _option_at(plan, model, quant_id)
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
