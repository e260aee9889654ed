"""Memory beside the KV cache: the weights of one option (the table's figure, the published files', and the
bits-per-weight arithmetic: FP4 routed experts at 4.25 bits, anthony-chaudhary/fak#12635), their split between routed
experts and everything else, the bytes one decoded token reads, and the runtime overhead per device (CUDA context,
compute buffers, vLLM's own memory), each overhead a named constant with its source (llama.cpp and vLLM PRs). Pure.
"""

from __future__ import annotations

from dataclasses import replace

from vram_advisor.catalog.architecture import Architecture, PublishedFile, QuantBits
from vram_advisor.catalog.profiles import ModelProfile, QuantRow
from vram_advisor.core import units
from vram_advisor.core.errors import UsageError
from vram_advisor.core.numbers import shown
from vram_advisor.core.records import Record, dataclass

#: ``--sizes``: which weights drive the estimate.
SIZES = ("real", "table", "published")

#: A published size that differs from the table's weights by more than this share gets a warning (issue 4).
SIZE_WARNING_FRACTION = 0.20

#: CUDA context and other memory no allocator accounts for, per GPU: llama.cpp's memory breakdown reports
#: ~451-456 MiB "unaccounted" per RTX 4090 (ggml-org/llama.cpp PR #15860). PyTorch reports ~300 MB
#: for a bare context (pytorch #107667).
CUDA_CONTEXT_BYTES = 456 * units.MIB
#: llama.cpp compute buffers per GPU at the default micro-batch: 0.5-1.5 GiB (548-985 MiB in ggml-org/llama.cpp
#: PR #15860, 1.55-1.62 GiB per RTX 3090 in issue #24608); the middle of that range.
LLAMA_CPP_COMPUTE_BYTES = 1 * units.GIB
#: The same compute buffers when llama.cpp runs on the CPU alone (held in RAM).
CPU_COMPUTE_BYTES = 1 * units.GIB
#: vLLM memory outside PyTorch's allocator per GPU (CUDA context, NCCL): 1.79 GiB at tensor-parallel 1 and 3.58 GiB
#: at tensor-parallel 2 (vLLM PR #10511 profiling).
VLLM_NON_TORCH_TP1_BYTES = round(1.79 * units.GIB)
VLLM_NON_TORCH_TP_BYTES = round(3.58 * units.GIB)
#: vLLM's activation peak per GPU at batch 1: 1.26 GiB (vLLM PR #10511). Long prefill and large batches
#: need more (36.6 GiB in PR #12126's VLM case).
VLLM_ACTIVATION_BYTES = round(1.26 * units.GIB)
#: vLLM's default ``--gpu-memory-utilization`` in late-2026 releases (vllm-project/vllm ``vllm/config/cache.py`` at
#: 002f10e0), and the most the Unsloth docs advise raising it to ("Try 0.95 or 0.97").
VLLM_DEFAULT_UTILIZATION = 0.92
VLLM_MAX_ADVISED_UTILIZATION = 0.97


@dataclass(frozen=True, eq=False, repr=False)
class WeightsEstimate(Record):
    """The weights of one option: the figure in use and where it comes from, the alternatives, and the split
    between routed experts and everything else (what a GPU+RAM hybrid puts where)."""

    bytes: int
    basis: str
    table_bytes: int
    published: tuple[PublishedFile, ...]
    computed_bytes: int | None
    other_bytes: int | None
    warnings: tuple[str, ...]
    #: the engram tables' share of ``bytes`` (DeepSeek-V4.1), which the placements leave on disk; 0 without them
    engram_bytes: int = 0

    @property
    def published_bytes(self) -> int | None:
        return self.published[0].size_bytes if self.published else None

    @property
    def routed_bytes(self) -> int | None:
        return None if self.other_bytes is None else self.bytes - self.other_bytes - self.engram_bytes

    @property
    def published_differs_by(self) -> float | None:
        """(published - table) / table for the first published file, or None."""
        if self.published_bytes is None:
            return None
        return (self.published_bytes - self.table_bytes) / self.table_bytes


def computed_weights_bytes(arch: Architecture, bits: QuantBits) -> int:
    """Weights from the bits per weight: routed params x expert bits / 8 + other params x other bits / 8
    (experts at 4.25 bits for native FP4, anthony-chaudhary/fak#12635), plus the engram tables at their bits where a
    model has them."""
    return round(arch.routed_params * bits.experts / 8 + arch.other_params * bits.other / 8) + engram_weights_bytes(
        arch, bits
    )


def engram_weights_bytes(arch: Architecture, bits: QuantBits) -> int:
    """DeepSeek-V4.1's engram tables at the quantization's engram bits (the experts' where the row gives none):
    196.6B entries, 194.6 GiB at Q8_0, 60.1 GiB at Q2_K (llama.cpp PR #28696); 0 for a model without them."""
    if not arch.engram_params:
        return 0
    return round(arch.engram_params * (bits.engram if bits.engram is not None else bits.experts) / 8)


