"""Where one option's memory can go (all on the GPUs, GPUs + RAM, CPU only, mapped from the disk), whether each
placement fits the machine, and the memory tiers its decode reads (their speed: ``speed``; experts offloaded as
llama.cpp's ``-ot exps=CPU`` and ktransformers do, kvcache-ai/ktransformers#2001). The machine comes in as a
``MachineView``: the visible GPUs, usable VRAM and spare RAM as the planner counts them, the disk under the model
directory, and each tier's bandwidth with its source (bandwidth.py). Pure.
"""

from __future__ import annotations

from collections.abc import Sequence

from vram_advisor.catalog.architecture import Architecture, QuantBits
from vram_advisor.core import units
from vram_advisor.core.records import Record, dataclass
from vram_advisor.inventory import bandwidth as bw
from vram_advisor.inventory.model import Disk, Gpu, Inventory, select_disk
from vram_advisor.plan import machine as plan
from vram_advisor.plan.estimate import speed as speed_model
from vram_advisor.plan.estimate.kv import KvEstimate
from vram_advisor.plan.estimate.speed import MemoryTier
from vram_advisor.plan.estimate.weights import Overhead, WeightsEstimate, active_bytes, cpu_overhead, gpu_overhead
from vram_advisor.plan.machine import PLACEMENT_CPU, PLACEMENT_GPU, PLACEMENT_HYBRID, PLACEMENT_NVME, PlacementKind

PLACEMENT_LABELS = {
    PLACEMENT_GPU: "all on the GPUs",
    PLACEMENT_HYBRID: "GPUs + RAM: attention, shared experts and KV on the GPUs, routed experts in RAM",
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

    @property
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
        ram_bandwidth=bw.ram_bandwidth(ram_bw, inventory.ram.effective_bytes, shared),
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
        """The calibrated single-stream decode speed with its range (``speed.decode_speed``)."""
        return speed_model.decode_speed(self)

    @property
    def tokens_per_s_estimate(self) -> float | None:
        """The calibrated estimate (``speed``); None when a reading tier's bandwidth is unknown."""
        return None if self.speed is None else self.speed.tokens_per_s


def _gpu_tier(machine: MachineView | None, holds: int, reads: int, tensor_parallel: int) -> MemoryTier:
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


def _fits(checks: Sequence[tuple[bool, str]]) -> tuple[bool, str]:
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
    tier = _gpu_tier(machine, need, active.total, tp if bits.engine == "vllm" else 0)
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


def hybrid_placement(
    arch: Architecture,
    bits: QuantBits,
    weights: WeightsEstimate,
    kv: KvEstimate,
    machine: MachineView | None,
) -> Placement | None:
    """Attention, shared experts and KV on the GPUs; routed experts in system RAM (llama.cpp ``-ot exps=CPU``,
    ktransformers). None when the profile cannot split the weights or the GPUs share system memory."""
    if weights.other_bytes is None or weights.routed_bytes is None:
        return None
    if machine is not None and (machine.unified or not machine.gpus):
        return None
    active = active_bytes(arch, bits)
    gpu_count = len(machine.gpus) if machine is not None else 0
    overhead = gpu_overhead("llama.cpp", gpu_count)
    gpu_need = weights.other_bytes + kv.total_bytes + overhead.total_bytes
    fits: bool | None
    if machine is None:
        fits, reason = None, "no machine given"
    elif gpu_count == 0:
        fits, reason = False, "no usable GPU"
    else:
        fits, reason = _fits(
            [
                (
                    gpu_need <= machine.usable_vram_bytes,
                    f"GPUs: {units.format_gib(gpu_need)} needed, {units.format_gib(machine.usable_vram_bytes)} usable",
                ),
                (
                    weights.routed_bytes <= machine.spare_ram_bytes,
                    f"RAM: {units.format_gib(weights.routed_bytes)} of routed experts, "
                    f"{units.format_gib(machine.spare_ram_bytes)} to spare",
                ),
            ]
        )
    tiers = (
        _gpu_tier(machine, gpu_need, active.other, 0),
        MemoryTier(
            "ram",
            weights.routed_bytes,
            active.routed,
            machine.ram_bandwidth if machine is not None else bw.DEFAULT_RAM_BANDWIDTH,
        ),
    )
    return Placement(
        kind=PLACEMENT_HYBRID,
        engine="llama.cpp",
        weights_gpu=weights.other_bytes,
        weights_ram=weights.routed_bytes,
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
        layers=arch.layers,
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
        fits, reason = _fits(
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
    )


def nvme_placement(
    arch: Architecture,
    bits: QuantBits,
    weights: WeightsEstimate,
    kv: KvEstimate,
    machine: MachineView,
) -> Placement | None:
    """Weights mapped from the disk (llama.cpp's default mmap): the GPUs (if any) hold attention, shared experts and
    KV; the RAM left over caches as many routed experts as it can; the rest is read from the disk as tokens need
    them. Per token the disk reads the uncached share of the active routed experts (experts used evenly)."""
    if weights.other_bytes is None or weights.routed_bytes is None:
        return None
    active = active_bytes(arch, bits)
    with_gpu = bool(machine.gpus) and not machine.unified
    checks: list[tuple[bool, str]] = []
    if with_gpu:
        overhead = gpu_overhead("llama.cpp", len(machine.gpus))
        gpu_need = weights.other_bytes + kv.total_bytes + overhead.total_bytes
        checks.append(
            (
                gpu_need <= machine.usable_vram_bytes,
                f"GPUs: {units.format_gib(gpu_need)} needed, {units.format_gib(machine.usable_vram_bytes)} usable",
            )
        )
        ram_fixed = 0
    else:
        overhead = cpu_overhead()
        ram_fixed = weights.other_bytes + kv.total_bytes + overhead.total_bytes
        checks.append(
            (
                ram_fixed <= machine.spare_ram_bytes,
                f"RAM: {units.format_gib(ram_fixed)} for attention, shared experts and KV, "
                f"{units.format_gib(machine.spare_ram_bytes)} to spare",
            )
        )
    cached = max(0, min(weights.routed_bytes, machine.spare_ram_bytes - ram_fixed))
    on_disk = weights.routed_bytes - cached
    cached_share = cached / weights.routed_bytes if weights.routed_bytes else 1.0
    disk_reads = round(active.routed * (1 - cached_share))
    ram_reads = active.routed - disk_reads + (0 if with_gpu else active.other)
    checks.append(
        (
            True,
            f"{units.format_gib(cached)} of routed experts cached in RAM, {units.format_gib(on_disk)} read from "
            f"the disk as needed",
        )
    )
    fits, reason = _fits(checks)
    tiers: list[MemoryTier] = []
    if with_gpu:
        tiers.append(_gpu_tier(machine, weights.other_bytes + kv.total_bytes + overhead.total_bytes, active.other, 0))
    tiers.append(MemoryTier("ram", ram_fixed + cached, ram_reads, machine.ram_bandwidth))
    tiers.append(MemoryTier("disk", on_disk, disk_reads, machine.disk_bandwidth))
    notes = []
    if on_disk == 0:
        notes.append("the routed experts fit in RAM: after the first pass nothing is read from the disk")
    return Placement(
        kind=PLACEMENT_NVME,
        engine="llama.cpp",
        weights_gpu=weights.other_bytes if with_gpu else 0,
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
    )


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
