"""Speeds measured here (``verify``'s calibration points) beside the estimates: which point, if any, speaks for a
placement, and the placement carrying it.

A point speaks for a placement when it was measured on this machine (the inventory's fingerprint), for the same
model, quantization, placement and engine; the newest such point wins. It changes the speed shown (the text, and the
range stretched to take it in: ``speed.SpeedEstimate.with_measured``), never a fit, a verdict or an exit code.
Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from vram_advisor.inventory.model import MeasuredSpeed
from vram_advisor.plan.estimate.placement import Placement


def point_for(
    points: Sequence[MeasuredSpeed], model: str, quant: str, placement: str, engine: str | None
) -> MeasuredSpeed | None:
    """The newest of ``points`` measured for this model, quantization, placement and engine."""
    matching = [
        p
        for p in points
        if p.model == model
        and p.quant == quant
        and p.placement == placement
        and engine is not None
        and p.engine == engine
    ]
    return max(matching, key=lambda p: p.measured_at, default=None)


def measured_placement(
    placement: Placement, points: Sequence[MeasuredSpeed], model: str, quant: str, engine: str | None
) -> Placement:
    """``placement`` with the point that speaks for it (unchanged where none does)."""
    point = point_for(points, model, quant, placement.kind, engine)
    return placement if point is None else replace(placement, measured=point)


def newest_first(points: Iterable[MeasuredSpeed]) -> list[MeasuredSpeed]:
    """Points as every view lists them: the newest first."""
    return sorted(points, key=lambda p: p.measured_at, reverse=True)


def point_dict(point: MeasuredSpeed) -> dict[str, Any]:
    """A point as JSON (``check``'s ``measured`` list, the speed's ``measured_here``, ``cluster``'s nodes)."""
    return {
        "model": point.model,
        "quant": point.quant,
        "placement": point.placement,
        "engine": point.engine,
        "decode_tokens_per_s": round(point.decode_tokens_per_s, 2),
        "first_token_s": None if point.first_token_s is None else round(point.first_token_s, 3),
        "tokens": point.tokens,
        "context_tokens": point.context_tokens,
        "engine_decode_tokens_per_s": None
        if point.engine_decode_tokens_per_s is None
        else round(point.engine_decode_tokens_per_s, 2),
        "measured_at": point.measured_at,
        "served_model": point.served_model,
    }
