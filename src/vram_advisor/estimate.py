"""The estimate beyond the table: KV cache for a context length, weights (the table's, the published files', and the
bits-per-weight arithmetic), runtime overheads, and where an option can run (GPU, GPU+RAM, CPU, NVMe) with an upper
bound on its decode speed.

Every figure comes from a profile field (``architecture``, ``bits``, ``published``: profiles/deepseek-v4.json) or a
named constant below with its source (shared/reference/deepseek-v4-facts.md §1.4, §1.6, §1.7, §5, §6). Pure:
nothing here reads the machine; ``estimate_document`` is the JSON-ready entry point for the CLI and the MCP server.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vram_advisor import bandwidth as bw
from vram_advisor import units
from vram_advisor.architecture import KV_DTYPES, Architecture, PublishedFile, QuantBits
from vram_advisor.errors import UsageError
from vram_advisor.inventory import Disk, Gpu, Inventory
from vram_advisor.profiles import Catalog, ModelProfile, QuantRow, default_catalog

ESTIMATE_SCHEMA = "vram-advisor/estimate/v1"
SIZES = ("table", "published")

# --------------------------------------------------------------------------------------- named constants

#: CUDA context and other memory no allocator accounts for, per GPU: llama.cpp's memory breakdown reports
#: ~451-456 MiB "unaccounted" per RTX 4090 (llama.cpp PR #15860; deepseek-v4-facts.md §5). PyTorch reports ~300 MB
#: for a bare context (pytorch #107667).
CUDA_CONTEXT_BYTES = 456 * units.MIB
#: llama.cpp compute buffers per GPU at the default micro-batch: 0.5-1.5 GiB (facts §5: 548-985 MiB in PR #15860,
#: 1.55-1.62 GiB per RTX 3090 in issue #24608); the middle of that range.
LLAMA_CPP_COMPUTE_BYTES = 1 * units.GIB
#: The same compute buffers when llama.cpp runs on the CPU alone (held in RAM).
CPU_COMPUTE_BYTES = 1 * units.GIB
#: vLLM memory outside PyTorch's allocator per GPU (CUDA context, NCCL): 1.79 GiB at tensor-parallel 1 and 3.58 GiB
#: at tensor-parallel 2 (vLLM PR #10511 profiling; facts §5).
VLLM_NON_TORCH_TP1_BYTES = round(1.79 * units.GIB)
VLLM_NON_TORCH_TP_BYTES = round(3.58 * units.GIB)
#: vLLM's activation peak per GPU at batch 1: 1.26 GiB (vLLM PR #10511; facts §5). Long prefill and large batches
#: need more (36.6 GiB in PR #12126's VLM case).
VLLM_ACTIVATION_BYTES = round(1.26 * units.GIB)
#: vLLM's default ``--gpu-memory-utilization`` in late-2026 releases (vllm/config/cache.py at 002f10e0; facts §5),
#: and the most the Unsloth docs advise raising it to ("Try 0.95 or 0.97").
VLLM_DEFAULT_UTILIZATION = 0.92
VLLM_MAX_ADVISED_UTILIZATION = 0.97
#: The share of peak memory bandwidth a decode step achieves, llmfit's calibration constant
#: (``tok/s = bw / (active_params x bytes/param) x 0.55``; anchor-tools.md §4.4). Used for the serial estimate only,
#: never for the upper bound.
ACHIEVABLE_BANDWIDTH_FRACTION = 0.55
#: A published size that differs from the table's weights by more than this share gets a warning (issue 4).
SIZE_WARNING_FRACTION = 0.20
#: llama.cpp's "all layers on the GPU" value of ``-ngl`` (any number above the layer count does).
ALL_LAYERS = 99

PLACEMENT_GPU = "gpu"
PLACEMENT_HYBRID = "gpu+ram"
PLACEMENT_CPU = "cpu"
PLACEMENT_NVME = "nvme"
PLACEMENT_LABELS = {
    PLACEMENT_GPU: "all on the GPUs",
    PLACEMENT_HYBRID: "GPUs + RAM: attention, shared experts and KV on the GPUs, routed experts in RAM",
    PLACEMENT_CPU: "CPU only: everything in RAM",
    PLACEMENT_NVME: "weights mapped from disk (mmap): routed experts read from the disk as needed",
}


# ---------------------------------------------------------------------------------------------- KV cache


@dataclass(frozen=True)
class KvEstimate:
    """The KV cache of ``sequences`` sequences of ``context_tokens`` tokens, with the rows that make it up."""

    dtype: str
    context_tokens: int
    sequences: int
    main_row_bytes: int
    indexer_row_bytes: int
    csa_rows: int
    hca_rows: int
    swa_rows: int
    compressed_bytes: int
    swa_ring_bytes: int
    total_bytes: int
    amortised_bytes_per_token: float
    source: str


def kv_cache_bytes(arch: Architecture, context_tokens: int, kv_dtype: str = "bf16", sequences: int = 1) -> KvEstimate:
    """DeepSeek V4's KV cache for ``sequences`` sequences of ``context_tokens`` tokens (deepseek-v4-facts.md §1.6).

    V4 is not V3's MLA: every layer keeps a sliding window of ``W`` latent rows; a CSA layer adds one compressed
    row per ``csa_ratio`` (4) tokens plus one indexer-key row; an HCA layer adds one compressed row per
    ``hca_ratio`` (128) tokens. With ``E_main`` and ``E_idx`` the row sizes of the KV format (profile ``kv_rows``:
    BF16 1024 / 256 bytes, vLLM fp8_ds_mla 584 / 132 bytes), per sequence of ``T`` tokens::

        KV = N_csa x ceil(T / 4) x (E_main + E_idx)
           + N_hca x ceil(T / 128) x E_main
           + N_layers x min(T, W) x E_main              (the sliding-window ring)

    i.e. ``N_csa (E_main + E_idx) / 4 + N_hca E_main / 128`` bytes per token amortised (Flash 6,880 B at BF16,
    Pro 9,848 B) plus a fixed ring (5.4 MiB for Flash, 7.6 MiB for Pro). At 1M tokens that is 6.72 GiB (Flash) and
    9.62 GiB (Pro) at BF16, 3.76 / 5.38 GiB in vLLM's fp8 layout. The compressors' FP32 states (small, bounded)
    are not counted.
    """
    if kv_dtype not in arch.kv_rows:
        known = ", ".join(arch.kv_rows)
        raise UsageError(f"--kv-dtype {kv_dtype!r}: this model's profile has no such KV format (known: {known})")
    if context_tokens <= 0 or sequences <= 0:
        raise UsageError("the context and the number of sequences must be at least 1")
    row = arch.kv_rows[kv_dtype]
    csa_rows = math.ceil(context_tokens / arch.csa_ratio)
    hca_rows = math.ceil(context_tokens / arch.hca_ratio)
    swa_rows = min(context_tokens, arch.sliding_window)
    compressed = (
        arch.csa_layers * csa_rows * (row.main_bytes + row.indexer_bytes) + arch.hca_layers * hca_rows * row.main_bytes
    )
    ring = arch.layers * swa_rows * row.main_bytes
    total = (compressed + ring) * sequences
    amortised = (
        arch.csa_layers * (row.main_bytes + row.indexer_bytes) / arch.csa_ratio
        + arch.hca_layers * row.main_bytes / arch.hca_ratio
    )
    return KvEstimate(
        dtype=kv_dtype,
        context_tokens=context_tokens,
        sequences=sequences,
        main_row_bytes=row.main_bytes,
        indexer_row_bytes=row.indexer_bytes,
        csa_rows=csa_rows,
        hca_rows=hca_rows,
        swa_rows=swa_rows,
        compressed_bytes=compressed * sequences,
        swa_ring_bytes=ring * sequences,
        total_bytes=total,
        amortised_bytes_per_token=amortised,
        source=row.source,
    )


# ----------------------------------------------------------------------------------------------- weights


@dataclass(frozen=True)
class WeightsEstimate:
    """The weights of one option: the figure in use and where it comes from, the alternatives, and the split
    between routed experts and everything else (what a GPU+RAM hybrid puts where)."""

    bytes: int
    basis: str
    table_bytes: int
    published: tuple[PublishedFile, ...]
    computed_bytes: int | None
    other_bytes: int | None
    warnings: tuple[str, ...]

    @property
    def published_bytes(self) -> int | None:
        return self.published[0].size_bytes if self.published else None

    @property
    def routed_bytes(self) -> int | None:
        return None if self.other_bytes is None else self.bytes - self.other_bytes

    @property
    def published_differs_by(self) -> float | None:
        """(published - table) / table for the first published file, or None."""
        if self.published_bytes is None:
            return None
        return (self.published_bytes - self.table_bytes) / self.table_bytes


def computed_weights_bytes(arch: Architecture, bits: QuantBits) -> int:
    """Weights from the bits per weight: routed params x expert bits / 8 + other params x other bits / 8
    (deepseek-v4-facts.md §1.4 estimator rule)."""
    return round(arch.routed_params * bits.experts / 8 + arch.other_params * bits.other / 8)


def _label(model: ModelProfile, quant: QuantRow) -> str:
    return f"{model.id} {quant.id}"


def weights_estimate(model: ModelProfile, quant: QuantRow, sizes: str = "table") -> WeightsEstimate:
    """The weights in use (the table's, or the first published file's with ``sizes="published"``) and the rest."""
    if sizes not in SIZES:
        raise UsageError(f"--sizes {sizes!r}: expected one of {', '.join(SIZES)}")
    table = quant.weights_bytes
    arch, bits = model.architecture, quant.bits
    computed = computed_weights_bytes(arch, bits) if arch is not None and bits is not None else None
    warnings: list[str] = []
    label = _label(model, quant)
    first = quant.published[0] if quant.published else None
    if first is not None:
        differs = (first.size_bytes - table) / table
        if abs(differs) > SIZE_WARNING_FRACTION:
            stated = (
                first.stated
                if first.stated.endswith(" GB")
                else f"{first.stated} = {units.format_file_gb(first.size_bytes)}"
            )
            why = (
                ": V4's routed experts are natively FP4, so low-bit GGUFs are not the bit-width fraction of the "
                "checkpoint that the table assumes"
                if differs > 0 and bits is not None and bits.engine == "llama.cpp"
                else ""
            )
            warnings.append(
                f"{label}: the published {first.name} ({stated}) is {abs(differs):.0%} "
                f"{'larger' if differs > 0 else 'smaller'} than the table's {units.format_file_gb(table)}{why}"
            )
    elif computed is not None and abs(computed - table) / table > SIZE_WARNING_FRACTION:
        assert bits is not None
        warnings.append(
            f"{label}: no published file in the profile; {bits.experts:g} bits per routed-expert weight give "
            f"{units.format_file_gb(computed)}, {abs(computed - table) / table:.0%} "
            f"{'more' if computed > table else 'less'} than the table's {units.format_file_gb(table)}"
        )
    in_use, basis = table, "table"
    if sizes == "published":
        if first is not None:
            in_use, basis = first.size_bytes, "published"
        else:
            warnings.append(f"{label}: no published file in the profile: the table's figure is used")
    other = None
    if arch is not None and bits is not None:
        other = min(in_use, round(arch.other_params * bits.other / 8))
    return WeightsEstimate(
        bytes=in_use,
        basis=basis,
        table_bytes=table,
        published=quant.published,
        computed_bytes=computed,
        other_bytes=other,
        warnings=tuple(warnings),
    )


@dataclass(frozen=True)
class ActiveBytes:
    """Bytes one decoded token reads: active routed experts and the other active weights, at the quant's bits."""

    routed: int
    other: int

    @property
    def total(self) -> int:
        return self.routed + self.other


