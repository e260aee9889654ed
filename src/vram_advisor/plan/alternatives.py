"""The smaller local models, planned like V4: for each model of the catalogue, its weights (the GGUF's size) and KV
cache at this context (from its config.json geometry: sliding-window and hybrid layers keep less), where it can run
(all on the GPUs; GPUs + RAM, with the experts of the first MoE layers in RAM for a mixture of experts or the first
layers on the GPUs for a dense model; the CPU alone), the same calibrated decode-speed model as V4's
(``estimate.speed``: bandwidth beside a per-layer floor) and the llama.cpp command (``alternative_run``).

The list is ranked by a stated score: models that decode at a usable speed (``USABLE_TOKENS_PER_S`` single
stream, by this estimate) first, each group by the catalogue's quality score (higher first; models without one
last), then by size. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from vram_advisor.catalog.localmodels import AttentionLayers, LocalArchitecture, LocalModel
from vram_advisor.core import units
from vram_advisor.core.records import Record, dataclass
from vram_advisor.inventory import bandwidth as bw
from vram_advisor.plan.estimate import (
    PLACEMENT_CPU,
    PLACEMENT_GPU,
    PLACEMENT_HYBRID,
    SERVED_SEQUENCES,
    MachineView,
    MemoryTier,
    Placement,
    cpu_overhead,
    gpu_overhead,
)

#: "Usable" single-stream decode speed, tokens per second (issue 21: ">= 10 tok/s single stream").
USABLE_TOKENS_PER_S = 10.0
#: Bytes of one cached K or V element: llama.cpp's default KV cache type is f16 (``--cache-type-k/-v f16``).
KV_ELEMENT_BYTES = 2
#: The order of preference among fitting placements, as for V4 (``estimate.PREFERENCE``).
ORDER = (PLACEMENT_GPU, PLACEMENT_HYBRID, PLACEMENT_CPU)


@dataclass(frozen=True, eq=False, repr=False)
class Split(Record):
    """How a GPUs + RAM placement divides the model: for a mixture of experts, the MoE layers whose routed experts
    stay in RAM (llama.cpp ``--n-cpu-moe N``); for a dense model, the layers on the GPUs (``-ngl N``)."""

    moe: bool
    n_cpu_moe: int = 0
    gpu_layers: int = 0


@dataclass(frozen=True, eq=False, repr=False)
class Alternative(Record):
    """One smaller model planned on this machine: its figures, every placement, the chosen one and its score."""

    model: LocalModel
    context_tokens: int
    weights_bytes: int
    kv_bytes: int
    placements: tuple[Placement, ...]
    chosen: Placement | None
    split: Split | None

    @property
    def tokens_per_s(self) -> float | None:
        speed = self.chosen.speed if self.chosen is not None else None
        return speed.tokens_per_s if speed is not None else None

    @property
    def usable(self) -> bool:
        rate = self.tokens_per_s
        return rate is not None and rate >= USABLE_TOKENS_PER_S

    @property
    def need_bytes(self) -> int:
        """Weights + KV + runtime overhead of the chosen placement (of all on the GPUs without one)."""
        placement = self.chosen or (self.placements[0] if self.placements else None)
        return placement.need_bytes if placement is not None else self.weights_bytes + self.kv_bytes


# -------------------------------------------------------------------------------------------------- memory


def kv_bytes(arch: LocalArchitecture, context_tokens: int, sequences: int = SERVED_SEQUENCES) -> int:
    """The KV cache at ``context_tokens``: per attention kind, layers x 2 (K and V) x KV heads x head dim x f16
    bytes x the tokens it keeps (the whole context, or the sliding window); linear-attention layers (Qwen3.5/3.6's
    Gated DeltaNet) keep a fixed recurrent state instead, not counted."""
    return sequences * sum(_kind_bytes(kind, context_tokens) for kind in arch.attention)


def _kind_bytes(kind: AttentionLayers, context_tokens: int) -> int:
    kept = context_tokens if kind.window is None else min(context_tokens, kind.window)
    return kind.layers * 2 * kind.kv_heads * kind.head_dim * KV_ELEMENT_BYTES * kept


def routed_bytes(arch: LocalArchitecture, file_bytes: int) -> int:
    """The routed experts' share of the file: in proportion to their parameters (a Q4_K_M GGUF quantizes experts
    and the rest alike; gpt-oss keeps its experts MXFP4, close to the file's average)."""
    return round(file_bytes * arch.routed_params / arch.params_total)


def active_read_bytes(arch: LocalArchitecture, file_bytes: int) -> tuple[int, int]:
    """Bytes one decoded token reads at the file's average bits per weight: (active routed experts, the rest of
    the active parameters)."""
    per_param = file_bytes / arch.params_total
    routed = round(arch.active_routed_params * per_param)
    other = round((arch.params_active - arch.active_routed_params) * per_param)
    return routed, other


# ---------------------------------------------------------------------------------------------- placements


