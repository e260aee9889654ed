"""The placements that keep routed experts off the GPUs (llama.cpp): GPU+RAM, where the GPUs hold attention, shared
experts, KV and as many layers' routed experts as fit, and RAM the rest (``--n-cpu-moe N``, ggml-org/llama.cpp PR
#15077; all of them in RAM is ``-ot exps=CPU``, as ktransformers also runs: kvcache-ai/ktransformers#2001); and the
weights mapped from the disk (mmap), where RAM caches what it can of the experts the GPUs do not hold and the disk
serves the rest. The layer split is ``layers.split_experts``; the experts are taken as used evenly, so a tier reads
its share of each token's active routed experts. Pure.
"""

from __future__ import annotations

from vram_advisor.catalog.architecture import Architecture, QuantBits
from vram_advisor.core import units
from vram_advisor.inventory import bandwidth as bw
from vram_advisor.plan.estimate.kv import KvEstimate
from vram_advisor.plan.estimate.layers import ExpertSplit, split_experts
from vram_advisor.plan.estimate.placement import MachineView, Placement, all_fit, gpu_tier
from vram_advisor.plan.estimate.speed import MemoryTier
from vram_advisor.plan.estimate.weights import Overhead, WeightsEstimate, active_bytes, cpu_overhead, gpu_overhead
from vram_advisor.plan.machine import PLACEMENT_HYBRID, PLACEMENT_NVME


def gpu_split(
    arch: Architecture,
    weights: WeightsEstimate,
    kv: KvEstimate,
    overhead: Overhead,
    machine: MachineView,
    most_layers: int | None = None,
) -> ExpertSplit | None:
    """The expert split on ``machine``'s GPUs (None: the non-expert part, KV and overhead alone do not fit)."""
    assert weights.other_bytes is not None and weights.routed_bytes is not None
    return split_experts(
        machine.capacities,
        overhead.per_device_bytes,
        arch.layers,
        weights.other_bytes,
        kv.total_bytes,
        weights.routed_bytes,
        most_layers,
    )


def split_words(split: ExpertSplit | None) -> str:
    """ " (the routed experts of the last 17 of 43 layers among them)": what the GPUs' figure holds of the experts."""
    if split is None or split.on_gpu_layers == 0:
        return ""
    if split.on_gpu_layers == split.layers:
        return f" (the routed experts of all {split.layers} layers among them)"
    return f" (the routed experts of the last {split.on_gpu_layers} of {split.layers} layers among them)"


def split_note(split: ExpertSplit | None) -> tuple[str, ...]:
    """The note a partial split carries: which layers' experts are where, and the llama.cpp flag that does it."""
    if split is None or not split.partial:
        return ()
    return (
        f"the routed experts of the last {split.on_gpu_layers} of {split.layers} layers "
        f"({units.format_gib(split.gpu_routed_bytes)}) fill the VRAM left; the first {split.cpu_layers} layers' "
        f"({units.format_gib(split.ram_routed_bytes)}) stay in RAM (llama.cpp --n-cpu-moe {split.cpu_layers}, "
        "PR #15077)",
    )


def _shares(active_routed: int, split: ExpertSplit | None) -> tuple[int, int]:
    """The active routed bytes per token read from the GPUs and from off the GPUs."""
    if split is None or split.layers == 0:
        return 0, active_routed
    on_gpu = active_routed * split.on_gpu_layers // split.layers
    return on_gpu, active_routed - on_gpu


def hybrid_placement(
    arch: Architecture,
    bits: QuantBits,
    weights: WeightsEstimate,
    kv: KvEstimate,
    machine: MachineView | None,
    gpu_expert_layers: int | None = None,
) -> Placement | None:
    """Attention, shared experts, KV and as many layers' routed experts as fit on the GPUs (at most
    ``gpu_expert_layers``: 0 keeps them all in RAM); the other routed experts in system RAM. None when the profile
    cannot split the weights or the GPUs share system memory."""
    if weights.other_bytes is None or weights.routed_bytes is None:
        return None
    if machine is not None and (machine.unified or not machine.gpus):
        return None
    active = active_bytes(arch, bits)
    gpu_count = len(machine.gpus) if machine is not None else 0
    overhead = gpu_overhead("llama.cpp", gpu_count)
    split = None
    if machine is not None and gpu_count:
        split = gpu_split(arch, weights, kv, overhead, machine, gpu_expert_layers)
    on_gpu = split.gpu_routed_bytes if split is not None else 0
    in_ram = weights.routed_bytes - on_gpu
    gpu_need = weights.other_bytes + on_gpu + kv.total_bytes + overhead.total_bytes
    fits: bool | None
    if machine is None:
        fits, reason = None, "no machine given"
    elif gpu_count == 0:
        fits, reason = False, "no usable GPU"
    else:
        ram_words = ""
        if split is not None and split.partial:
            ram_words = f" (the first {split.cpu_layers} of {split.layers} layers)"
        fits, reason = all_fit(
            [
                (
                    split is not None,
                    f"GPUs: {units.format_gib(gpu_need)} needed{split_words(split)}, "
                    f"{units.format_gib(machine.usable_vram_bytes)} usable",
                ),
                (
                    in_ram <= machine.spare_ram_bytes,
                    f"RAM: {units.format_gib(in_ram)} of routed experts{ram_words}, "
                    f"{units.format_gib(machine.spare_ram_bytes)} to spare",
                ),
            ]
        )
    gpu_reads, ram_reads = _shares(active.routed, split)
    tiers = (
        gpu_tier(machine, gpu_need, active.other + gpu_reads, 0),
        MemoryTier(
            "ram",
            in_ram,
            ram_reads,
            machine.ram_bandwidth if machine is not None else bw.DEFAULT_RAM_BANDWIDTH,
        ),
    )
    return Placement(
        kind=PLACEMENT_HYBRID,
        engine="llama.cpp",
        weights_gpu=weights.other_bytes + on_gpu,
        weights_ram=in_ram,
        weights_disk=0,
        kv_bytes=kv.total_bytes,
        kv_on="gpu",
        overhead=overhead,
        overhead_on="gpu",
        fits=fits,
        reason=reason,
        tiers=tiers,
        gpus_used=max(1, gpu_count),
        budget_bytes=machine.usable_vram_bytes if machine is not None else None,
        notes=split_note(split),
        layers=arch.layers,
        expert_split=split,
        ram_needed_bytes=in_ram,
    )


