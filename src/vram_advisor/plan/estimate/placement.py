"""Where one option's memory can go, and the placements that keep everything on one side: all on the GPUs, or all
on the CPU (those that split the routed experts between the GPUs, RAM and the disk: ``offload``; every placement
and the one to run: ``where``). The machine comes in as a ``MachineView``: the visible GPUs, usable VRAM and spare
RAM as the planner counts them, the disk under the model directory, and each tier's bandwidth with its source
(bandwidth.py). Each placement says whether it fits the machine and which memory tiers its decode reads (their
speed: ``speed``). Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

from vram_advisor.catalog.architecture import Architecture, QuantBits
from vram_advisor.core import units
from vram_advisor.core.records import Record, dataclass
from vram_advisor.inventory import bandwidth as bw
from vram_advisor.inventory.model import Disk, Gpu, Inventory, MeasuredSpeed, select_disk
from vram_advisor.plan import machine as plan
from vram_advisor.plan.estimate import speed as speed_model
from vram_advisor.plan.estimate.kv import KvEstimate
from vram_advisor.plan.estimate.layers import ExpertSplit
from vram_advisor.plan.estimate.speed import MemoryTier
from vram_advisor.plan.estimate.weights import Overhead, WeightsEstimate, active_bytes, cpu_overhead, gpu_overhead
from vram_advisor.plan.machine import PLACEMENT_CPU, PLACEMENT_GPU, PLACEMENT_HYBRID, PLACEMENT_NVME, PlacementKind

PLACEMENT_LABELS = {
    PLACEMENT_GPU: "all on the GPUs",
    PLACEMENT_HYBRID: (
        "GPUs + RAM: attention, shared experts, KV and as many layers' routed experts as fit on the GPUs, the other "
        "routed experts in RAM"
    ),
    PLACEMENT_CPU: "CPU only: everything in RAM",
    PLACEMENT_NVME: "weights mapped from disk (mmap): routed experts read from the disk as needed",
}


# ------------------------------------------------------------------------------------------------ machine


@dataclass(frozen=True, eq=False, repr=False)
class MachineView(Record):
    """The parts of an inventory the placements need, with the bandwidths and their sources."""

    gpus: tuple[Gpu, ...]
    usable_vram_bytes: int
    spare_ram_bytes: int
    disk: Disk | None
    unified: bool
    gpu_bandwidths: tuple[bw.Bandwidth, ...]
    ram_bandwidth: bw.Bandwidth
    disk_bandwidth: bw.Bandwidth

    @cached_property
    def capacities(self) -> tuple[int, ...]:
        return tuple(gpu.capacity_bytes for gpu in self.gpus)

    @property
    def heterogeneous(self) -> bool:
        caps = self.capacities
        return bool(caps) and min(caps) * 100 < max(caps) * 99


def machine_view(
    inventory: Inventory, ram_bw: int | None = None, disk_bw: int | None = None, model_dir: str | None = None
) -> MachineView:
    """The visible GPUs, usable VRAM and spare RAM exactly as the planner counts them (plan.py), and bandwidths."""
    gpus = inventory.visible_gpus
    disk = select_disk(inventory, model_dir)
    gpu_bandwidths = tuple(bw.gpu_bandwidth(gpu) for gpu in gpus)
    unified = any(gpu.unified for gpu in gpus)
    shared = next((b for gpu, b in zip(gpus, gpu_bandwidths, strict=True) if gpu.unified), None)
    return MachineView(
        gpus=gpus,
        usable_vram_bytes=plan.usable_vram_bytes(inventory),
        spare_ram_bytes=plan.spare_ram_bytes(inventory),
        disk=disk,
        unified=unified,
        gpu_bandwidths=gpu_bandwidths,
        ram_bandwidth=bw.ram_bandwidth(ram_bw, inventory.ram.effective_bytes, shared, inventory.ram.bandwidth),
        disk_bandwidth=bw.disk_bandwidth(disk, disk_bw),
    )


def tensor_parallel_size(gpu_count: int, attention_heads: int | None) -> int:
    """vLLM's tensor-parallel size here: the largest power of two up to the GPU count that divides the attention
    heads (64 for Flash, 128 for Pro; any power of two where the profile does not know them); 0 without GPUs."""
    size = 0
    candidate = 1
    while candidate <= gpu_count:
        if attention_heads is None or attention_heads % candidate == 0:
            size = candidate
        candidate *= 2
    return size


def even_split_bytes(capacities: Sequence[int], parts: int) -> int:
    """What an even split over ``parts`` GPUs can use: the ``parts`` largest GPUs, each bounded by the smallest of
    them (tensor parallelism gives every GPU the same share)."""
    if parts <= 0:
        return 0
    chosen = sorted(capacities, reverse=True)[:parts]
    return len(chosen) * min(chosen)


def heterogeneity_warning(machine: MachineView) -> str | None:
    """The warning for GPUs of different sizes: what an even tensor-parallel split can use of the usable VRAM."""
    if not machine.heterogeneous:
        return None
    sizes = ", ".join(units.format_gib(cap) for cap in machine.capacities)
    even = even_split_bytes(machine.capacities, len(machine.capacities))
    return (
        f"the GPUs differ in size ({sizes}): an even tensor-parallel split (vLLM) is bounded by the smallest, "
        f"{len(machine.capacities)} x {units.format_gib(min(machine.capacities))} = {units.format_gib(even)} of the "
        f"{units.format_gib(machine.usable_vram_bytes)} usable; llama.cpp can split unevenly (--tensor-split)"
    )


# --------------------------------------------------------------------------------------------- placements


@dataclass(frozen=True, eq=False, repr=False)
class Placement(Record):
    """Where one option's memory goes, whether it fits, and its decode-speed bounds."""

    kind: PlacementKind
    engine: str
    weights_gpu: int
    weights_ram: int
    weights_disk: int
    kv_bytes: int
    kv_on: str
    overhead: Overhead
    overhead_on: str
    fits: bool | None
    reason: str
    tiers: tuple[MemoryTier, ...]
    gpus_used: int
    budget_bytes: int | None
    notes: tuple[str, ...] = ()
    #: The model's layer count and vLLM's tensor-parallel size (0: not vLLM): what the per-token floor depends on.
    layers: int = 0
    tensor_parallel: int = 0
    #: Which layers' routed experts stay on the GPUs (GPU+RAM and mmap plans with GPUs; ``layers.split_experts``)
    expert_split: ExpertSplit | None = None
    #: The spare RAM this placement needs to fit (it fits with at least that much, all else equal); None where its
    #: fit does not depend on the RAM. A fleet plans one machine per step of these (``fleet.planner``).
    ram_needed_bytes: int | None = None
    #: The speed ``verify`` measured for this option here on this placement and engine (``plan.measured``)
    measured: MeasuredSpeed | None = None

    @property
    def gpu_bytes(self) -> int:
        return self.weights_gpu + (self.kv_bytes if self.kv_on == "gpu" else 0) + self._overhead_on("gpu")

    @property
    def ram_bytes(self) -> int:
        return self.weights_ram + (self.kv_bytes if self.kv_on == "ram" else 0) + self._overhead_on("ram")

    @property
    def need_bytes(self) -> int:
        """Weights + KV + runtime overhead, wherever they are (the disk's share included)."""
        return self.weights_gpu + self.weights_ram + self.weights_disk + self.kv_bytes + self.overhead.total_bytes

    def _overhead_on(self, where: str) -> int:
        return self.overhead.total_bytes if self.overhead_on == where else 0

    @property
    def unrated(self) -> MemoryTier | None:
        """The first tier that reads per token but has no known bandwidth."""
        return next((t for t in self.tiers if t.reads_per_token_bytes > 0 and t.bandwidth.bytes_per_s is None), None)

    @property
    def bottleneck(self) -> MemoryTier | None:
        """The tier with the lowest ceiling (None when a reading tier's bandwidth is unknown)."""
        if self.unrated is not None:
            return None
        rated = [tier for tier in self.tiers if tier.tokens_per_s is not None]
        return min(rated, key=lambda tier: tier.tokens_per_s or 0.0, default=None)

    @property
    def tokens_per_s_upper_bound(self) -> float | None:
        """The slowest tier's bandwidth / the bytes it reads per token (the tiers overlapping perfectly, at peak
        bandwidth); None when a reading tier's bandwidth is unknown."""
        reading = [tier for tier in self.tiers if tier.reads_per_token_bytes > 0]
        if not reading or any(tier.bandwidth.bytes_per_s is None for tier in reading):
            return None
        return min(tier.tokens_per_s or 0.0 for tier in reading)

    @property
    def speed(self) -> speed_model.SpeedEstimate | None:
        """The calibrated single-stream decode speed with its range (``speed.decode_speed``), and the speed
        measured here beside it where there is one."""
        found = speed_model.decode_speed(self)
        if found is None or self.measured is None:
            return found
        return found.with_measured(self.measured.decode_tokens_per_s, self.measured.measured_at[:10])

    @property
    def tokens_per_s_estimate(self) -> float | None:
        """The calibrated estimate (``speed``); None when a reading tier's bandwidth is unknown."""
        return None if self.speed is None else self.speed.tokens_per_s


