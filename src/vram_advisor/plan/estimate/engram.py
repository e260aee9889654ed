"""DeepSeek-V4.1's engram tables stay on disk: every placement of a model with engram tables holds its other
weights as usual and leaves the tables (two n-gram hash tables, ~189 GiB in the native checkpoint, 60 GiB in the
Q2_K GGUF) on the disk, read row by row as the n-grams of the input need them. The engines do this: vLLM with the
Engram-on-disk patches (sparkring PR #261: the 475 GiB checkpoint on four 128 GB GB10s), oMLX's Engram SSD
offload (PR #3574), colibri (PR #1453: "never enter RAM"). The memory that saves is the tables' size; the reads
(a few 256-wide rows per token) are too small to bound the decode speed and are not counted. Pure.
"""

from __future__ import annotations

from dataclasses import replace

from vram_advisor.catalog.architecture import Architecture, QuantBits
from vram_advisor.core import units
from vram_advisor.plan.estimate.kv import KvEstimate
from vram_advisor.plan.estimate.placement import MachineView, Placement
from vram_advisor.plan.estimate.weights import WeightsEstimate
from vram_advisor.plan.estimate.where import placements


def engram_note(engram_bytes: int) -> str:
    """The sentence every placement of an engram model carries: where the tables are and what that saves."""
    return (
        f"the engram tables ({units.format_gib(engram_bytes)}) stay on disk, read row by row as n-grams need them: "
        f"{units.format_gib(engram_bytes)} less memory than loading them (sparkring PR #261, colibri PR #1453)"
    )


def placements_engram_on_disk(
    arch: Architecture,
    bits: QuantBits,
    weights: WeightsEstimate,
    kv: KvEstimate,
    machine: MachineView | None,
) -> tuple[Placement, ...]:
    """``placements`` of the weights without the engram tables, each with the tables added on the disk and the
    note that says so; exactly ``placements`` for a model without engram tables."""
    engram = weights.engram_bytes
    if engram <= 0:
        return placements(arch, bits, weights, kv, machine)
    resident = replace(weights, bytes=weights.bytes - engram, engram_bytes=0)
    note = engram_note(engram)
    return tuple(
        replace(found, weights_disk=found.weights_disk + engram, notes=(*found.notes, note))
        for found in placements(arch, bits, resident, kv, machine)
    )
