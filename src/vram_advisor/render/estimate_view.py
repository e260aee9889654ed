"""Human views of the estimate: ``vram-advisor estimate`` (the breakdown per placement, with its assumptions), and
the context, offload and run lines that ``check`` shows beside the table's verdict.

Built with rich from the estimate objects; model names come from profiles and are passed as ``Text``, never markup.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from vram_advisor.core import units
from vram_advisor.plan import estimate as est
from vram_advisor.plan.check_estimates import CheckEstimates, loads_from_vram
from vram_advisor.plan.rules import Plan
from vram_advisor.render.layout import CommandBlock, CommentBlock, Fitted

SHORT_LABELS = {
    est.PLACEMENT_GPU: "all on GPUs",
    est.PLACEMENT_HYBRID: "GPUs + RAM",
    est.PLACEMENT_CPU: "CPU only",
    est.PLACEMENT_NVME: "mmap from disk",
}


def _gib(value: int) -> str:
    return units.format_gib(value, 2 if value < 10 * units.GIB else 1) if value else "-"


def _small(value: int) -> str:
    """Sizes under 1 GiB in MiB ("5.4 MiB"), larger ones in GiB."""
    return f"{value / units.MIB:.1f} MiB" if value < units.GIB else _gib(value)


def grouped_rates(rates: list[int | None]) -> str:
    """GPU bandwidths grouped: "2 × 1.01 TB/s" rather than the figure twice."""
    seen: dict[int | None, int] = {}
    for rate in rates:
        seen[rate] = seen.get(rate, 0) + 1
    return ", ".join(
        (f"{count} × " if count > 1 else "") + units.format_bandwidth(rate) for rate, count in seen.items()
    )


def _speed(placement: est.Placement) -> str:
    """The decode speed as an estimate and its range ("≈26 (17-39)"), never a bare figure; "?" when unknown."""
    found = placement.speed
    return "?" if found is None else found.short()


def speed_legend(machine: est.MachineView | None, estimate: est.Estimate | None = None) -> str:
    """What "≈ tok/s" means (for ``estimate``'s engine family), and the RAM and disk bandwidths it used (saying
    which were assumed)."""
    engine = estimate.quant.bits.engine if estimate is not None and estimate.quant.bits is not None else None
    text = f"≈ tok/s: single-stream decode, {est.serial_estimate_words(engine)}"
    if machine is not None:
        text += f". RAM {machine.ram_bandwidth.text()}; disk {machine.disk_bandwidth.text()}"
    return text


def _fits(value: bool | None) -> Text:
    if value is None:
        return Text("-", style="dim")
    return Text("yes", style="green") if value else Text("no", style="red")


def _bottleneck_text(placement: est.Placement) -> str:
    unrated = placement.unrated
    if unrated is not None:
        return f"{unrated.name} bandwidth unknown"
    bottleneck = placement.bottleneck
    if bottleneck is None:
        return "-"
    return f"{bottleneck.name} {units.format_bandwidth(bottleneck.bandwidth.bytes_per_s)}"


def placements_view(placements: tuple[est.Placement, ...]) -> Fitted:
    """The placements as a table where it fits the width, else two lines a placement (never a cut table)."""
    return Fitted(placements_table(placements), lambda: placements_narrow(placements))


def placements_narrow(placements: tuple[est.Placement, ...]) -> Table:
    """The placements table for narrow terminals: a placement's memory, then its speeds, on two lines."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True, style="bold")
    grid.add_column()
    for placement in placements:
        memory = Text(f"GPU {_gib(placement.gpu_bytes)} · RAM {_gib(placement.ram_bytes)}")
        if placement.weights_disk:
            memory.append(f" · disk {_gib(placement.weights_disk)}")
        memory.append(" · fits ")
        memory.append_text(_fits(placement.fits))
        grid.add_row(SHORT_LABELS[placement.kind], memory)
        speeds = Text(f"≈ tok/s {_speed(placement)} · {_bottleneck_text(placement)}", style="dim")
        grid.add_row("", speeds)
    return grid


