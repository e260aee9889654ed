"""The "Instead" row of ``check``'s views: the API and the smaller local models that run here, ranked as
``check --json``'s ``alternatives.smaller_models`` (plan/alternatives.py), each with its score and decode speed,
and the command of the first."""

from __future__ import annotations

from rich.text import Text

from vram_advisor.plan.alternative_run import run_steps
from vram_advisor.plan.alternatives import USABLE_TOKENS_PER_S, Alternative, plan_alternatives
from vram_advisor.plan.check import CheckReport
from vram_advisor.plan.estimate import PLACEMENT_CPU, PLACEMENT_GPU, PLACEMENT_HYBRID

_WHERE = {PLACEMENT_GPU: "on the GPU", PLACEMENT_HYBRID: "GPU+RAM", PLACEMENT_CPU: "CPU"}


def _entry(alternative: Alternative) -> str:
    model, chosen = alternative.model, alternative.chosen
    parts = [f"{model.name} {model.quant} {model.size_gb:.1f} GB"]
    if model.score is not None:
        parts.append(f"{model.score.benchmark} {model.score.value:g}")
    speed = chosen.speed if chosen is not None else None
    if speed is not None:
        parts.append(speed.text())
    elif chosen is not None:
        parts.append("speed unknown: a bandwidth is unknown")
    if chosen is not None:
        parts.append(_WHERE.get(chosen.kind, chosen.kind))
    return f"{parts[0]} ({', '.join(parts[1:])})" if len(parts) > 1 else parts[0]


def alternatives_text(report: CheckReport, limit: int = 8, command: bool = True) -> Text | None:
    """The API and the ``limit`` first smaller models, with the first one's command (``command``: the full views),
    when the verdict is not a plain local run."""
    plan = report.plan
    rec = plan.recommendation
    if rec.kind == "local" and not (rec.option and rec.option.experimental):
        return None
    text = Text()
    if plan.api is not None:
        text.append(f"{plan.api.name} ({plan.api.url})")
    planned = plan_alternatives(
        [fit.model for fit in report.plan.small_models], report.estimates.machine, report.estimates.context_tokens
    )
    shown = [_entry(a) for a in planned[:limit]]
    if shown:
        many = "smaller local models that fit" if len(shown) > 1 else "a smaller local model that fits"
        if command:  # the full views say how they are ranked
            many += f" (>= {USABLE_TOKENS_PER_S:g} tok/s first, then by score)"
        text.append(
            f"; or {many}: " + "; ".join(shown) if text else f"{many[0].upper()}{many[1:]}: " + "; ".join(shown)
        )
        steps = run_steps(planned[0], report.estimates.machine) if command else ()
        if steps:
            text.append("\n")
            text.append(f"run {planned[0].model.name}: {steps[-1]}", style="dim")
        first = planned[0].model.score
        if first is not None and command:
            text.append("\n")
            text.append(f"score: {first.benchmark}, {first.source.title} ({first.date})", style="dim")
    elif rec.kind != "local":
        text.append("; no smaller local model in the catalogue fits either")
    return text