def active_bytes(arch: Architecture, bits: QuantBits) -> ActiveBytes:
    """Active parameters at the quant's bits per weight: layers x experts per token x 3 x hidden x expert width at
    the expert bits, and the model card's remaining active parameters at the other bits."""
    return ActiveBytes(
        routed=round(arch.active_routed_params * bits.experts / 8),
        other=round(arch.active_other_params * bits.other / 8),
    )


# --------------------------------------------------------------------------------------------- overheads


@dataclass(frozen=True)
class Overhead:
    """Runtime memory beside weights and KV: named parts per device, times the number of devices."""

    engine: str
    devices: int
    parts: tuple[tuple[str, int, str], ...]

    @property
    def per_device_bytes(self) -> int:
        return sum(size for _name, size, _source in self.parts)

    @property
    def total_bytes(self) -> int:
        return self.per_device_bytes * self.devices


def gpu_overhead(engine: str, gpus: int) -> Overhead:
    """Per-GPU runtime memory of ``engine`` on ``gpus`` GPUs (at least one is assumed)."""
    devices = max(1, gpus)
    if engine == "vllm":
        non_torch = VLLM_NON_TORCH_TP1_BYTES if devices == 1 else VLLM_NON_TORCH_TP_BYTES
        return Overhead(
            engine,
            devices,
            (
                (
                    "non-torch memory (CUDA context, NCCL)",
                    non_torch,
                    f"vLLM PR #10511: {units.format_gib(non_torch, 2)} at tensor-parallel {1 if devices == 1 else 2}",
                ),
                ("activation peak", VLLM_ACTIVATION_BYTES, "vLLM PR #10511: 1.26 GiB at batch 1"),
            ),
        )
    return Overhead(
        engine,
        devices,
        (
            ("CUDA context and unaccounted", CUDA_CONTEXT_BYTES, "llama.cpp PR #15860: ~456 MiB per GPU"),
            ("compute buffers", LLAMA_CPP_COMPUTE_BYTES, "deepseek-v4-facts.md §5: 0.5-1.5 GiB per GPU"),
        ),
    )


