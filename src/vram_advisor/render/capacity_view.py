"""The "Users" row of ``check``'s views: the users asked for (``--users``), their aggregate speed, and the most that
fit the recommendation at the context (``plan.capacity``)."""

from __future__ import annotations

from vram_advisor.plan.capacity import MOST_USERS
from vram_advisor.plan.check import CheckReport


def capacity_line(report: CheckReport) -> str | None:
    """One line for the human view: "Users  8 at 128k tokens: ≈ 120 tok/s in all (80-180); at most 210 fit"."""
    found = report.capacity
    tokens = report.options.context_tokens
    context = f"{tokens // 1024}k" if tokens % 1024 == 0 else f"{tokens:,}"
    if found is None:
        one = report.capacity_for_one
        if one is None:
            return None
        return (
            f"{report.options.estimate.sequences} users at {context} tokens each do not fit; the plan for one user "
            f"holds at most {one.max_users}"
        )
    most = f"at most {found.max_users:,} fit" if found.max_users < MOST_USERS else f"{MOST_USERS:,} or more fit"
    if found.users <= 1:
        return f"1 user at {context} tokens; {most} at this context"
    speed = f": {found.aggregate.text()} in all" if found.aggregate is not None else ""
    return f"{found.users} users at {context} tokens each{speed}; {most}"