def gpu_tier(machine: MachineView | None, holds: int, reads: int, tensor_parallel: int) -> MemoryTier:
    """The GPUs as one tier: tensor parallelism reads in parallel (n x the slowest GPU); a layer split (llama.cpp)
    reads one GPU after another, each its share (by capacity) of the bytes."""
    if machine is None or not machine.gpus:
        return MemoryTier("gpu", holds, reads, bw.Bandwidth(None, "no GPU"))
    rates = [b.bytes_per_s for b in machine.gpu_bandwidths]
    if any(rate is None for rate in rates):
        missing = next(b for b in machine.gpu_bandwidths if b.bytes_per_s is None)
        return MemoryTier("gpu", holds, reads, bw.Bandwidth(None, missing.source))
    known = [rate for rate in rates if rate is not None]
    if tensor_parallel > 0:
        used = sorted(known, reverse=True)[:tensor_parallel]
        rate = len(used) * min(used)
        if len(set(machine.gpu_bandwidths)) == 1 and len(used) == 1:
            source = machine.gpu_bandwidths[0].source
        else:
            source = f"{len(used)} x {units.format_bandwidth(min(used))} in parallel (tensor parallel)"
        return MemoryTier("gpu", holds, reads, bw.Bandwidth(rate, source))
    capacities = machine.capacities
    total_capacity = sum(capacities) or 1
    seconds_per_byte = sum(cap / total_capacity / rate for cap, rate in zip(capacities, known, strict=True))
    rate = round(1 / seconds_per_byte)
    if len(known) == 1:
        source = machine.gpu_bandwidths[0].source
    else:
        source = f"{len(known)} GPUs one after another (layer split by capacity)"
    return MemoryTier("gpu", holds, reads, bw.Bandwidth(rate, source))