def placements_table(placements: tuple[est.Placement, ...]) -> Table:
    """One row per placement: memory per tier, whether it fits, decode-speed bounds and the slowest tier."""
    table = Table(box=None, padding=(0, 1), header_style="bold", pad_edge=False)
    for column in ("placement", "GPU", "RAM", "disk", "fits", "≈ tok/s (range)", "bottleneck"):
        table.add_column(column, no_wrap=True, justify="right" if column not in ("placement", "bottleneck") else "left")
    for placement in placements:
        table.add_row(
            SHORT_LABELS[placement.kind],
            _gib(placement.gpu_bytes),
            _gib(placement.ram_bytes),
            _gib(placement.weights_disk),
            _fits(placement.fits),
            _speed(placement),
            Text(_bottleneck_text(placement), style="dim"),
        )
    return table


def breakdown_line(placement: est.Placement) -> Text:
    """weights + KV + overhead = total, per tier, and the verdict's reason."""
    overhead = placement.overhead
    where = {"gpu": "GPUs", "ram": "RAM"}
    parts = []
    if placement.weights_gpu:
        parts.append(f"weights {_gib(placement.weights_gpu)} on the GPUs")
    if placement.weights_ram:
        parts.append(f"weights {_gib(placement.weights_ram)} in RAM")
    if placement.weights_disk:
        parts.append(f"{_gib(placement.weights_disk)} left on disk")
    parts.append(f"KV {_gib(placement.kv_bytes)} ({where[placement.kv_on]})")
    parts.append(
        f"overhead {_gib(overhead.total_bytes)} ({overhead.devices} × {_gib(overhead.per_device_bytes)}, "
        f"{where[placement.overhead_on]})"
    )
    line = Text(f"{SHORT_LABELS[placement.kind]}: ", style="bold")
    line.append(" + ".join(parts) + f" = {_gib(placement.need_bytes)}. ")
    line.append(placement.reason, style="dim")
    for note in placement.notes:
        line.append(f" ({note})", style="dim")
    return line


#: Where the weights in use come from, in words.
BASIS_WORDS = {
    "published": "the published file's weights",
    "computed": "weights computed from the bits per weight",
    "table": "the article's weights",
}


def _indented(text: str, style: str = "") -> Padding:
    """A line of the run block indented two columns, wrapped lines too."""
    return Padding(Text(text, style=style), (0, 0, 0, 2))


def run_lines(run: dict[str, object] | None) -> list[RenderableType]:
    """The run command (``runners.run_dict``): download step, command, notes; or, where the file it would load fits
    no placement here, the sentence that says so instead of a command."""
    if not run:
        return []
    lines: list[RenderableType]
    if run.get("command") is None:
        lines = [Text("Run it: no command for this machine", style="bold")]
        if run.get("warning"):
            lines.append(_indented(str(run["warning"]), "yellow"))
        return lines
    lines = [Text(f"Run it ({run['requires']})", style="bold")]
    # every line under the commands is a shell comment: the block pastes whole, words and all
    if run.get("warning"):
        lines.append(CommentBlock(f"why this placement: {run['warning']}"))
    steps = [str(step) for step in run.get("steps") or [run["command"]]]  # type: ignore[attr-defined]
    for position, step in enumerate(steps):  # the download and any conversion, then the engine (rule 11)
        lines.append(CommandBlock(step, style="cyan" if position == len(steps) - 1 else ""))
    if run.get("caveat"):
        lines.append(CommentBlock(str(run["caveat"])))
    notes = run.get("notes")
    if isinstance(notes, list):
        for note in notes:
            lines.append(CommentBlock(f"note: {note}", style="dim"))
    lines.append(CommentBlock(f"flags checked against: {run['checked_against']}", style="dim"))
    return lines