def real_weights(model: ModelProfile, quant: QuantRow) -> tuple[int, str]:
    """The download a user would fetch for ``quant`` of the model's chosen release and where its size comes from
    (``catalog.downloads.reference_download``): the published file set (``published``), else the size computed from
    the architecture with routed experts never below their native FP4 (``computed``, never below the table's), else
    the table's figure where the profile cannot say (``table``)."""
    from vram_advisor.catalog.downloads import reference_download

    download = reference_download(model, quant)
    if download.bytes is None:
        return quant.weights_bytes, "table"
    if download.computed:
        return max(quant.weights_bytes, download.bytes), "computed"
    return download.bytes, "published"


def other_weights_bytes(arch: Architecture, bits: QuantBits) -> int:
    """Everything but the routed experts at the quantization's ``other`` bits (what stays on the GPUs when the
    routed experts go to RAM)."""
    return round(arch.other_params * bits.other / 8)


def _size_warning(model: ModelProfile, quant: QuantRow, computed: int | None, in_use: int | None = None) -> str | None:
    """The warning where the file differs much from the table's weights: the published file in use (``in_use``
    bytes, the download a plan loads), else the row's first published file, else the computed size."""
    label = f"{model.id} {quant.id}"
    table, bits = quant.weights_bytes, quant.bits
    first = quant.published[0] if quant.published else None
    if in_use is not None:
        first = next((f for f in quant.published if f.size_bytes == in_use), first)
    if first is not None:
        differs = (first.size_bytes - table) / table
        if abs(differs) <= SIZE_WARNING_FRACTION:
            return None
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
        return (
            f"{label}: the published {first.name} ({stated}) is {abs(differs):.0%} "
            f"{'larger' if differs > 0 else 'smaller'} than the table's {units.format_file_gb(table)}{why}"
        )
    if computed is not None and bits is not None and abs(computed - table) / table > SIZE_WARNING_FRACTION:
        return (
            f"{label}: no published file in the profile; {bits.experts:g} bits per routed-expert weight give "
            f"{units.format_file_gb(computed)}, {abs(computed - table) / table:.0%} "
            f"{'more' if computed > table else 'less'} than the table's {units.format_file_gb(table)}"
        )
    return None


def weights_estimate(
    model: ModelProfile, quant: QuantRow, sizes: str = "table", download: tuple[int, str] | None = None
) -> WeightsEstimate:
    """The weights in use (the table's, or the first published file's with ``sizes="published"``; ``download``,
    (bytes, basis), the file a plan loads) and the rest."""
    if sizes not in SIZES:
        raise UsageError(f"--sizes {shown(sizes)}: expected one of {', '.join(SIZES)}")
    arch, bits = model.architecture, quant.bits
    computed = computed_weights_bytes(arch, bits) if arch is not None and bits is not None else None
    warning = _size_warning(model, quant, computed, download[0] if download is not None else None)
    warnings = [warning] if warning is not None else []
    in_use, basis = quant.weights_bytes, "table"
    if download is not None:
        in_use, basis = download
    elif sizes == "real":
        in_use, basis = real_weights(model, quant)
    elif sizes == "published":
        if quant.published:
            in_use, basis = quant.published[0].size_bytes, "published"
        else:
            warnings.append(f"{model.id} {quant.id}: no published file in the profile: the table's figure is used")
    other, engram = None, 0
    if arch is not None and bits is not None:
        engram = min(in_use, engram_weights_bytes(arch, bits))
        other = min(in_use - engram, other_weights_bytes(arch, bits))
    return WeightsEstimate(
        bytes=in_use,
        basis=basis,
        table_bytes=quant.weights_bytes,
        published=quant.published,
        computed_bytes=computed,
        other_bytes=other,
        warnings=tuple(warnings),
        engram_bytes=engram,
    )


def weights_in_use(
    weights: WeightsEstimate, size_bytes: int, basis: str, arch: Architecture, bits: QuantBits
) -> WeightsEstimate:
    """``weights`` with ``size_bytes`` (e.g. a published file a command loads) as the weights in use."""
    engram = min(size_bytes, engram_weights_bytes(arch, bits))
    return replace(
        weights,
        bytes=size_bytes,
        basis=basis,
        other_bytes=min(size_bytes - engram, other_weights_bytes(arch, bits)),
        engram_bytes=engram,
    )


@dataclass(frozen=True, eq=False, repr=False)
class ActiveBytes(Record):
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


# ---------------------------------------------------------------------------------------------- overheads


@dataclass(frozen=True, eq=False, repr=False)
class Overhead(Record):
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
            ("compute buffers", LLAMA_CPP_COMPUTE_BYTES, "llama.cpp PR #15860, issue #24608: 0.5-1.5 GiB per GPU"),
        ),
    )


def cpu_overhead() -> Overhead:
    """llama.cpp's compute buffers in RAM when the CPU runs everything."""
    return Overhead(
        "llama.cpp",
        1,
        (("compute buffers (in RAM)", CPU_COMPUTE_BYTES, "llama.cpp PR #15860, issue #24608: 0.5-1.5 GiB"),),
    )