def cpu_overhead() -> Overhead:
    return Overhead(
        "llama.cpp",
        1,
        (("compute buffers (in RAM)", CPU_COMPUTE_BYTES, "deepseek-v4-facts.md §5: 0.5-1.5 GiB"),),
    )


# ----------------------------------------------------------------------------------------------- machine


@dataclass(frozen=True)
class MachineView:
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
    from vram_advisor import plan

    gpus = tuple(gpu for gpu in inventory.gpus if gpu.visible is not False)
    disk = plan.select_disk(inventory, model_dir)
    return MachineView(
        gpus=gpus,
        usable_vram_bytes=plan.usable_vram_bytes(inventory),
        spare_ram_bytes=plan.spare_ram_bytes(inventory),
        disk=disk,
        unified=any(gpu.unified for gpu in gpus),
        gpu_bandwidths=tuple(bw.gpu_bandwidth(gpu) for gpu in gpus),
        ram_bandwidth=bw.ram_bandwidth(ram_bw),
        disk_bandwidth=bw.disk_bandwidth(disk, disk_bw),
    )


def tensor_parallel_size(gpu_count: int, attention_heads: int) -> int:
    """vLLM's tensor-parallel size here: the largest power of two up to the GPU count that divides the attention
    heads (64 for Flash, 128 for Pro); 0 without GPUs."""
    size = 0
    candidate = 1
    while candidate <= gpu_count:
        if attention_heads % candidate == 0:
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


