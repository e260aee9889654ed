"""The human views (rich): the machine in a few lines, the verdict, ``check --details`` (its grid, stretch and
fallback rows from ``render.plan_view``, shared with ``render.check_summary``), the probe view.

Text that comes from inventories (hostnames, GPU names, paths) is untrusted and always passed as ``Text`` or
escaped, never as markup: a hostname such as ``[red]x`` prints as written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from vram_advisor import __version__
from vram_advisor.core import units
from vram_advisor.core.jsonread import clean_text
from vram_advisor.inventory.model import Disk, Gpu, Inventory, all_notes
from vram_advisor.plan.rules import Plan
from vram_advisor.render.alternatives_view import alternatives_text
from vram_advisor.render.capacity_view import capacity_line
from vram_advisor.render.plan_view import (
    FIT_STYLE,
    FitGridView,
    facts_grid,
    gpu_groups,
    reach_rows,
    required_rows,
)

if TYPE_CHECKING:
    from vram_advisor.plan.check import CheckReport

KIND_WORDS = {
    "local": "runs from GPU memory",
    "offload": "runs with weights offloaded to system RAM (slow)",
    "api": "nothing fits: use the DeepSeek API or a smaller local model",
}


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
        verdict.append(f", {where.speed.text()} single-stream" if where.speed is not None else "")
        from vram_advisor.plan.estimate.speculative import of_run  # drafting beside the plain speed (issue 21)

        option = plan.recommendation.option
        drafted = of_run(estimates.of(option) if option is not None else None, estimates.run_plan)
        beside = drafted.short() if drafted is not None and where.speed is not None else None
        verdict.append(f", {beside}." if beside else ".")
    parts.append(verdict)
    article = report.table_note
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
    users = capacity_line(report)
    if users is not None:
        facts.add_row("Users", users)
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
    instead = alternatives_text(report)
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