def gpu_bandwidth(machine: MachineView) -> bw.Bandwidth:
    """The GPUs as llama.cpp reads them: a layer split by capacity, one GPU after another."""
    rates = [b.bytes_per_s for b in machine.gpu_bandwidths]
    if not rates:
        return bw.Bandwidth(None, "no GPU")
    missing = next((b for b in machine.gpu_bandwidths if b.bytes_per_s is None), None)
    if missing is not None:
        return missing
    if len(rates) == 1:
        return machine.gpu_bandwidths[0]
    total = sum(machine.capacities) or 1
    seconds = sum(cap / total / (rate or 1) for cap, rate in zip(machine.capacities, rates, strict=True))
    return bw.Bandwidth(round(1 / seconds), f"{len(rates)} GPUs one after another (layer split by capacity)")


def _placement(
    kind: str,
    *,
    arch: LocalArchitecture,
    weights_gpu: int,
    weights_ram: int,
    kv: int,
    tiers: tuple[MemoryTier, ...],
    fits: bool,
    reason: str,
    machine: MachineView,
) -> Placement:
    on_gpu = kind != PLACEMENT_CPU
    gpus = len(machine.gpus) if on_gpu else 0
    return Placement(
        kind=kind,  # type: ignore[arg-type]
        engine="llama.cpp",
        weights_gpu=weights_gpu,
        weights_ram=weights_ram,
        weights_disk=0,
        kv_bytes=kv,
        kv_on="gpu" if on_gpu else "ram",
        overhead=gpu_overhead("llama.cpp", gpus) if on_gpu else cpu_overhead(),
        overhead_on="gpu" if on_gpu else "ram",
        fits=fits,
        reason=reason,
        tiers=tiers,
        gpus_used=gpus,
        budget_bytes=machine.usable_vram_bytes if on_gpu else machine.spare_ram_bytes,
        layers=arch.layers,
    )


def _all_on_gpu(arch: LocalArchitecture, file_bytes: int, kv: int, machine: MachineView) -> Placement:
    overhead = gpu_overhead("llama.cpp", len(machine.gpus)).total_bytes
    need = file_bytes + kv + overhead
    fits = bool(machine.gpus) and need <= machine.usable_vram_bytes
    reason = (
        f"needs {units.format_gib(need)} of VRAM (weights {units.format_gib(file_bytes)} + KV "
        f"{units.format_gib(kv)} + overhead {units.format_gib(overhead)}), "
        f"{units.format_gib(machine.usable_vram_bytes)} usable"
    )
    routed, other = active_read_bytes(arch, file_bytes)
    tier = MemoryTier("gpu", need, routed + other, gpu_bandwidth(machine))
    return _placement(
        PLACEMENT_GPU,
        arch=arch,
        weights_gpu=file_bytes,
        weights_ram=0,
        kv=kv,
        tiers=(tier,),
        fits=fits,
        reason=reason,
        machine=machine,
    )


def _moe_split(
    arch: LocalArchitecture, file_bytes: int, kv: int, machine: MachineView
) -> tuple[Placement, Split] | None:
    """Non-expert weights, KV and the experts of as many MoE layers as fit on the GPUs; the experts of the first
    ``N`` MoE layers in RAM (llama.cpp ``--n-cpu-moe N``)."""
    assert arch.moe is not None
    routed = routed_bytes(arch, file_bytes)
    other = file_bytes - routed
    overhead = gpu_overhead("llama.cpp", len(machine.gpus)).total_bytes
    fixed = other + kv + overhead
    per_layer = routed / arch.moe.layers
    room = machine.usable_vram_bytes - fixed
    on_gpu_layers = max(0, min(arch.moe.layers - 1, math.floor(room / per_layer))) if room > 0 else 0
    n_cpu = arch.moe.layers - on_gpu_layers
    routed_ram = round(per_layer * n_cpu)
    routed_gpu = routed - routed_ram
    fits = room >= 0 and routed_ram <= machine.spare_ram_bytes
    reason = (
        f"GPUs: {units.format_gib(fixed + routed_gpu)} (non-expert weights, KV, overhead and the experts of "
        f"{on_gpu_layers} of {arch.moe.layers} MoE layers), {units.format_gib(machine.usable_vram_bytes)} usable; "
        f"RAM: {units.format_gib(routed_ram)} of experts, {units.format_gib(machine.spare_ram_bytes)} to spare"
    )
    active_routed, active_other = active_read_bytes(arch, file_bytes)
    ram_share = n_cpu / arch.moe.layers
    ram_reads = round(active_routed * ram_share)
    tiers = (
        MemoryTier("gpu", fixed + routed_gpu, active_other + active_routed - ram_reads, gpu_bandwidth(machine)),
        MemoryTier("ram", routed_ram, ram_reads, machine.ram_bandwidth),
    )
    placement = _placement(
        PLACEMENT_HYBRID,
        arch=arch,
        weights_gpu=other + routed_gpu,
        weights_ram=routed_ram,
        kv=kv,
        tiers=tiers,
        fits=fits,
        reason=reason,
        machine=machine,
    )
    return placement, Split(moe=True, n_cpu_moe=n_cpu)


