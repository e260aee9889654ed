"""``check``'s default view, the answer first: the verdict line (model, quantization, placement, speed and the
command that runs it), the grid, what else loads or is just out of reach, and the command, printed whole. Everything
else (the machine in full, tier, advice, context, offload plans, warnings, notes) is behind ``--details``.

At 80 columns it fits in about 25 lines; nothing in it is wider than the console.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.text import Text

from vram_advisor import __version__
from vram_advisor.core import units
from vram_advisor.plan import estimate as est
from vram_advisor.plan.check import CheckReport
from vram_advisor.plan.rules import Plan, need_parts
from vram_advisor.render.alternatives_view import alternatives_text
from vram_advisor.render.capacity_view import capacity_line
from vram_advisor.render.estimate_view import SHORT_LABELS
from vram_advisor.render.layout import CommandBlock, CommentBlock
from vram_advisor.render.plan_view import (
    FIT_STYLE,
    FitGridView,
    facts_grid,
    gpu_groups,
    reach_rows,
    required_rows,
)


def _speed(report: CheckReport, placement_kind: str | None) -> str | None:
    """The recommendation's decode speed on the placement its command uses: "≈ 26 tok/s (17-39)"."""
    option = report.plan.recommendation.option
    estimate = report.estimates.of(option) if option is not None else None
    if estimate is None or placement_kind is None:
        return None
    run = report.estimates.run_placement  # the run's own placement: it carries a speed measured here (verify)
    if run is not None and run.kind == placement_kind:
        placement: est.Placement | None = run
    else:
        placement = next((p for p in estimate.placements if p.kind == placement_kind), None)
    if placement is None or placement.speed is None:
        return None
    from vram_advisor.plan.estimate.speculative import of_run  # the speed with drafting beside it (issue 21)

    drafted = of_run(estimate, report.estimates.run_plan)
    beside = drafted.short() if drafted is not None else None
    return placement.speed.text() + (f", {beside}" if beside else "")


def verdict_line(report: CheckReport) -> Text:
    """``Verdict  MODEL QUANT (fit): placement, ≈ N tok/s; run it with PROGRAM (below)``, or the API."""
    plan = report.plan
    rec = plan.recommendation
    line = Text("Verdict  ", style="bold")
    option = rec.option
    if option is None:
        line.append("Use the DeepSeek API", style="bold red")
        line.append(" or a smaller local model: " + rec.reason + ".")
        return line
    line.append(f"{option.model.name} {option.quant.id.upper()}", style=f"bold {FIT_STYLE[option.fit]}")
    line.append(f" ({option.fit}" + (", experimental" if option.experimental else "") + ")")
    run: dict[str, Any] | None = report.estimates.run
    placement = run.get("placement") if run else None
    command = run.get("command") if run else None
    if placement in SHORT_LABELS:
        line.append(f": {SHORT_LABELS[placement]}")
    elif rec.kind == "offload":
        line.append(": with weights offloaded to system RAM (slow)")
    judged, aside = need_parts(option.quant)  # rule 12: the judged minimum, the download's own need beside it
    own = f" (the download's own: {units.format_gib(option.quant.need_bytes)})" if aside else ""
    line.append(f", needs {judged}{own}")  # the table's minimum governs: the download's own need beside it
    if placement in SHORT_LABELS:
        speed = _speed(report, placement)
        line.append(f", {speed}" if speed is not None else ", speed unknown")
    if command:
        line.append(f"; run it with {str(command).split()[0]}, below.")
    else:
        line.append("; no command runs it on this machine (--details says why).")
    return line


def machine_line(report: CheckReport) -> Text:
    """The machine in one line: GPUs, usable VRAM, spare RAM."""
    plan, inventory = report.plan, report.inventory
    gpus = ", ".join(
        (f"{count} × " if count > 1 else "") + gpu.name for count, gpu in gpu_groups(inventory.visible_gpus)
    )
    text = Text(gpus or "no usable GPU")
    text.append(
        f" · {units.format_gib(plan.machine.usable_vram_bytes)} usable VRAM · "
        f"{units.format_gib(plan.machine.spare_ram_bytes)} RAM to spare"
    )
    return text


