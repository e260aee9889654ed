"""The human view of ``cluster`` (rich): the fleet grouped by hardware with the verdict per group, then the plans
that need several nodes, each with the interconnect of its group in a short column; the advice for groups whose link
between nodes is unknown is printed once under the table, not in every row.

Hostnames, GPU names and sources come from other machines: they go into ``Text`` objects (never markup) and any
control character is shown escaped, so a hostname such as ``[red]x`` or one carrying terminal escapes prints as
written.
"""

from __future__ import annotations

import heapq

from rich.console import Group
from rich.table import Table
from rich.text import Text

from vram_advisor.core import units
from vram_advisor.fleet.multinode import MultiNodePlan, Node
from vram_advisor.fleet.nodefacts import INFINIBAND, NVLINK, RDMA
from vram_advisor.fleet.planner import ClusterPlan, HardwareGroup, MachinePlan
from vram_advisor.plan.rules import MINIMUM, Option
from vram_advisor.render.plan_view import FIT_STYLE, FIT_SYMBOL

#: Hostnames listed under a group before "and N more".
NAMES_SHOWN = 4
NAME_WIDTH = 60


def printable(text: str | None, limit: int = NAME_WIDTH) -> str:
    """Text from a node as it may be shown: control characters escaped, long text cut."""
    if text is None:
        return "-"
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _label(option: Option) -> str:
    return f"{option.model.short_name} {option.quant.id.upper()}"


def _verdict(entry: MachinePlan, stretch: bool = True) -> Text:
    rec = entry.recommendation
    option = rec.option
    if option is None:
        return Text("✗ nothing fits: API or a smaller model", style="dim red")
    text = Text()
    if rec.kind == "offload":
        text.append(f"◌ {_label(option)} with RAM offload (slow)", style=FIT_STYLE["offload"])
    else:
        text.append(f"{FIT_SYMBOL[option.fit]} {_label(option)} {option.fit}", style=FIT_STYLE[option.fit])
        if option.experimental:
            text.append(" (experimental)", style="yellow")
    if entry.stretch is not None and stretch:
        word = "at its minimum" if entry.stretch.fit == MINIMUM else "comfortably"
        text.append(f" · stretch {entry.stretch.quant.id.upper()}", style="dim")
        if entry.stretch.model.id != option.model.id:
            text.append(f" of {entry.stretch.model.short_name}", style="dim")
        text.append(f" {word}", style="dim")
    return text


def _names(plan: ClusterPlan, indices: list[int] | tuple[int, ...]) -> Text:
    shown = ", ".join(printable(plan.nodes[i].name) for i in indices[:NAMES_SHOWN])
    more = len(indices) - NAMES_SHOWN
    return Text(shown + (f" and {more} more" if more > 0 else ""), style="dim")


def _usable(group: HardwareGroup) -> str:
    low, high = group.usable_min or 0, group.usable_max or 0
    if units.format_gib(low) == units.format_gib(high):
        return units.format_gib(high)
    return f"{units.format_gib(low)}–{units.format_gib(high)}"


def fleet_table(plan: ClusterPlan) -> Table:
    table = Table(box=None, padding=(0, 1), header_style="bold", show_edge=False, pad_edge=False)
    table.add_column("Nodes", justify="right", no_wrap=True)
    table.add_column("GPUs per node", max_width=36)
    table.add_column("Usable VRAM", no_wrap=True)
    table.add_column("Verdict per node")
    groups = sorted(plan.groups, key=lambda g: (-(g.usable_max or 0), -len(g.nodes), g.id))
    for group in groups:
        ranked = group.verdicts.most_common()
        first, first_count = ranked[0]
        verdict = _verdict(plan.entries[group.examples[first]])
        if len(ranked) > 1:
            verdict = Text(f"{first_count}: ").append_text(verdict)
        table.add_row(str(len(group.nodes)), Text(printable(group.label, 80)), _usable(group), verdict)
        for other, count in ranked[1:]:
            table.add_row("", "", "", Text(f"{count}: ").append_text(_verdict(plan.entries[group.examples[other]])))
        table.add_row("", _names(plan, group.nodes), "", "")
    return table


def link_label(multi: MultiNodePlan) -> str:
    """The interconnect of a group in a few words: between the nodes (InfiniBand, RDMA or unknown), NVLink inside."""
    kinds = multi.interconnect
    between = "InfiniBand" if INFINIBAND in kinds else "RDMA" if RDMA in kinds else None
    if between is None:
        return "unknown (NVLink inside)" if NVLINK in kinds else "unknown"
    return f"NVLink + {between}" if NVLINK in kinds else between


def _multi_row(plan: ClusterPlan, multi: MultiNodePlan) -> list[Text | str]:
    option = multi.option
    label = Text(_label(option), style="bold")
    if option.experimental:
        label.append(" *", style="yellow")
    fit = Text(f"{FIT_SYMBOL[multi.fit]} {multi.fit}", style=FIT_STYLE[multi.fit])
    count = Text(str(len(multi.nodes)))
    if multi.comfortable_node_count and multi.comfortable_node_count != len(multi.nodes):
        count.append(f" ({multi.comfortable_node_count} comfortable)", style="dim")
    which = Text("identical nodes: " if multi.group is not None else "mixed nodes: ", style="dim")
    which.append_text(_names(plan, multi.nodes))
    link = Text(link_label(multi), style="" if multi.link_advice is None else "yellow")
    return [label, fit, count, units.format_gib(multi.usable_vram_bytes), link, which]