def estimate_view(estimate: est.Estimate, document: dict[str, object]) -> Group:
    """``vram-advisor estimate``: weights, KV cache, per-token reads, the placements and their breakdown, the run
    command, assumptions and warnings."""
    model, quant = estimate.model, estimate.quant
    parts: list[object] = []
    title = Text(f"{model.name} {quant.id.upper()}", style="bold")
    title.append(f" · {units.format_tokens(estimate.context_tokens)} tokens of context ({estimate.context_tokens:,})")
    if estimate.kv is not None:
        engine = estimate.quant.bits.engine if estimate.quant.bits is not None else ""
        title.append(f" · {est.kv_cache_name(engine, estimate.kv.dtype).upper()} KV cache")
    title.append(f" · {BASIS_WORDS.get(estimate.weights.basis, estimate.weights.basis)}")
    parts.append(title)
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="cyan", no_wrap=True)
    facts.add_column()
    weights = estimate.weights
    text = Text(
        f"{units.format_file_gb(weights.bytes)} ({_gib(weights.bytes)}) in use; table {units.format_file_gb(weights.table_bytes)}"
    )
    for item in weights.published:
        text.append(f"; published {item.name}: {item.stated}")
    if weights.computed_bytes is not None:
        text.append(f"; from bits per weight: {units.format_file_gb(weights.computed_bytes)}")
    facts.add_row("Weights", text)
    if weights.routed_bytes is not None and weights.other_bytes is not None:
        facts.add_row(
            "",
            Text(
                f"routed experts {_gib(weights.routed_bytes)}, attention + shared experts + the rest "
                f"{_gib(weights.other_bytes)}"
                + (f", engram tables {_gib(weights.engram_bytes)} (kept on disk)" if weights.engram_bytes else ""),
                style="dim",
            ),
        )
    if estimate.kv is not None:
        kv = estimate.kv
        facts.add_row(
            "KV cache",
            Text(
                f"{_gib(kv.total_bytes)} for one sequence: {kv.amortised_bytes_per_token:,.0f} B/token amortised "
                f"({kv.csa_rows:,} CSA and {kv.hca_rows:,} HCA rows per layer) + a {kv.swa_rows}-token window ring "
                f"of {_small(kv.swa_ring_bytes)}"
            ),
        )
    if estimate.active is not None:
        facts.add_row(
            "Per token",
            Text(
                f"decode reads {units.format_file_gb(estimate.active.total)}: active routed experts "
                f"{units.format_file_gb(estimate.active.routed)} + the rest {units.format_file_gb(estimate.active.other)}"
            ),
        )
    machine = estimate.machine
    if machine is not None:
        gpu_rates = grouped_rates([b.bytes_per_s for b in machine.gpu_bandwidths]) or "no GPU"
        facts.add_row(
            "Machine",
            Text(
                f"{len(machine.gpus)} GPU(s), {units.format_gib(machine.usable_vram_bytes)} usable VRAM; "
                f"{units.format_gib(machine.spare_ram_bytes)} of RAM to spare; bandwidth GPU {gpu_rates}, RAM "
                f"{units.format_bandwidth(machine.ram_bandwidth.bytes_per_s)}"
                f"{' (' + machine.ram_bandwidth.source + ')' if machine.ram_bandwidth.assumed else ''}, disk "
                f"{units.format_bandwidth(machine.disk_bandwidth.bytes_per_s)}"
            ),
        )
    parts.append(facts)
    if estimate.unavailable:
        parts.append(Text(estimate.unavailable, style="yellow"))
    if estimate.placements:
        parts.append(Text())
        parts.append(Text("Placements", style="bold"))
        parts.append(placements_view(estimate.placements))
        parts.append(Text(speed_legend(None, estimate), style="dim"))
        for placement in estimate.placements:
            parts.append(breakdown_line(placement))
    run = document.get("run")
    if isinstance(run, dict):
        parts.append(Text())
        parts.extend(run_lines(run))
    if estimate.assumptions:
        parts.append(Text())
        parts.append(Text("Assumptions", style="bold"))
        for line in estimate.assumptions:
            parts.append(Text(f"- {line}", style="dim"))
    if estimate.warnings:
        parts.append(Text())
        for warning in estimate.warnings:
            parts.append(Text(f"warning: {warning}", style="yellow"))
    return Group(*parts)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- check