def _layer_split(
    arch: LocalArchitecture, file_bytes: int, kv: int, machine: MachineView
) -> tuple[Placement, Split] | None:
    """A dense model: KV and the first ``N`` layers on the GPUs (llama.cpp ``-ngl N``), the rest in RAM."""
    overhead = gpu_overhead("llama.cpp", len(machine.gpus)).total_bytes
    per_layer = file_bytes / arch.layers
    room = machine.usable_vram_bytes - kv - overhead
    gpu_layers = max(0, min(arch.layers - 1, math.floor(room / per_layer))) if room > 0 else 0
    if gpu_layers == 0:
        return None
    weights_gpu = round(per_layer * gpu_layers)
    weights_ram = file_bytes - weights_gpu
    fits = weights_ram <= machine.spare_ram_bytes
    reason = (
        f"GPUs: {units.format_gib(weights_gpu + kv + overhead)} (KV, overhead and {gpu_layers} of {arch.layers} "
        f"layers), {units.format_gib(machine.usable_vram_bytes)} usable; RAM: {units.format_gib(weights_ram)} of "
        f"weights, {units.format_gib(machine.spare_ram_bytes)} to spare"
    )
    routed, other = active_read_bytes(arch, file_bytes)
    gpu_reads = round((routed + other) * gpu_layers / arch.layers)
    tiers = (
        MemoryTier("gpu", weights_gpu + kv + overhead, gpu_reads, gpu_bandwidth(machine)),
        MemoryTier("ram", weights_ram, routed + other - gpu_reads, machine.ram_bandwidth),
    )
    placement = _placement(
        PLACEMENT_HYBRID,
        arch=arch,
        weights_gpu=weights_gpu,
        weights_ram=weights_ram,
        kv=kv,
        tiers=tiers,
        fits=fits,
        reason=reason,
        machine=machine,
    )
    return placement, Split(moe=False, gpu_layers=gpu_layers)


def _cpu_only(arch: LocalArchitecture, file_bytes: int, kv: int, machine: MachineView) -> Placement:
    overhead = cpu_overhead().total_bytes
    need = file_bytes + kv + overhead
    routed, other = active_read_bytes(arch, file_bytes)
    return _placement(
        PLACEMENT_CPU,
        arch=arch,
        weights_gpu=0,
        weights_ram=file_bytes,
        kv=kv,
        tiers=(MemoryTier("ram", need, routed + other, machine.ram_bandwidth),),
        fits=need <= machine.spare_ram_bytes,
        reason=f"RAM: {units.format_gib(need)} needed, {units.format_gib(machine.spare_ram_bytes)} to spare",
        machine=machine,
    )


def plan_model(model: LocalModel, machine: MachineView, context_tokens: int) -> Alternative:
    """One model on this machine at ``context_tokens`` (bounded by the model's own context length)."""
    arch = model.architecture
    file_bytes = model.size_bytes
    if arch is None:
        return Alternative(model, context_tokens, file_bytes, 0, (), None, None)
    context = min(context_tokens, arch.max_context_tokens)
    kv = kv_bytes(arch, context)
    found: list[Placement] = []
    split: Split | None = None
    with_gpu = bool(machine.gpus)
    if with_gpu:
        found.append(_all_on_gpu(arch, file_bytes, kv, machine))
    if with_gpu and not machine.unified:
        hybrid = (_moe_split if arch.moe is not None else _layer_split)(arch, file_bytes, kv, machine)
        if hybrid is not None:
            found.append(hybrid[0])
            split = hybrid[1]
    if not machine.unified or not with_gpu:
        found.append(_cpu_only(arch, file_bytes, kv, machine))
    fitting = [p for p in found if p.fits]
    chosen = min(fitting, key=lambda p: ORDER.index(p.kind), default=None)
    return Alternative(
        model=model,
        context_tokens=context,
        weights_bytes=file_bytes,
        kv_bytes=kv,
        placements=tuple(found),
        chosen=chosen,
        split=split if chosen is not None and chosen.kind == PLACEMENT_HYBRID else None,
    )


# ------------------------------------------------------------------------------------------------- ranking


def rank_key(alternative: Alternative) -> tuple[bool, float, float]:
    """The ranking: usable speed first, then the score (higher first; none last), then the larger file."""
    score = alternative.model.score
    return (not alternative.usable, -(score.value if score is not None else -1.0), -alternative.weights_bytes)


def plan_alternatives(
    models: Sequence[LocalModel], machine: MachineView, context_tokens: int
) -> tuple[Alternative, ...]:
    """The models that run here (a placement fits, or the catalogue cannot say: no architecture), ranked."""
    planned = [plan_model(model, machine, context_tokens) for model in models]
    kept = [a for a in planned if a.chosen is not None or a.model.architecture is None]
    return tuple(sorted(kept, key=rank_key))


def ranking_words() -> str:
    """The ranking rule, in one line (JSON and the views)."""
    return (
        f"models that decode at >= {USABLE_TOKENS_PER_S:g} tok/s (single stream, this estimate) first, each group "
        "by its score (higher first), then by size"
    )
