"""Contract rule 9 on one machine: the judge that ``rules.plan`` calls for every option, and the real need of an
option on a group of nodes (``cluster``'s multi-node plans).

``judge_for`` sees the machine once (its platform, its view for the placements) and returns a judge that, per
option, chooses the download and engine it runs on here (``choose.choose``) and gives the row raised to that
need, its fit and placement, and the choice itself; and a function returning every choice it made, so that the run
command and the views use the very estimate the verdict was judged on. Pure.
"""

from __future__ import annotations

from collections.abc import Callable

from vram_advisor.catalog.downloads import reference_download
from vram_advisor.catalog.engines import EngineTable, platform_of
from vram_advisor.catalog.profiles import ModelProfile, QuantRow
from vram_advisor.core.errors import UsageError
from vram_advisor.inventory.model import Inventory
from vram_advisor.plan import estimate as est
from vram_advisor.plan.choose import Choice, choose, raised_row
from vram_advisor.plan.estimate.weights import real_weights
from vram_advisor.plan.rules import Judge, Judged, Machine, fit_of, table_placement

__all__ = ["group_row", "judge_for", "raised_row"]


def judge_for(
    inventory: Inventory,
    machine: Machine,
    engines: EngineTable,
    context_tokens: int,
    kv_dtype: str = "bf16",
    ram_bw: int | None = None,
    disk_bw: int | None = None,
    model_dir: str | None = None,
    sequences: int = 1,
) -> tuple[Judge, Callable[[], dict[tuple[str, str], Choice]]]:
    """The judge for this machine, and a function returning the choices it made (keyed by model and quant id)."""
    view = est.machine_view(inventory, ram_bw, disk_bw, model_dir)
    platform = platform_of(view.gpus)
    made: dict[tuple[str, str], Choice] = {}

    def judge(model: ModelProfile, row: QuantRow) -> Judged:
        try:
            est.check_context(model, context_tokens)
            choice = choose(model, row, machine, view, platform, engines, context_tokens, kv_dtype, sequences)
        except UsageError:  # e.g. a context beyond this model's limit: judged by the table's figures
            choice = None
        if choice is None:  # no estimate here (no architecture, no file, no engine): the table's rule
            fit = fit_of(row, machine)
            return Judged(row, fit, table_placement(fit, machine), None)
        made[(model.id, row.id)] = choice
        return Judged(choice.row, choice.fit, choice.placement, choice)

    return judge, lambda: dict(made)


def group_row(model: ModelProfile, row: QuantRow, context_tokens: int, gpus: int, sequences: int = 1) -> QuantRow:
    """``row`` raised to its real need on a group of ``gpus`` GPUs spread over several nodes (``cluster``'s
    multi-node plans): the row's reference download + the KV cache at the context for ``sequences`` sequences + its
    engine's overhead on every GPU."""
    arch, bits = model.architecture, row.bits
    weights, _basis = real_weights(model, row)
    if arch is None or bits is None:
        return raised_row(row, weights, None)
    download = reference_download(model, row)
    engine = "vllm" if download.format == "safetensors" else "llama.cpp"
    kv_dtype = "fp8" if engine == "vllm" else "bf16"  # vLLM runs V4 only with an fp8 cache
    kv = est.kv_cache_bytes(arch, context_tokens, kv_dtype, sequences).total_bytes
    return raised_row(row, weights, weights + kv + est.gpu_overhead(engine, gpus).total_bytes)