def check_rows(plan: Plan, extras: CheckEstimates) -> list[tuple[str, Text]]:
    """Rows for ``check``'s facts grid: the context and its KV cache, and the recommendation's need."""
    rows: list[tuple[str, Text]] = []
    chosen = plan.recommendation.option
    estimates = [(o, extras.of(o)) for o in ([chosen] if chosen is not None else []) + list(plan.options)]
    kv_by_model: dict[str, str] = {}
    for option, estimate in estimates:  # the recommendation's own first: the KV its block runs with
        if estimate is not None and estimate.kv is not None and option.model.short_name not in kv_by_model:
            kv = estimate.kv
            engine = estimate.quant.bits.engine if estimate.quant.bits is not None else ""
            name = est.kv_cache_name(engine, kv.dtype).upper()
            name += f" x{kv.engine_factor:g}" if kv.engine_factor != 1.0 else ""
            kv_by_model[option.model.short_name] = f"{_gib(kv.total_bytes)} ({name})"
    context = Text(f"{units.format_tokens(extras.context_tokens)} tokens ({extras.context_tokens:,})")
    if kv_by_model:
        context.append(", KV cache for one sequence: " + ", ".join(f"{n} {v}" for n, v in kv_by_model.items()))
    rows.append(("Context", context))
    estimate = extras.of(chosen) if chosen is not None else None
    gpu = estimate.gpu if estimate is not None else None
    if estimate is not None and gpu is not None and plan.recommendation.kind == "local":
        style = "green" if gpu.fits else "red"
        verdict = "fits" if gpu.fits else "does NOT fit"
        rows.append(
            (
                "Need",
                Text(
                    f"weights {_gib(gpu.weights_gpu)} ({estimate.weights.basis}) + KV {_gib(gpu.kv_bytes)} + "
                    f"overhead {_gib(gpu.overhead.total_bytes)} = {_gib(gpu.gpu_bytes)}: {verdict} in "
                    f"{_gib(gpu.budget_bytes or 0)}"
                    + (f" (and {_gib(gpu.weights_disk)} of engram tables on disk)" if gpu.weights_disk else "")
                    + (
                        f"; decode ≈{gpu.tokens_per_s_estimate:.0f} tok/s (estimate)"
                        if gpu.fits and gpu.tokens_per_s_estimate is not None
                        else ""
                    ),
                    style=style,
                ),
            )
        )
    return rows


def _offload_subject(plan: Plan, extras: CheckEstimates) -> est.Estimate | None:
    """Whose offload plans to show: the recommendation when it is an offload, else (nothing fits) the best-ranked
    option with a fitting offload plan."""
    rec = plan.recommendation
    if rec.kind == "local":
        return None
    if rec.kind == "offload" and rec.option is not None:
        return extras.of(rec.option)
    in_memory = (est.PLACEMENT_HYBRID, est.PLACEMENT_CPU)
    for kinds in (in_memory, (est.PLACEMENT_NVME,)):
        for option in plan.options:
            estimate = extras.of(option)
            if estimate is None or loads_from_vram(option):
                continue
            if any(p.fits for p in estimate.placements if p.kind in kinds):
                return estimate
    return None


def check_parts(plan: Plan, extras: CheckEstimates) -> list[object]:
    """Offload plans (when the verdict is offload or API) and the run command. The estimate's warnings are in the
    document's ``warnings``, which the check view shows after the verdict."""
    parts: list[object] = []
    subject = _offload_subject(plan, extras)
    if subject is not None:
        parts.append(Text())
        title = Text(f"Offload plans for {subject.model.short_name} {subject.quant.id.upper()}", style="bold")
        title.append(
            f" at {units.format_tokens(extras.context_tokens)} tokens "
            f"({BASIS_WORDS.get(subject.weights.basis, subject.weights.basis)})"
        )
        parts.append(title)
        shown = tuple(
            p
            for p in subject.placements
            if p.kind != est.PLACEMENT_GPU and not (p.kind == est.PLACEMENT_NVME and p.weights_disk == 0)
        )
        parts.append(placements_view(shown))
        for warning in subject.weights.warnings:
            parts.append(Text(f"warning: {warning}", style="yellow"))
        parts.append(Text(speed_legend(extras.machine, subject), style="dim"))
    if extras.run:
        parts.append(Text())
        parts.extend(run_lines(extras.run))
    return parts