def multi_node_table(plan: ClusterPlan) -> Table:
    table = Table(box=None, padding=(0, 1), header_style="bold", show_edge=False, pad_edge=False)
    for column in ("Option", "Fit", "Nodes", "Summed VRAM", "Interconnect", "Which nodes"):
        table.add_column(column, no_wrap=column in ("Fit", "Summed VRAM"))
    for multi in plan.multi_node:
        table.add_row(*_multi_row(plan, multi))
    return table


def link_notes(plan: ClusterPlan) -> list[str]:
    """The advice for groups whose link between nodes is unknown, each distinct one once, in order."""
    return list(dict.fromkeys(multi.link_advice for multi in plan.multi_node if multi.link_advice is not None))


#: Nodes the human view lists by headroom unless ``--nodes`` says otherwise.
NODES_SHOWN = 20


def headroom(plan: ClusterPlan, node: Node) -> int | None:
    """A node's VRAM headroom: its usable VRAM less what its recommendation needs (None where nothing runs)."""
    option = plan.entries[node.entry].recommendation.option
    return None if option is None else node.usable_vram_bytes - option.quant.judged_min_bytes


def headroom_table(plan: ClusterPlan, limit: int | None) -> Table:
    """The nodes with the most VRAM headroom, best first (``limit`` of them; None: every node)."""
    table = Table(box=None, padding=(0, 1), header_style="bold", show_edge=False, pad_edge=False)
    for column in ("Node", "GPUs", "Usable VRAM", "Headroom", "Verdict"):
        table.add_column(column, no_wrap=column != "Verdict")
    order = range(len(plan.nodes))

    def key(index: int) -> tuple[bool, int, int]:
        room = headroom(plan, plan.nodes[index])
        return (room is not None, room or 0, -index)

    chosen = sorted(order, key=key, reverse=True) if limit is None else heapq.nlargest(limit, order, key=key)
    for index in chosen:
        node = plan.nodes[index]
        room = headroom(plan, node)
        table.add_row(
            Text(printable(node.name)),
            Text(printable(plan.groups[node.group].label, 40)),
            units.format_gib(node.usable_vram_bytes),
            "-" if room is None else units.format_gib(room) if room >= 0 else f"-{units.format_gib(-room)}",
            _verdict(plan.entries[node.entry], stretch=False),
        )
    return table


def cluster_view(plan: ClusterPlan, nodes: int | None = NODES_SHOWN, asked: bool = False) -> Group:
    """The view; the nodes with the most headroom are listed (``nodes`` of them, None: all) where the fleet has more
    than fit the group rows' names, or where ``--nodes`` asked for them."""
    parts: list[object] = []
    title = Text("vram-advisor cluster", style="bold")
    title.append(
        f" · {len(plan.nodes)} node{'s' if len(plan.nodes) != 1 else ''} · {plan.total_gpus} GPUs · "
        f"{units.format_gib(plan.total_usable_vram_bytes)} usable VRAM"
    )
    if plan.base:
        title.append(" · Base models")
    if plan.skipped_count:
        title.append(f" · {plan.skipped_count} skipped (see stderr)", style="yellow")
    if plan.stopped:
        title.append(" · an input not read to its end", style="yellow")
    parts.append(title)
    parts.append(Text())
    parts.append(Text("Fleet, grouped by hardware", style="bold"))
    parts.append(fleet_table(plan))
    parts.append(Text())
    if plan.multi_node:
        parts.append(
            Text("Across nodes: options no single node holds, with the smallest group that does", style="bold")
        )
        parts.append(multi_node_table(plan))
        parts.extend(Text(f"Interconnect unknown: {advice}", style="yellow") for advice in link_notes(plan))
    elif len(plan.nodes) > 1:
        parts.append(Text("Across nodes: nothing more than the best single node already holds.", style="bold"))
    shown = len(plan.nodes) if nodes is None else min(nodes, len(plan.nodes))
    if shown and (asked or len(plan.nodes) > NODES_SHOWN):
        parts.append(Text())
        heading = "Every node" if shown == len(plan.nodes) else f"The {shown} nodes with the most headroom"
        parts.append(
            Text(f"{heading} (usable VRAM less what the verdict needs; --nodes N or all to list more)", style="bold")
        )
        parts.append(headroom_table(plan, None if shown == len(plan.nodes) else shown))
    parts.append(
        Text(
            "● comfortable  ◐ minimum  ◌ offload  * experimental · VRAM is summed usable memory (total less "
            "reserved); a group meets a figure at 98% of it, like one machine",
            style="dim",
        )
    )
    return Group(*parts)  # type: ignore[arg-type]
