"""One option's whole estimate: the KV cache at the planned context, the weights, and every placement on a machine
(or machine-independent), with the assumptions behind the numbers in words. Also the input checks shared by the
``estimate`` command, ``check`` and the MCP tool (context within the model's limit, KV format, sizes). Pure.
"""

from __future__ import annotations

from dataclasses import replace

from vram_advisor.catalog.architecture import KV_DTYPES, Architecture, QuantBits
from vram_advisor.catalog.profiles import ModelProfile, QuantRow
from vram_advisor.core import units
from vram_advisor.core.errors import UsageError
from vram_advisor.core.numbers import shown
from vram_advisor.core.records import Record, dataclass
from vram_advisor.plan.estimate.engram import placements_engram_on_disk
from vram_advisor.plan.estimate.kv import KvEstimate, kv_cache_bytes, kv_for_engine
from vram_advisor.plan.estimate.placement import MachineView, Placement, heterogeneity_warning
from vram_advisor.plan.estimate.speed import serial_estimate_words
from vram_advisor.plan.estimate.weights import (
    CUDA_CONTEXT_BYTES,
    LLAMA_CPP_COMPUTE_BYTES,
    SIZES,
    VLLM_ACTIVATION_BYTES,
    VLLM_NON_TORCH_TP1_BYTES,
    VLLM_NON_TORCH_TP_BYTES,
    ActiveBytes,
    WeightsEstimate,
    active_bytes,
    weights_estimate,
    weights_in_use,
)
from vram_advisor.plan.estimate.where import best_placement
from vram_advisor.plan.machine import PLACEMENT_GPU

#: The sequences the printed commands serve, and so the sequences the KV estimate is for: llama-server runs with
#: ``-np 1`` (its default is 4 parallel slots), vLLM's estimate is one sequence at ``--max-model-len``.
SERVED_SEQUENCES = 1


def kv_cache_name(engine: str, dtype: str) -> str:
    """The KV format as the engine names it: llama.cpp's V4 cache is "f16" (its logs: ``K (f16)``, 1024 B per cell
    and layer in issue #27680), the 2-byte rows the profile calls bf16."""
    return "f16" if engine == "llama.cpp" and dtype == "bf16" else dtype


@dataclass(frozen=True, eq=False, repr=False)
class Estimate(Record):
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


def kv_dtype_of(text: str) -> str:
    """``--kv-dtype`` (any case) as a known KV format; anything else is a UsageError naming the text given."""
    kv = text.strip().lower()
    if kv not in KV_DTYPES:
        raise UsageError(f"--kv-dtype {shown(text)}: expected one of {', '.join(KV_DTYPES)}")
    return kv


def sizes_of(text: str) -> str:
    """``--sizes`` (any case) as ``table`` or ``published``; anything else is a UsageError."""
    basis = text.strip().lower()
    if basis not in SIZES:
        raise UsageError(f"--sizes {shown(text)}: expected one of {', '.join(SIZES)}")
    return basis


def check_context(model: ModelProfile, context_tokens: int) -> None:
    """A context below one token, or beyond the model's own limit, is a usage error."""
    if context_tokens < 1:
        raise UsageError(f"--context {context_tokens:,}: the context must be at least one token")
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
    *,
    download: tuple[int, str] | None = None,
    offload: bool = True,
    kv_factor: tuple[float, str | None] = (1.0, None),
    sequences: int = SERVED_SEQUENCES,
) -> Estimate:
    """The estimate of one model x quantization at ``context_tokens``, on ``machine`` (or machine-independent).
    ``download`` (bytes, basis) is the file a plan loads; without ``offload`` (an engine that keeps everything in
    GPU memory: vLLM, SGLang, ds4, MLX) only the GPU placement is made; ``kv_factor`` (factor, source) is how
    much more KV cache the engine keeps than the rows count (``kv.kv_for_engine``); ``sequences`` is how many
    sequences of ``context_tokens`` the KV cache holds (``--users``: the printed command serves that many)."""
    kv_dtype = kv_dtype_of(kv_dtype)
    check_context(model, context_tokens)
    weights = weights_estimate(model, quant, sizes, download)
    arch, bits = model.architecture, quant.bits
    warnings = list(weights.warnings)
    if arch is None or bits is None:
        missing = "architecture" if arch is None else f"bits for {quant.id}"
        why = f"{model.id}: its profile ({model.origin}) has no {missing}: no KV, placement or speed estimate"
        return Estimate(model, quant, context_tokens, None, weights, None, (), machine, (), tuple(warnings), why)
    if bits.engine == "vllm" and "fp8" in arch.kv_rows:  # the printed vLLM line runs --kv-cache-dtype fp8
        kv_dtype = "fp8"
    kv = kv_for_engine(kv_cache_bytes(arch, context_tokens, kv_dtype, sequences), *kv_factor)
    found = placements_engram_on_disk(arch, bits, weights, kv, machine)
    if not offload:
        found = tuple(p for p in found if p.kind == PLACEMENT_GPU)
    if machine is not None:
        hetero = heterogeneity_warning(machine)
        if hetero is not None:
            warnings.append(hetero)
        if bits.engine == "vllm" and any(_cc_major(gpu.compute_capability) < 8 for gpu in machine.gpus):
            warnings.append(
                f"{model.id} {quant.id}: V100 (SM70) cannot run the FP4 path in vLLM: V4's FP4 MoE experts need "
                "compute capability 8.0 or newer (1CatAI/1Cat-vLLM #82)"
            )
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