def all_fit(checks: Sequence[tuple[bool, str]]) -> tuple[bool, str]:
    failing = [why for ok, why in checks if not ok]
    if failing:
        return False, "; ".join(failing)
    return True, "; ".join(why for _ok, why in checks)


def gpu_placement(
    arch: Architecture,
    bits: QuantBits,
    weights: WeightsEstimate,
    kv: KvEstimate,
    machine: MachineView | None,
) -> Placement:
    """Everything in VRAM. vLLM (FP8 checkpoints) splits evenly by tensor parallelism, bounded by the smallest GPU
    it uses; llama.cpp (GGUF) splits layers by capacity, so the whole usable VRAM counts."""
    active = active_bytes(arch, bits)
    gpu_count = len(machine.gpus) if machine is not None else 0
    if bits.engine == "vllm":
        tp = tensor_parallel_size(gpu_count, arch.attention_heads)
        devices = tp
        budget = even_split_bytes(machine.capacities, tp) if machine is not None else None
        budget_words = f"usable in an even split over {tp} GPU(s)"
    else:
        tp = 0
        devices = gpu_count
        budget = machine.usable_vram_bytes if machine is not None else None
        budget_words = "usable"
    overhead = gpu_overhead(bits.engine, devices)
    need = weights.bytes + kv.total_bytes + overhead.total_bytes
    notes: list[str] = []
    if bits.engine == "vllm" and 0 < tp < gpu_count and arch.attention_heads is not None:
        notes.append(
            f"tensor parallelism over {tp} of the {gpu_count} GPUs (the size must divide the "
            f"{arch.attention_heads} attention heads)"
        )
    fits: bool | None
    if machine is None or budget is None:
        fits, reason = None, "no machine given"
    elif gpu_count == 0:
        fits, reason = False, "no usable GPU"
    else:
        fits = need <= budget
        reason = (
            f"needs {units.format_gib(need)} of VRAM (weights {units.format_gib(weights.bytes)} + KV "
            f"{units.format_gib(kv.total_bytes)} + overhead {units.format_gib(overhead.total_bytes)}), "
            f"{units.format_gib(budget)} {budget_words}"
        )
    tier = gpu_tier(machine, need, active.total, tp if bits.engine == "vllm" else 0)
    return Placement(
        kind=PLACEMENT_GPU,
        engine=bits.engine,
        weights_gpu=weights.bytes,
        weights_ram=0,
        weights_disk=0,
        kv_bytes=kv.total_bytes,
        kv_on="gpu",
        overhead=overhead,
        overhead_on="gpu",
        fits=fits,
        reason=reason,
        tiers=(tier,),
        gpus_used=devices,
        budget_bytes=budget,
        notes=tuple(notes),
        layers=arch.layers,
        tensor_parallel=tp,
    )


def cpu_placement(
    arch: Architecture,
    bits: QuantBits,
    weights: WeightsEstimate,
    kv: KvEstimate,
    machine: MachineView | None,
) -> Placement:
    """Everything in system RAM, run by the CPU (llama.cpp ``-ngl 0``)."""
    active = active_bytes(arch, bits)
    overhead = cpu_overhead()
    need = weights.bytes + kv.total_bytes + overhead.total_bytes
    fits: bool | None
    if machine is None:
        fits, reason = None, "no machine given"
    else:
        fits, reason = all_fit(
            [
                (
                    need <= machine.spare_ram_bytes,
                    f"RAM: {units.format_gib(need)} needed, {units.format_gib(machine.spare_ram_bytes)} to spare",
                )
            ]
        )
    ram_rate = machine.ram_bandwidth if machine is not None else bw.DEFAULT_RAM_BANDWIDTH
    return Placement(
        kind=PLACEMENT_CPU,
        engine="llama.cpp",
        weights_gpu=0,
        weights_ram=weights.bytes,
        weights_disk=0,
        kv_bytes=kv.total_bytes,
        kv_on="ram",
        overhead=overhead,
        overhead_on="ram",
        fits=fits,
        reason=reason,
        tiers=(MemoryTier("ram", need, active.total, ram_rate),),
        gpus_used=0,
        budget_bytes=machine.spare_ram_bytes if machine is not None else None,
        layers=arch.layers,
        ram_needed_bytes=need,
    )
