"""``alternatives.smaller_models`` of ``check --json``: each smaller model that runs here, planned like V4
(plan/alternatives.py), in the ranked order, with the keys of the older format first (``name``, ``quant``,
``size_gb``, ``params``, ``runs_on``) so that readers of it still work."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vram_advisor.catalog.localmodels import Cited, LocalModel
from vram_advisor.plan import estimate as est
from vram_advisor.plan.alternative_run import run_notes, run_steps
from vram_advisor.plan.alternatives import USABLE_TOKENS_PER_S, Alternative, plan_alternatives, ranking_words
from vram_advisor.plan.check import CheckReport
from vram_advisor.plan.fallbacks import SmallModelFit
from vram_advisor.report.estimate import speed_dict


def planned_alternatives(report: CheckReport) -> tuple[Alternative, ...]:
    """The smaller models of ``report``'s plan, planned on its machine at its context and ranked."""
    models = [fit.model for fit in report.plan.small_models]
    return plan_alternatives(models, report.estimates.machine, report.estimates.context_tokens)


def _cited(source: Cited) -> dict[str, Any]:
    return {"id": source.id, "title": source.title, "url": source.url}


def _score(model: LocalModel) -> dict[str, Any] | None:
    score = model.score
    if score is None:
        return None
    return {"benchmark": score.benchmark, "value": score.value, "date": score.date, "source": _cited(score.source)}


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 2)


def alternative_dict(alternative: Alternative, machine: est.MachineView) -> dict[str, Any]:
    """One planned smaller model as JSON."""
    model, chosen = alternative.model, alternative.chosen
    arch = model.architecture
    return {
        "name": model.name,
        "quant": model.quant,
        "size_gb": _number(model.size_gb),
        "params": model.params_total,
        "runs_on": chosen.kind if chosen is not None else None,
        "params_active": model.params_active,
        "moe": arch is not None and arch.moe is not None,
        "context_tokens": alternative.context_tokens,
        "weights_bytes": alternative.weights_bytes,
        "kv_bytes": alternative.kv_bytes,
        "need_bytes": alternative.need_bytes,
        "fits": chosen is not None,
        "placement": None
        if chosen is None
        else {
            "placement": chosen.kind,
            "gpu_bytes": chosen.gpu_bytes,
            "ram_bytes": chosen.ram_bytes,
            "reason": chosen.reason,
            "n_cpu_moe": alternative.split.n_cpu_moe if alternative.split and alternative.split.moe else None,
            "gpu_layers": alternative.split.gpu_layers if alternative.split and not alternative.split.moe else None,
        },
        "decode_tokens_per_s": speed_dict(chosen) if chosen is not None else None,
        "usable": alternative.usable,
        "run": {
            "engine": "llama.cpp",
            "gguf": None
            if model.gguf is None
            else {"repo": model.gguf.repo, "tag": model.gguf.tag, "file": model.gguf.file},
            "steps": list(run_steps(alternative, machine)),
            "notes": list(run_notes(alternative)),
        },
        "score": _score(model),
        "sources": {
            "size": _cited(model.size_source) if model.size_source is not None else model.source,
            "gguf": None if model.gguf is None else _cited(model.gguf.source),
            "architecture": None if arch is None else _cited(arch.source),
        },
    }


def smaller_models_list(
    fits: Sequence[SmallModelFit], planned: Sequence[Alternative] | None, machine: est.MachineView | None
) -> list[dict[str, Any]]:
    """The list: planned where the estimate is at hand (``check``), else the older size-only entries."""
    if planned is None or machine is None:
        return [
            {
                "name": fit.model.name,
                "quant": fit.model.quant,
                "size_gb": _number(fit.model.size_gb),
                "params": fit.model.params_total,
                "runs_on": fit.runs_on,
            }
            for fit in fits
        ]
    return [alternative_dict(alternative, machine) for alternative in planned]


def ranking_dict() -> dict[str, Any]:
    """How ``smaller_models`` is ordered (``alternatives.smaller_models_ranking``)."""
    return {"rule": ranking_words(), "usable_tokens_per_s": USABLE_TOKENS_PER_S}
