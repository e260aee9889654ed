"""Contract rule 9: judge each option on the files a user will actually load.

For one machine, context and KV format, ``judge(model, row)`` estimates the option on its real download
(``weights.real_weights``: the published file set, else the architecture's size with routed experts never below
native FP4) and returns the row with its figures raised to what that needs, the fit and where it runs:

* need = real weights + KV cache at the context for the sequences the printed command serves + runtime overhead
  per GPU (the GPU placement's own figure, engine-specific, over the GPUs it splits across);
* ``minimum`` when usable VRAM meets max(table minimum, need): the table part with the 98% rule, the need whole
  (it must also fit the placement's own budget, e.g. an even tensor-parallel split);
* ``comfortable`` when it meets max(table safer, need x the row's safer/minimum ratio) the same way;
* else ``offload`` when the same need, split as it would run, fits: the GPU part within usable VRAM and the routed
  experts within spare RAM (GPU+RAM), or everything within spare RAM (CPU alone); else ``none``.

Never more optimistic than the article: every figure is at least the table's. Pure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from vram_advisor.catalog.derive import table_figures
from vram_advisor.catalog.profiles import ModelProfile, QuantRow
from vram_advisor.core import units
from vram_advisor.core.errors import UsageError
from vram_advisor.inventory.model import Inventory
from vram_advisor.plan import estimate as est
from vram_advisor.plan.estimate.weights import real_weights
from vram_advisor.plan.rules import COMFORTABLE, MINIMUM, NONE, OFFLOAD, Judge, Machine, fit_of, table_placement


def safer_need(need_bytes: int, row: QuantRow) -> int:
    """A need scaled by the row's safer/minimum ratio (the headroom the article asks for comfort), rounded up."""
    return -(-need_bytes * row.safer_vram_bytes // row.min_vram_bytes)


def raised_row(row: QuantRow, weights_bytes: int, need_bytes: int | None) -> QuantRow:
    """``row`` with the real weights and its VRAM figures raised to ``need_bytes`` (minimum) and need x the row's
    safer/minimum ratio (safer), never below the table's own figures."""
    minimum, safer = row.min_vram_bytes, row.safer_vram_bytes
    if need_bytes is not None:
        minimum = max(minimum, units.figure_for_need(need_bytes))
        safer = max(safer, units.figure_for_need(safer_need(need_bytes, row)))
    if weights_bytes == row.weights_bytes and minimum == row.min_vram_bytes and safer == row.safer_vram_bytes:
        return row
    weights_text, min_text, safer_text = table_figures(max(weights_bytes, 1), minimum, safer)
    return replace(row, weights=weights_text, min_vram=min_text, safer_vram=safer_text)


def judge_for(
    inventory: Inventory,
    machine: Machine,
    context_tokens: int,
    kv_dtype: str = "bf16",
    ram_bw: int | None = None,
    disk_bw: int | None = None,
    model_dir: str | None = None,
) -> tuple[Judge, Callable[[], dict[tuple[str, str], est.Estimate]]]:
    """The judge for this machine, and a function returning the estimates it made (keyed by model and quant id),
    so that the run command and the views use the very estimate the verdict was judged on."""
    view = est.machine_view(inventory, ram_bw, disk_bw, model_dir)
    made: dict[tuple[str, str], est.Estimate] = {}

    def judge(model: ModelProfile, row: QuantRow) -> tuple[QuantRow, str, str | None]:
        try:
            estimate = est.estimate_option(model, row, context_tokens, view, kv_dtype, "real")
        except UsageError:  # e.g. a context beyond this model's limit: judged by the table's figures
            fit = fit_of(row, machine)
            return row, fit, table_placement(fit, machine)
        made[(model.id, row.id)] = estimate
        gpu = estimate.gpu
        # what must sit in GPU memory (the need less what the placement keeps on disk, e.g. V4.1's engram tables)
        gpu_need = gpu.gpu_bytes if gpu is not None else None
        judged = raised_row(row, estimate.weights.bytes, gpu_need)
        usable = machine.usable_vram_bytes
        on_gpu = "unified" if machine.unified else "gpu"
        if gpu is not None and gpu_need is not None and gpu.fits and gpu.budget_bytes is not None:
            if units.meets(usable, judged.safer_vram_bytes) and safer_need(gpu_need, row) <= gpu.budget_bytes:
                return judged, COMFORTABLE, on_gpu
            if units.meets(usable, judged.min_vram_bytes):
                return judged, MINIMUM, on_gpu
        if gpu is None and units.meets(usable, judged.min_vram_bytes):  # no architecture: the table's rule
            return judged, fit_of(judged, machine), on_gpu
        for placement in estimate.placements:
            if placement.kind in (est.PLACEMENT_HYBRID, est.PLACEMENT_CPU) and placement.fits:
                return judged, OFFLOAD, placement.kind
        return judged, NONE, None

    return judge, lambda: dict(made)


def group_row(model: ModelProfile, row: QuantRow, context_tokens: int, gpus: int) -> QuantRow:
    """``row`` raised to its real need on a group of ``gpus`` GPUs spread over several nodes (``cluster``'s
    multi-node plans): the real download + the KV cache at the context + the engine's overhead on every GPU."""
    arch, bits = model.architecture, row.bits
    weights, _basis = real_weights(model, row)
    if arch is None or bits is None:
        return raised_row(row, weights, None)
    kv_dtype = "fp8" if bits.engine == "vllm" else "bf16"  # vLLM runs V4 only with an fp8 cache
    kv = est.kv_cache_bytes(arch, context_tokens, kv_dtype).total_bytes
    return raised_row(row, weights, weights + kv + est.gpu_overhead(bits.engine, gpus).total_bytes)