# -------------------------------------------------------------------------------------------- placements


@dataclass(frozen=True)
class Tier:
    """One memory tier of a placement: what it holds, what it reads per decoded token, and how fast it reads."""

    name: str
    holds_bytes: int
    reads_per_token_bytes: int
    bandwidth: bw.Bandwidth

    @property
    def tokens_per_s(self) -> float | None:
        """This tier's own ceiling: bandwidth / bytes read per token."""
        if self.reads_per_token_bytes <= 0:
            return None
        if self.bandwidth.bytes_per_s is None:
            return None
        return self.bandwidth.bytes_per_s / self.reads_per_token_bytes


@dataclass(frozen=True)
class Placement:
    """Where one option's memory goes, whether it fits, and its decode-speed bounds."""

    kind: str
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
    tiers: tuple[Tier, ...]
    gpus_used: int
    budget_bytes: int | None
    notes: tuple[str, ...] = ()

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
    def unrated(self) -> Tier | None:
        """The first tier that reads per token but has no known bandwidth."""
        return next((t for t in self.tiers if t.reads_per_token_bytes > 0 and t.bandwidth.bytes_per_s is None), None)

    @property
    def bottleneck(self) -> Tier | None:
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
    def tokens_per_s_estimate(self) -> float | None:
        """The tiers one after the other (a layer's attention on the GPU, then its experts in RAM), each at
        ``ACHIEVABLE_BANDWIDTH_FRACTION`` of its peak: 1 / sum(bytes / (bandwidth x 0.55))."""
        reading = [tier for tier in self.tiers if tier.reads_per_token_bytes > 0]
        if not reading or any(tier.bandwidth.bytes_per_s is None for tier in reading):
            return None
        seconds = sum(
            tier.reads_per_token_bytes / ((tier.bandwidth.bytes_per_s or 1) * ACHIEVABLE_BANDWIDTH_FRACTION)
            for tier in reading
        )
        return 1 / seconds


