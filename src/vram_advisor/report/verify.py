"""``verify``: what the engine did against what the estimate says for that option here, as one typed result and its
``vram-advisor/verify/v1`` document. Pure: the observation (``engine.session``), the inventory and the catalogue in.
"""

from __future__ import annotations

from typing import Any

from vram_advisor.catalog.profiles import Catalog
from vram_advisor.engine.session import Observation
from vram_advisor.inventory.model import Inventory
from vram_advisor.plan.estimate.placement import Placement
from vram_advisor.plan.estimate.speed import format_rate, round_rate
from vram_advisor.plan.machine import PLACEMENT_CPU, PLACEMENT_GPU
from vram_advisor.plan.served import Mapping
from vram_advisor.report.estimate import estimate_and_document, speed_dict

VERIFY_SCHEMA = "vram-advisor/verify/v1"


def default_placement(given: str | None, inventory: Inventory) -> str:
    """Where a run is taken to be when neither ``--placement`` nor the estimate says: the GPUs on a machine with
    them, else the CPU."""
    return given or (PLACEMENT_GPU if inventory.visible_gpus else PLACEMENT_CPU)


def estimate_for(
    mapping: Mapping, inventory: Inventory, context_tokens: int, placement: str | None, catalog: Catalog
) -> tuple[Placement | None, str, str | None, str]:
    """The estimate's placement for the option the server runs, at its context, on this machine (``placement``, else
    the one the estimate picks, else the CPU on a machine without GPUs and the GPUs on one with), its engine, and a
    reason where there is none or its speed is unknown; and the placement's kind either way (what a measurement is
    kept under). Speeds already measured here are left out: the estimate alone is compared."""
    from vram_advisor.core.errors import UsageError

    model = catalog.model(mapping.model)
    limit = model.architecture.max_context_tokens if model.architecture is not None else context_tokens
    try:
        estimate, document = estimate_and_document(
            mapping.model,
            mapping.quant,
            min(context_tokens, limit),
            inventory.replace(measured=()) if inventory.measured else inventory,
            sizes="real",
            catalog=catalog,
            release=mapping.release,
        )
    except UsageError as exc:
        return None, default_placement(placement, inventory), None, exc.message
    run = document.get("run")
    engine = run["engine_id"] if isinstance(run, dict) and isinstance(run.get("engine_id"), str) else None
    kind = default_placement(placement or document["recommended_placement"], inventory)
    found = next((p for p in estimate.placements if p.kind == kind), None)
    if found is None:
        kinds = ", ".join(p.kind for p in estimate.placements)
        return None, kind, engine, f"no {kind} placement for {mapping.model} {mapping.quant} here (there are: {kinds})"
    if found.speed is None:
        return (
            found,
            kind,
            engine,
            f"the {kind} placement's speed is unknown here (a bandwidth the probe could not read)",
        )
    return found, kind, engine, ""


def comparison(measured: float | None, placement: Placement | None) -> tuple[float | None, bool | None, str]:
    """The ratio measured / estimated, whether the measured speed is within the estimate's range, and the verdict in
    words, saying by how much it is outside."""
    speed = placement.speed if placement is not None else None
    if measured is None:
        return None, None, "too few tokens streamed to measure a decode speed"
    if speed is None:
        return None, None, f"measured {format_rate(measured)} tok/s; no estimate to hold it against"
    ratio = measured / speed.tokens_per_s
    said = f"measured {format_rate(measured)} tok/s, {ratio:.2f}x the estimate {speed.text()}"
    if measured < speed.low:
        return ratio, False, f"{said}: BELOW its range, {speed.low / measured:.2f}x under its low end"
    if measured > speed.high:
        return ratio, False, f"{said}: ABOVE its range, {measured / speed.high:.2f}x over its high end"
    return ratio, True, f"{said}: within its range"


def verify_document(
    url: str,
    observation: Observation,
    mapping: Mapping | None,
    mapping_reason: str,
    placement: Placement | None,
    estimate_engine: str | None,
    estimate_reason: str,
    context_tokens: int,
    stored: dict[str, Any] | None,
    notes: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The ``vram-advisor/verify/v1`` document (contract: ``url``, ``engine``, ``model``, ``context_tokens``,
    ``measured``, ``estimate``, ``ratio``; the rest added)."""
    served, found = observation.served, observation.measurement
    ratio, within, verdict = comparison(found.decode_tokens_per_s, placement)
    agreement = None
    if found.decode_tokens_per_s is not None and found.engine_decode_tokens_per_s:
        agreement = found.decode_tokens_per_s / found.engine_decode_tokens_per_s
    estimate = None
    if mapping is not None and placement is not None and placement.speed is not None:
        estimate = {
            "model": mapping.model,
            "quant": mapping.quant,
            "release": mapping.release,
            "placement": placement.kind,
            "engine": estimate_engine,
            "decode_tokens_per_s": speed_dict(placement),
            "need_bytes": placement.need_bytes,
            "gpu_bytes": placement.gpu_bytes,
        }
    return {
        "schema": VERIFY_SCHEMA,
        "url": url,
        "engine": served.engine,
        "engine_version": served.engine_version,
        "model": served.model_id,
        "context_tokens": context_tokens,
        "served": {
            "identified_by": list(served.evidence),
            "root": served.root,
            "path": served.path,
            "size_bytes": served.size_bytes,
            "n_params": served.n_params,
            "context_tokens": served.context_tokens,
            "models_served": served.models_served,
        },
        "measured": {
            "decode_tokens_per_s": round_rate(found.decode_tokens_per_s),
            "first_token_s": round(found.first_token_s, 3),
            "tokens": found.tokens,
            "tokens_asked": observation.tokens_asked,
            "chunks": found.chunks,
            "decode_seconds": round(found.decode_s, 3),
            "endpoint": observation.endpoint,
            "finish_reason": found.finish_reason,
            "engine_decode_tokens_per_s": round_rate(found.engine_decode_tokens_per_s),
            "engine_source": found.engine_source,
            "client_vs_engine": round_rate(agreement, 3),
        },
        "mapping": None
        if mapping is None
        else {"model": mapping.model, "quant": mapping.quant, "release": mapping.release, "how": mapping.how},
        "mapping_reason": mapping_reason or None,
        "estimate": estimate,
        "estimate_reason": estimate_reason or None,
        "ratio": round_rate(ratio, 3),
        "within_range": within,
        "verdict": verdict,
        "gpu_memory": _gpu_memory(observation, placement),
        "stored": stored,
        "notes": [*observation.notes, *notes],
    }


def _gpu_memory(observation: Observation, placement: Placement | None) -> dict[str, Any] | None:
    before, during = observation.gpu_memory_before, observation.gpu_memory_during
    if before is None and during is None:
        return None
    return {
        "used_before_bytes": list(before) if before is not None else None,
        "used_during_bytes": list(during) if during is not None else None,
        "used_during_total_bytes": sum(during) if during is not None else None,
        "estimate_gpu_bytes": placement.gpu_bytes if placement is not None else None,
    }
