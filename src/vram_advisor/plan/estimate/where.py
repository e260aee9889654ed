"""Every placement of an option (all on the GPUs, GPUs + RAM, CPU only, mapped from the disk) and the one to run. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from vram_advisor.catalog.architecture import Architecture, QuantBits
from vram_advisor.plan.estimate.kv import KvEstimate
from vram_advisor.plan.estimate.offload import hybrid_placement, nvme_placement
from vram_advisor.plan.estimate.placement import MachineView, Placement, cpu_placement, gpu_placement
from vram_advisor.plan.estimate.weights import WeightsEstimate
from vram_advisor.plan.machine import PLACEMENT_CPU, PLACEMENT_GPU, PLACEMENT_HYBRID, PLACEMENT_NVME


def placements(
    arch: Architecture,
    bits: QuantBits,
    weights: WeightsEstimate,
    kv: KvEstimate,
    machine: MachineView | None,
) -> tuple[Placement, ...]:
    """Every placement that applies: GPU, GPU+RAM, CPU and (with a machine) NVMe, in that order."""
    found: list[Placement | None] = [
        gpu_placement(arch, bits, weights, kv, machine),
        hybrid_placement(arch, bits, weights, kv, machine),
        cpu_placement(arch, bits, weights, kv, machine),
    ]
    if machine is not None:
        found.append(nvme_placement(arch, bits, weights, kv, machine))
    return tuple(p for p in found if p is not None)


#: Which fitting placement to run, best first: all in VRAM; then experts in RAM beside the GPUs (the GPUs read
#: the rest faster than RAM could); then the CPU alone; then reading experts from the disk.
PREFERENCE = (PLACEMENT_GPU, PLACEMENT_HYBRID, PLACEMENT_CPU, PLACEMENT_NVME)


def best_placement(found: Sequence[Placement]) -> Placement | None:
    """The placement to run: the first that fits in ``PREFERENCE`` order."""
    fitting = [p for p in found if p.fits]
    return min(fitting, key=lambda p: PREFERENCE.index(p.kind), default=None)