def _gpu_tier(machine: MachineView | None, holds: int, reads: int, tensor_parallel: int) -> Tier:
    """The GPUs as one tier: tensor parallelism reads in parallel (n x the slowest GPU); a layer split (llama.cpp)
    reads one GPU after another, each its share (by capacity) of the bytes."""
    if machine is None or not machine.gpus:
        return Tier("gpu", holds, reads, bw.Bandwidth(None, "no GPU"))
    rates = [b.bytes_per_s for b in machine.gpu_bandwidths]
    if any(rate is None for rate in rates):
        missing = next(b for b in machine.gpu_bandwidths if b.bytes_per_s is None)
        return Tier("gpu", holds, reads, bw.Bandwidth(None, missing.source))
    known = [rate for rate in rates if rate is not None]
    if tensor_parallel > 0:
        used = sorted(known, reverse=True)[:tensor_parallel]
        rate = len(used) * min(used)
        if len(set(machine.gpu_bandwidths)) == 1 and len(used) == 1:
            source = machine.gpu_bandwidths[0].source
        else:
            source = f"{len(used)} x {units.format_bandwidth(min(used))} in parallel (tensor parallel)"
        return Tier("gpu", holds, reads, bw.Bandwidth(rate, source))
    capacities = machine.capacities
    total_capacity = sum(capacities) or 1
    seconds_per_byte = sum(cap / total_capacity / rate for cap, rate in zip(capacities, known, strict=True))
    rate = round(1 / seconds_per_byte)
    if len(known) == 1:
        source = machine.gpu_bandwidths[0].source
    else:
        source = f"{len(known)} GPUs one after another (layer split by capacity)"
    return Tier("gpu", holds, reads, bw.Bandwidth(rate, source))


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
    if bits.engine == "vllm" and 0 < tp < gpu_count:
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
        Tier(
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
        tiers=(Tier("ram", need, active.total, ram_rate),),
        gpus_used=0,
        budget_bytes=machine.spare_ram_bytes if machine is not None else None,
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
    tiers: list[Tier] = []
    if with_gpu:
        tiers.append(_gpu_tier(machine, weights.other_bytes + kv.total_bytes + overhead.total_bytes, active.other, 0))
    tiers.append(Tier("ram", ram_fixed + cached, ram_reads, machine.ram_bandwidth))
    tiers.append(Tier("disk", on_disk, disk_reads, machine.disk_bandwidth))
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


# ------------------------------------------------------------------------------------------- the estimate


@dataclass(frozen=True)
class Estimate:
    """One option's whole estimate (``estimate`` command, MCP tool, and each option of ``check``)."""

    model: ModelProfile
    quant: QuantRow
    context_tokens: int
    kv: KvEstimate | None
    weights: WeightsEstimate
    active: ActiveBytes | None
    placements: tuple[Placement, ...]
    machine: MachineView | None
    assumptions: tuple[str, ...]
    warnings: tuple[str, ...]
    unavailable: str | None = None

    @property
    def gpu(self) -> Placement | None:
        return next((p for p in self.placements if p.kind == PLACEMENT_GPU), None)

    @property
    def best(self) -> Placement | None:
        return best_placement(self.placements)


def check_context(model: ModelProfile, context_tokens: int) -> None:
    """A context beyond the model's own limit is a usage error."""
    arch = model.architecture
    if arch is not None and context_tokens > arch.max_context_tokens:
        raise UsageError(
            f"--context {units.format_tokens(context_tokens)}: longer than {model.id}'s "
            f"{arch.max_context_tokens:,}-token context"
        )


def estimate_option(
    model: ModelProfile,
    quant: QuantRow,
    context_tokens: int,
    machine: MachineView | None = None,
    kv_dtype: str = "bf16",
    sizes: str = "table",
) -> Estimate:
    """The estimate of one model x quantization at ``context_tokens``, on ``machine`` (or machine-independent)."""
    if kv_dtype not in KV_DTYPES:
        raise UsageError(f"--kv-dtype {kv_dtype!r}: expected one of {', '.join(KV_DTYPES)}")
    check_context(model, context_tokens)
    weights = weights_estimate(model, quant, sizes)
    arch, bits = model.architecture, quant.bits
    warnings = list(weights.warnings)
    if arch is None or bits is None:
        missing = "architecture" if arch is None else f"bits for {quant.id}"
        why = f"{model.id}: its profile ({model.origin}) has no {missing}: no KV, placement or speed estimate"
        return Estimate(model, quant, context_tokens, None, weights, None, (), machine, (), tuple(warnings), why)
    kv = kv_cache_bytes(arch, context_tokens, kv_dtype)
    found = placements(arch, bits, weights, kv, machine)
    if machine is not None:
        hetero = heterogeneity_warning(machine)
        if hetero is not None:
            warnings.append(hetero)
    return Estimate(
        model=model,
        quant=quant,
        context_tokens=context_tokens,
        kv=kv,
        weights=weights,
        active=active_bytes(arch, bits),
        placements=found,
        machine=machine,
        assumptions=assumptions(arch, bits, kv, weights, machine),
        warnings=tuple(warnings),
    )


def assumptions(
    arch: Architecture, bits: QuantBits, kv: KvEstimate, weights: WeightsEstimate, machine: MachineView | None
) -> tuple[str, ...]:
    """Each assumption behind the numbers, in words, with its source."""
    active = active_bytes(arch, bits)
    lines = [
        f"KV cache: {kv.dtype} rows of {kv.main_row_bytes} B (latent) and {kv.indexer_row_bytes} B (indexer); "
        f"{arch.csa_layers} CSA layers (1 row per {arch.csa_ratio} tokens + indexer), {arch.hca_layers} HCA layers "
        f"(1 row per {arch.hca_ratio} tokens), a {arch.sliding_window}-token window on all {arch.layers} layers; "
        f"{kv.amortised_bytes_per_token:,.0f} B/token amortised, one sequence (deepseek-v4-facts.md §1.6)",
        f"weights: {weights.basis} figure, {units.format_file_gb(weights.bytes)}; routed experts "
        f"{arch.routed_params / 1e9:,.2f}B params (layers x experts x 3 x hidden x expert width) at {bits.experts:g} "
        f"bits, the other {arch.other_params / 1e9:,.2f}B at {bits.other:g} bits ({bits.format}; §1.4, §3.1)",
        f"decode reads per token: {arch.active_routed_params / 1e9:.2f}B active routed params "
        f"({units.format_file_gb(active.routed)}) + {arch.active_other_params / 1e9:.2f}B other active params "
        f"({units.format_file_gb(active.other)}) of the model card's {arch.params_active / 1e9:g}B active; KV reads "
        "and compute are not counted",
        "upper bound = the slowest tier's peak bandwidth / the bytes it reads per token (tiers overlapping "
        f"perfectly); estimate = the tiers in series at {ACHIEVABLE_BANDWIDTH_FRACTION:.0%} of peak bandwidth "
        "(llmfit's calibration, anchor-tools.md §4.4)",
        f"runtime overhead per GPU: llama.cpp {units.format_gib(CUDA_CONTEXT_BYTES + LLAMA_CPP_COMPUTE_BYTES, 2)} "
        f"(CUDA context ~456 MiB, PR #15860; compute buffers 1 GiB, §5); vLLM "
        f"{units.format_gib(VLLM_NON_TORCH_TP1_BYTES + VLLM_ACTIVATION_BYTES, 2)} at tensor-parallel 1 and "
        f"{units.format_gib(VLLM_NON_TORCH_TP_BYTES + VLLM_ACTIVATION_BYTES, 2)} per GPU above it (PR #10511); "
        "CUDA-graph memory (vLLM: 1-3 GiB per GPU) is not counted",
        "GPU+RAM and mmap plans put routed experts (llama.cpp tensors matching 'exps') off the GPU and assume experts "
        "are used evenly",
    ]
    if bits.engine == "vllm" and kv.dtype != "fp8":
        lines.append("vLLM runs V4 only with --kv-cache-dtype fp8 (a hard requirement): its KV cache is the fp8 figure")
    if bits.engine == "llama.cpp" and kv.dtype == "fp8":
        lines.append(
            "the fp8 rows are vLLM's fp8_ds_mla layout; llama.cpp keeps V4's cache in BF16 (issue #27680 logs)"
        )
    if machine is not None:
        texts = [b.text() for b in machine.gpu_bandwidths]
        gpu_rates = "; ".join(
            (f"{texts.count(text)} x " if texts.count(text) > 1 else "") + text for text in dict.fromkeys(texts)
        )
        gpu_rates = gpu_rates or "no GPU"
        lines.append(
            f"bandwidths: GPU {gpu_rates}; RAM {machine.ram_bandwidth.text()}; disk {machine.disk_bandwidth.text()}"
        )
    return tuple(lines)


# ------------------------------------------------------------------------------------------------- JSON


def round_rate(value: float | None, digits: int = 2) -> float | None:
    """A rate or ratio rounded for JSON (None stays None)."""
    return None if value is None else round(value, digits)


def _file_dict(item: PublishedFile) -> dict[str, Any]:
    return {
        "name": item.name,
        "size_bytes": item.size_bytes,
        "stated": item.stated,
        "repo": item.repo,
        "include": item.include,
        "source": item.source,
        "note": item.note,
    }


def weights_dict(weights: WeightsEstimate) -> dict[str, Any]:
    return {
        "bytes": weights.bytes,
        "basis": weights.basis,
        "table_bytes": weights.table_bytes,
        "published_bytes": weights.published_bytes,
        "published_differs_by": round_rate(weights.published_differs_by, 3),
        "published": [_file_dict(item) for item in weights.published],
        "computed_bytes": weights.computed_bytes,
        "routed_bytes": weights.routed_bytes,
        "other_bytes": weights.other_bytes,
    }


def kv_dict(kv: KvEstimate) -> dict[str, Any]:
    return {
        "bytes": kv.total_bytes,
        "dtype": kv.dtype,
        "context_tokens": kv.context_tokens,
        "sequences": kv.sequences,
        "amortised_bytes_per_token": round(kv.amortised_bytes_per_token, 2),
        "compressed_bytes": kv.compressed_bytes,
        "swa_ring_bytes": kv.swa_ring_bytes,
        "rows_per_layer": {"csa": kv.csa_rows, "hca": kv.hca_rows, "sliding_window": kv.swa_rows},
        "row_bytes": {"main": kv.main_row_bytes, "indexer": kv.indexer_row_bytes},
        "formula": "N_csa*ceil(T/4)*(E_main+E_idx) + N_hca*ceil(T/128)*E_main + N_layers*min(T,128)*E_main",
        "source": kv.source,
    }


def overhead_dict(overhead: Overhead) -> dict[str, Any]:
    return {
        "engine": overhead.engine,
        "devices": overhead.devices,
        "per_device_bytes": overhead.per_device_bytes,
        "total_bytes": overhead.total_bytes,
        "parts": [{"name": name, "bytes": size, "source": source} for name, size, source in overhead.parts],
    }


def placement_dict(placement: Placement) -> dict[str, Any]:
    bottleneck = placement.bottleneck
    return {
        "placement": placement.kind,
        "label": PLACEMENT_LABELS[placement.kind],
        "engine": placement.engine,
        "fits": placement.fits,
        "reason": placement.reason,
        "gpu_bytes": placement.gpu_bytes,
        "ram_bytes": placement.ram_bytes,
        "disk_bytes": placement.weights_disk,
        "need_bytes": placement.need_bytes,
        "budget_bytes": placement.budget_bytes,
        "gpus_used": placement.gpus_used,
        "breakdown": {
            "weights": {"gpu": placement.weights_gpu, "ram": placement.weights_ram, "disk": placement.weights_disk},
            "kv_cache": {"bytes": placement.kv_bytes, "on": placement.kv_on},
            "overhead": {**overhead_dict(placement.overhead), "on": placement.overhead_on},
        },
        "decode_tokens_per_s": {
            "upper_bound": round_rate(placement.tokens_per_s_upper_bound),
            "estimate": round_rate(placement.tokens_per_s_estimate),
            "bottleneck": bottleneck.name if bottleneck is not None else None,
        },
        "tiers": [
            {
                "tier": tier.name,
                "holds_bytes": tier.holds_bytes,
                "reads_per_token_bytes": tier.reads_per_token_bytes,
                "bandwidth_bytes_per_s": tier.bandwidth.bytes_per_s,
                "bandwidth_source": tier.bandwidth.source,
                "tokens_per_s": round_rate(tier.tokens_per_s),
            }
            for tier in placement.tiers
        ],
        "notes": list(placement.notes),
    }


def machine_dict(machine: MachineView) -> dict[str, Any]:
    return {
        "gpus": len(machine.gpus),
        "usable_vram_bytes": machine.usable_vram_bytes,
        "spare_ram_bytes": machine.spare_ram_bytes,
        "heterogeneous_gpus": machine.heterogeneous,
        "even_split_vram_bytes": even_split_bytes(machine.capacities, len(machine.capacities)),
        "bandwidths": {
            "gpu": [{"bytes_per_s": b.bytes_per_s, "source": b.source} for b in machine.gpu_bandwidths],
            "ram": {"bytes_per_s": machine.ram_bandwidth.bytes_per_s, "source": machine.ram_bandwidth.source},
            "disk": {"bytes_per_s": machine.disk_bandwidth.bytes_per_s, "source": machine.disk_bandwidth.source},
        },
        "disk": None if machine.disk is None else {"path": machine.disk.path, "kind": machine.disk.kind},
    }


def estimate_dict(estimate: Estimate, kv_dtype: str, sizes: str) -> dict[str, Any]:
    """An ``Estimate`` as the ``vram-advisor/estimate/v1`` JSON document (the run command included)."""
    from vram_advisor.runners import run_dict

    arch = estimate.model.architecture
    best = estimate.best
    run = run_dict(estimate, best or estimate.gpu) if estimate.kv is not None else None
    return {
        "schema": ESTIMATE_SCHEMA,
        "model": estimate.model.id,
        "name": estimate.model.name,
        "quant": estimate.quant.id,
        "context_tokens": estimate.context_tokens,
        "kv_dtype": kv_dtype,
        "sizes": sizes,
        "weights": weights_dict(estimate.weights),
        "kv_cache": kv_dict(estimate.kv) if estimate.kv is not None else None,
        "active_bytes_per_token": None
        if estimate.active is None
        else {"routed": estimate.active.routed, "other": estimate.active.other, "total": estimate.active.total},
        "architecture": None
        if arch is None
        else {
            "layers": arch.layers,
            "csa_layers": arch.csa_layers,
            "hca_layers": arch.hca_layers,
            "swa_only_layers": arch.swa_only_layers,
            "routed_params": arch.routed_params,
            "other_params": arch.other_params,
            "active_routed_params": arch.active_routed_params,
            "active_other_params": arch.active_other_params,
            "max_context_tokens": arch.max_context_tokens,
        },
        "machine": None if estimate.machine is None else machine_dict(estimate.machine),
        "placements": [placement_dict(p) for p in estimate.placements],
        "recommended_placement": best.kind if best is not None else None,
        "run": run,
        "assumptions": list(estimate.assumptions),
        "warnings": list(estimate.warnings),
        "unavailable": estimate.unavailable,
    }


def estimate_document(
    model_id: str,
    quant_id: str,
    context_tokens: int,
    inventory: Inventory | None = None,
    kv_dtype: str = "bf16",
    *,
    sizes: str = "table",
    ram_bw: int | None = None,
    disk_bw: int | None = None,
    model_dir: str | None = None,
    catalog: Catalog | None = None,
) -> dict[str, Any]:
    """The estimate of ``model_id`` ``quant_id`` at ``context_tokens`` as a JSON-ready dict (the MCP server's
    ``estimate`` tool and ``vram-advisor estimate --json``). ``inventory`` (already filtered to the visible GPUs)
    adds the placements' fits and speeds; without it the breakdown is machine-independent. Bad ids raise
    ``UsageError``."""
    catalog = catalog or default_catalog()
    model = catalog.model(model_id)
    quant = model.quant(quant_id.strip().lower())
    kv_dtype, sizes = kv_dtype.strip().lower(), sizes.strip().lower()
    machine = machine_view(inventory, ram_bw, disk_bw, model_dir) if inventory is not None else None
    estimate = estimate_option(model, quant, context_tokens, machine, kv_dtype, sizes)
    return estimate_dict(estimate, kv_dtype, sizes)