#: Where the KV formula comes from, as each engine family implements it.
KV_SOURCES = {
    "vllm": "(the vLLM blog 'DeepSeek V4 in vLLM'; row sizes: vllm-project/vllm#48993)",
    "llama.cpp": "(the layer schedule: the checkpoint's config.json compress_ratios; the CSA, HCA and indexer caches: "
    "llama.cpp src/llama-kv-cache-dsv4.cpp, ggml-org/llama.cpp#24162)",
}


def overhead_words(engine: str) -> str:
    """The runtime overhead per GPU the estimate counts for ``engine``'s family, with its source."""
    if engine == "vllm":
        return (
            f"runtime overhead per GPU: vLLM {units.format_gib(VLLM_NON_TORCH_TP1_BYTES + VLLM_ACTIVATION_BYTES, 2)} "
            f"at tensor-parallel 1 and {units.format_gib(VLLM_NON_TORCH_TP_BYTES + VLLM_ACTIVATION_BYTES, 2)} per "
            "GPU above it (PR #10511); CUDA-graph memory (1-3 GiB per GPU) is not counted"
        )
    return (
        f"runtime overhead per GPU: {units.format_gib(CUDA_CONTEXT_BYTES + LLAMA_CPP_COMPUTE_BYTES, 2)}, llama.cpp's "
        "(GPU context ~456 MiB and compute buffers 548-985 MiB, taken as 1 GiB: ggml-org/llama.cpp#15860)"
    )


def _cc_major(compute_capability: str | None) -> int:
    """The major version of a compute capability ("7.0" -> 7); unknown counts as new enough."""
    try:
        return int((compute_capability or "").split(".")[0])
    except ValueError:
        return 99


def estimate_with_weights(estimate: Estimate, size_bytes: int, basis: str) -> Estimate:
    """``estimate`` again with ``size_bytes`` of weights (``basis``: "published" or "computed"), e.g. what a command
    that loads a published file needs; unchanged when that is the size in use or the profile cannot place the
    weights."""
    arch, bits, kv = estimate.model.architecture, estimate.quant.bits, estimate.kv
    if arch is None or bits is None or kv is None or size_bytes == estimate.weights.bytes:
        return estimate
    weights = weights_in_use(estimate.weights, size_bytes, basis, arch, bits)
    return replace(
        estimate,
        weights=weights,
        placements=placements_engram_on_disk(arch, bits, weights, kv, estimate.machine),
        assumptions=assumptions(arch, bits, kv, weights, estimate.machine),
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
        f"{kv.amortised_bytes_per_token:,.0f} B/token amortised, {kv.sequences} sequence(s), as many as the printed "
        "command serves (-np 1) " + KV_SOURCES.get(bits.engine, KV_SOURCES["vllm"]),
        f"weights: {weights.basis} figure, {units.format_file_gb(weights.bytes)}; routed experts "
        f"{arch.routed_params / 1e9:,.2f}B params (layers x experts x 3 x hidden x expert width) at {bits.experts:g} "
        f"bits, the other {arch.other_params / 1e9:,.2f}B at {bits.other:g} bits ({bits.format}; block sizes: "
        "ggml-org/llama.cpp ggml/src/ggml-common.h; V4's FP4 experts: anthony-chaudhary/fak#12635)",
        f"decode reads per token: {arch.active_routed_params / 1e9:.2f}B active routed params "
        f"({units.format_file_gb(active.routed)}) + {arch.active_other_params / 1e9:.2f}B other active params "
        f"({units.format_file_gb(active.other)}) of the model card's {arch.params_active / 1e9:g}B active; KV reads "
        "and compute are not counted",
        f"decode speed: {serial_estimate_words(bits.engine)}; upper bound (JSON only) = the slowest tier's peak "
        "bandwidth / the bytes it reads per token",
        overhead_words(bits.engine),
        "GPU+RAM and mmap plans put routed experts (llama.cpp tensors matching 'exps') off the GPU and assume experts "
        "are used evenly",
    ]
    if kv.engine_factor != 1.0:
        lines[0] += f"; x{kv.engine_factor:g} for the engine that runs it ({kv.engine_source or 'its own figure'})"
    if bits.engine == "vllm":
        lines.append(
            "vLLM runs V4 only with --kv-cache-dtype fp8 (a hard requirement, passed by its printed line): its plans "
            "count the fp8 rows, whatever --kv-dtype says"
        )
    if bits.engine == "llama.cpp" and kv.dtype == "fp8":
        lines.append("the fp8 rows are vLLM's fp8_ds_mla layout; llama.cpp keeps V4's cache in f16 (issue #27680 logs)")
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
