"""The ``capacity`` block of ``check --json``: the users asked for (``--users``), the most that fit the
recommendation at the context, and their aggregate decode speed (``plan.capacity``)."""

from __future__ import annotations

from typing import Any

from vram_advisor.plan.capacity import Capacity
from vram_advisor.plan.check import CheckReport
from vram_advisor.plan.estimate.speed import SpeedEstimate, round_rate


def _speed(speed: SpeedEstimate | None) -> dict[str, Any] | None:
    if speed is None:
        return None
    return {
        "estimate": round_rate(speed.tokens_per_s),
        "low": round_rate(speed.low),
        "high": round_rate(speed.high),
        "text": speed.text(),
        "floor": speed.floor_words,
    }


def _block(found: Capacity) -> dict[str, Any]:
    return {
        "users": found.users,
        "max_users": found.max_users,
        "fits": found.users <= found.max_users,
        "placement": found.placement,
        "kv_per_user_bytes": found.kv_per_user_bytes,
        "aggregate_decode_tokens_per_s": _speed(found.aggregate),
    }


def capacity_dict(report: CheckReport) -> dict[str, Any] | None:
    """``capacity``: for the recommendation; where nothing runs for the users asked, ``for_one_user`` says what runs
    for one and how many it holds (null where nothing runs at all)."""
    users = report.options.estimate.sequences
    if report.capacity is not None:
        return {"context_tokens": report.options.context_tokens, **_block(report.capacity)}
    if report.capacity_for_one is None:
        return None
    return {
        "context_tokens": report.options.context_tokens,
        "users": users,
        "max_users": None,
        "fits": False,
        "placement": None,
        "kv_per_user_bytes": None,
        "aggregate_decode_tokens_per_s": None,
        "for_one_user": _block(report.capacity_for_one),
    }
