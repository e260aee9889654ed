"""The ``check`` result as data: a ``Plan`` and its inventory turned into the contract's JSON (``vram-advisor/check/v1``).

The human view reads the same ``Plan`` (render/human.py), and ``cluster`` reuses the helpers here for its nodes.
"""

from __future__ import annotations

from typing import Any

from vram_advisor.catalog.api import api_dict
from vram_advisor.core import units
from vram_advisor.inventory import model as inv
from vram_advisor.plan.rules import Option, Plan, Recommendation

CHECK_SCHEMA = "vram-advisor/check/v1"


def json_number(value: float) -> float | int:
    """A table figure as JSON writes it: a whole number as an integer, anything else rounded to 2 decimals."""
    return int(value) if float(value).is_integer() else round(value, 2)


def option_dict(option: Option) -> dict[str, Any]:
    quant = option.quant
    return {
        "model": option.model.id,
        "quant": quant.id,
        "weights_gb": json_number(quant.weights_gb),
        "min_vram_gb": json_number(quant.min_vram_gb),
        "safer_vram_gb": json_number(quant.safer_vram_gb),
        "fit": option.fit,
        "experimental": quant.experimental,
        "rank": option.rank + 1,
        "best_for": quant.best_for,
    }


def short_option(option: Option | None) -> dict[str, Any] | None:
    """An option in brief (``stretch``, ``next_up``; ``cluster`` writes the same): which, how it fits, its figures."""
    if option is None:
        return None
    return {
        "model": option.model.id,
        "quant": option.quant.id,
        "fit": option.fit,
        "experimental": option.experimental,
        "min_vram_gb": json_number(option.quant.min_vram_gb),
        "safer_vram_gb": json_number(option.quant.safer_vram_gb),
    }


def recommendation_dict(recommendation: Recommendation) -> dict[str, Any]:
    """The ``recommendation`` block of ``check --json`` (``cluster`` writes the same for each node)."""
    option = recommendation.option
    return {
        "kind": recommendation.kind,
        "model": option.model.id if option else None,
        "quant": option.quant.id if option else None,
        "fit": option.fit if option else None,
        "experimental": option.experimental if option else False,
        "reason": recommendation.reason,
    }


def check_dict(plan: Plan, inventory: inv.Inventory) -> dict[str, Any]:
    """The whole ``check --json`` document."""
    tier = None
    if plan.tier is not None:
        tier = {
            "vram_gb": json_number(plan.tier.vram_gb),
            "label": plan.tier.vram,
            "realistic": plan.tier.realistic,
            "do_not_expect": plan.tier.do_not_expect,
        }
    next_up = short_option(plan.next_up)
    if next_up is not None and plan.next_up is not None:
        short_by = units.shortfall_bytes(plan.machine.usable_vram_bytes, plan.next_up.quant.min_vram_bytes)
        next_up["short_by_bytes"] = short_by
    alternatives: dict[str, Any] = {
        "api": None if plan.api is None else api_dict(plan.api),
        "smaller_models": [
            {
                "name": fit.model.name,
                "quant": fit.model.quant,
                "size_gb": json_number(fit.model.size_gb),
                "params": fit.model.params_total,
                "runs_on": fit.runs_on,
            }
            for fit in plan.small_models
        ],
    }
    document: dict[str, Any] = {
        "schema": CHECK_SCHEMA,
        "inventory": inv.to_dict(inventory),
        "usable_vram_bytes": plan.machine.usable_vram_bytes,
        "spare_ram_bytes": plan.machine.spare_ram_bytes,
        "gpu_count": plan.machine.gpu_count,
        "base": plan.base,
        "recommendation": recommendation_dict(plan.recommendation),
        "stretch": short_option(plan.stretch),
        "next_up": next_up,
        "tier": tier,
        "advice": list(plan.advice),
        "options": [option_dict(o) for o in plan.options],
        "alternatives": alternatives,
        "notes": list(inv.all_notes(inventory)),
    }
    if plan.required is not None:
        req = plan.required
        document["required"] = {
            "model": req.option.model.id,
            "quant": req.option.quant.id,
            "fits": req.fits,
            "fit": req.option.fit,
            "reason": req.reason,
            "checks": [{"check": name, "ok": ok, "detail": detail} for name, ok, detail in req.checks],
            "disk": None if req.disk is None else {"path": req.disk.path, "free_bytes": req.disk.free_bytes},
        }
    return document


def quiet_line(plan: Plan) -> str:
    """The one line of ``check --require ... --quiet``: ``ok: ...`` or ``no: ...``."""
    assert plan.required is not None
    return f"{'ok' if plan.required.fits else 'no'}: {plan.required.reason}"