def _details_hint(report: CheckReport) -> Text:
    """One line: what ``--details`` adds, with how many warnings and notes it holds."""
    shown = ["why", "tier", "advice", "context", "offload"]
    if report.warnings:
        shown.append(f"{len(report.warnings)} warning" + ("s" if len(report.warnings) > 1 else ""))
    if report.notes:
        shown.append(f"{len(report.notes)} note" + ("s" if len(report.notes) > 1 else ""))
    return Text(f"--details: {', '.join(shown)}", style="dim")


def _run_block(plan: Plan, run: dict[str, Any] | None) -> list[object]:
    """The run block (rule 11): every line in order, the download and any conversion first, the engine last."""
    if not run or not run.get("command"):
        return []
    parts: list[object] = [Text(f"Run it ({run['engine']})", style="bold")]
    steps = [str(step) for step in run.get("steps") or [run["command"]]]
    for position, step in enumerate(steps):
        parts.append(CommandBlock(step, style="cyan" if position == len(steps) - 1 else ""))
    if run.get("caveat"):  # what must be known before pasting (an image, a build, a conversion that may fail)
        parts.append(CommentBlock(str(run["caveat"])))
    return parts


def article_words(note: str) -> str:
    """``CheckReport.table_note`` beside the word "Article": "rates V4-Flash Q2 comfortable at 64.0 GiB; ..." reads on."""
    return note.removeprefix("the article ")


def disk_row(plan: Plan) -> Text | None:
    """The first screen's disk line (rule 11), where the recommendation's download does not fit the disk."""
    line = plan.disk.line() if plan.disk is not None else None
    if line is None:
        return None
    return Text(line[0].upper() + line[1:], style="bold red")


def measured_text(report: CheckReport) -> Text | None:
    """The speeds ``verify`` measured on this machine that the verdict's speed does not show already (newest first,
    at most three): "V4-Flash q2, cpu, llama.cpp: 22 tok/s (2026-12-07)"."""
    from vram_advisor.inventory.fingerprint import own_points
    from vram_advisor.plan.estimate.speed import format_rate
    from vram_advisor.plan.measured import newest_first

    run = report.estimates.run_placement
    shown = run.measured if run is not None else None
    points = [p for p in newest_first(own_points(report.inventory)) if p != shown]
    if not points:
        return None
    said = [
        f"{p.model} {p.quant}, {p.placement}, {p.engine}: {format_rate(p.decode_tokens_per_s)} tok/s "
        f"({p.measured_at[:10]})"
        for p in points[:3]
    ]
    more = f"; {len(points) - 3} more in check --json" if len(points) > 3 else ""
    return Text("; ".join(said) + more + " (vram-advisor verify)")


def summary_view(report: CheckReport) -> Group:
    """The default view of ``check``: the answer in one screen."""
    plan, inventory = report.plan, report.inventory
    title = Text(f"vram-advisor {__version__}", style="bold")
    if inventory.hostname:
        title.append(f" · {inventory.hostname}")
    parts: list[object] = [title, verdict_line(report), Text()]
    facts = facts_grid()
    facts.add_row("Machine", machine_line(report))
    users = capacity_line(report) if report.options.estimate.sequences > 1 else None  # one user: --details says
    if users is not None:
        facts.add_row("Users", users)
    parts.extend([facts, Text(), FitGridView(plan, sizes=report.options.estimate.sizes), Text()])
    rows = facts_grid()
    disk = disk_row(plan)
    if disk is not None:
        rows.add_row("Disk", disk)
    for label, text in reach_rows(plan):
        rows.add_row(label, text)
    article = report.table_note
    instead = alternatives_text(report, limit=3 if plan.recommendation.kind == "api" else 1, command=False)
    if instead is not None:
        rows.add_row("Instead", instead)
    for label, text in required_rows(plan):
        rows.add_row(label, text)
    if article is not None:  # the article's own answer, one line beside the verdict (rule 9)
        rows.add_row("Article", Text(article_words(article), style="dim"))
    measured = measured_text(report)
    if measured is not None:
        rows.add_row("Measured", measured)
    if rows.row_count:
        parts.extend([rows, Text()])
    block = _run_block(plan, report.estimates.run)
    if block:
        parts.extend(block)  # the hint follows the block: one screen (tests/test_check_view.py)
    parts.append(_details_hint(report))
    return Group(*parts)  # type: ignore[arg-type]