def nvme_placement(
    arch: Architecture,
    bits: QuantBits,
    weights: WeightsEstimate,
    kv: KvEstimate,
    machine: MachineView,
) -> Placement | None:
    """Weights mapped from the disk (llama.cpp's default mmap): the GPUs (if any) hold attention, shared experts, KV
    and as many layers' routed experts as fit; the RAM left over caches as many of the other routed experts as it
    can; the rest is read from the disk as tokens need them. Per token the disk reads the uncached share of the
    active routed experts (experts used evenly)."""
    if weights.other_bytes is None or weights.routed_bytes is None:
        return None
    active = active_bytes(arch, bits)
    with_gpu = bool(machine.gpus) and not machine.unified
    checks: list[tuple[bool, str]] = []
    split: ExpertSplit | None = None
    if with_gpu:
        overhead = gpu_overhead("llama.cpp", len(machine.gpus))
        split = gpu_split(arch, weights, kv, overhead, machine)
        on_gpu = split.gpu_routed_bytes if split is not None else 0
        gpu_need = weights.other_bytes + on_gpu + kv.total_bytes + overhead.total_bytes
        checks.append(
            (
                split is not None,
                f"GPUs: {units.format_gib(gpu_need)} needed{split_words(split)}, "
                f"{units.format_gib(machine.usable_vram_bytes)} usable",
            )
        )
        ram_fixed = 0
    else:
        overhead = cpu_overhead()
        on_gpu = 0
        gpu_need = 0
        ram_fixed = weights.other_bytes + kv.total_bytes + overhead.total_bytes
        checks.append(
            (
                ram_fixed <= machine.spare_ram_bytes,
                f"RAM: {units.format_gib(ram_fixed)} for attention, shared experts and KV, "
                f"{units.format_gib(machine.spare_ram_bytes)} to spare",
            )
        )
    off_gpu = weights.routed_bytes - on_gpu
    cached = max(0, min(off_gpu, machine.spare_ram_bytes - ram_fixed))
    on_disk = off_gpu - cached
    gpu_reads, off_gpu_reads = _shares(active.routed, split)
    disk_reads = round(off_gpu_reads * on_disk / off_gpu) if off_gpu else 0
    ram_reads = off_gpu_reads - disk_reads + (0 if with_gpu else active.other)
    checks.append(
        (
            True,
            f"{units.format_gib(cached)} of routed experts cached in RAM, {units.format_gib(on_disk)} read from "
            f"the disk as needed",
        )
    )
    fits, reason = all_fit(checks)
    tiers: list[MemoryTier] = []
    if with_gpu:
        tiers.append(gpu_tier(machine, gpu_need, active.other + gpu_reads, 0))
    tiers.append(MemoryTier("ram", ram_fixed + cached, ram_reads, machine.ram_bandwidth))
    tiers.append(MemoryTier("disk", on_disk, disk_reads, machine.disk_bandwidth))
    notes = list(split_note(split))
    if on_disk == 0:
        notes.append("the routed experts fit in RAM: after the first pass nothing is read from the disk")
    return Placement(
        kind=PLACEMENT_NVME,
        engine="llama.cpp",
        weights_gpu=weights.other_bytes + on_gpu if with_gpu else 0,
        weights_ram=cached + (0 if with_gpu else weights.other_bytes),
        weights_disk=on_disk,
        kv_bytes=kv.total_bytes,
        kv_on="gpu" if with_gpu else "ram",
        overhead=overhead,
        overhead_on="gpu" if with_gpu else "ram",
        fits=fits,
        reason=reason,
        tiers=tuple(tiers),
        gpus_used=len(machine.gpus) if with_gpu else 0,
        budget_bytes=machine.usable_vram_bytes if with_gpu else machine.spare_ram_bytes,
        notes=tuple(notes),
        layers=arch.layers,
        expert_split=split,
        ram_needed_bytes=None if with_gpu else ram_fixed,
    )
