"""One judgement per hardware class and step of spare RAM (issue 22): what a fleet's nodes share.

Under rule 9 a node's options are judged on their real downloads, placement by placement. Of the node, that
judgement reads the GPUs (their names, sizes and count), the RAM bandwidth the speeds use, and the spare RAM; and of
the spare RAM only whether it reaches each placement's ``ram_needed_bytes`` (the routed experts a GPU+RAM plan leaves
in RAM, all of a CPU-only plan, what a diskless mmap plan keeps in RAM) and, by the article's figures, each row's
minimum less the usable VRAM (``plan.fit_of``'s offload case). Between two such steps every option, choice and fit is
the same, so nodes of one class and step share one judgement; what differs between them (their own RAM in the
reasons) is written for each node (``planner._append``). Pure.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from typing import Any

from vram_advisor.catalog.profiles import QuantRow
from vram_advisor.core.policy import os_reserve_bytes
from vram_advisor.fleet.nodefacts import NodeFacts
from vram_advisor.inventory import bandwidth as bw
from vram_advisor.plan.choose import Choice
from vram_advisor.plan.machine import Machine
from vram_advisor.plan.rules import Option


class RamSteps:
    """The spare-RAM steps of one hardware class, and the judgement of each step met so far."""

    __slots__ = ("judged", "thresholds")

    def __init__(self, thresholds: tuple[int, ...]) -> None:
        self.thresholds = thresholds
        self.judged: dict[int, tuple[tuple[Option, ...], Mapping[tuple[str, str], Choice]]] = {}

    @classmethod
    def of(cls, choices: Mapping[tuple[str, str], Choice], rows: Iterable[QuantRow], machine: Machine) -> RamSteps:
        """The steps of a class from one judged machine of it: every pair's RAM needs, and every row's table
        minimum less the usable VRAM (neither depends on the RAM of the machine they were judged on)."""
        found = {step for choice in choices.values() for step in choice.ram_steps}
        found.update(row.min_threshold_bytes - machine.usable_vram_bytes for row in rows)
        found.update(choice.row.min_threshold_bytes - machine.usable_vram_bytes for choice in choices.values())
        return cls(tuple(sorted(found)))

    def step(self, spare_ram_bytes: int) -> int:
        """Which step ``spare_ram_bytes`` is on: how many thresholds it reaches."""
        return bisect_right(self.thresholds, spare_ram_bytes)


def class_key(facts: NodeFacts, machine: Machine) -> tuple[Any, ...]:
    """What the judgement reads of a node beside its spare RAM: the GPUs, and what sets the RAM bandwidth its speeds
    use (a measured figure, else the machine class its RAM size falls in: ``bandwidth.ram_class``)."""
    if machine.unified or facts.ram_bandwidth is not None:
        return (facts.gpus, facts.ram_bandwidth)
    return (facts.gpus, None, bw.ram_class(effective_ram(facts))[1] if effective_ram(facts) else None)


def effective_ram(facts: NodeFacts) -> int:
    """``Ram.effective_bytes`` of the node: its RAM, or the container limit when smaller."""
    limit = facts.ram_limit_bytes
    return facts.ram_total_bytes if limit is None else min(facts.ram_total_bytes, limit)


def spare_ram_of(facts: NodeFacts, unified: bool) -> int:
    """``plan.machine.spare_ram_bytes`` of the node: its effective RAM less the OS reserve (nothing beside GPUs that
    share the RAM)."""
    if unified:
        return 0
    effective = effective_ram(facts)
    return max(0, effective - os_reserve_bytes(effective))
