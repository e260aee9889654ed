"""The human view of ``verify``: what the server runs, what the client measured, the estimate beside it, and the
verdict. Reads only the ``vram-advisor/verify/v1`` document, so the view and ``--json`` cannot disagree. Every
text that came from the server was cut and cleaned before it got here; rich markup is never parsed from it."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.text import Text

from vram_advisor.plan.estimate.speed import format_rate


def _rate(value: float | None) -> str:
    return "?" if value is None else f"{format_rate(value)} tok/s"


def verify_view(document: dict[str, Any]) -> Group:
    served, measured = document["served"], document["measured"]
    engine = document["engine"] or "an engine it does not name"
    version = f" ({document['engine_version']})" if document["engine_version"] else ""
    lines = [Text(f"Server: {document['url']}: {engine}{version}", style="bold")]
    context = document["context_tokens"]
    lines.append(Text(f"Model served: {document['model'] or '?'} (context {context:,} tokens)"))
    if served["identified_by"]:
        lines.append(Text(f"  told by: {', '.join(served['identified_by'])}"))
    mapping = document["mapping"]
    if mapping is not None:
        release = f" (release {mapping['release']})" if mapping["release"] else ""
        lines.append(Text(f"  is {mapping['model']} {mapping['quant']}{release}: {mapping['how']}"))
    else:
        lines.append(Text(f"  not mapped to a profile option: {document['mapping_reason']}"))
    asked = measured["tokens_asked"]
    lines.append(
        Text(
            f"Measured: {_rate(measured['decode_tokens_per_s'])} decode, first token after "
            f"{measured['first_token_s']:.2f} s ({measured['tokens']} tokens of {asked} asked, "
            f"{measured['endpoint']}, as the client sees them)"
        )
    )
    if measured["engine_decode_tokens_per_s"] is not None:
        lines.append(
            Text(
                f"  the engine's own figure: {_rate(measured['engine_decode_tokens_per_s'])} "
                f"({measured['engine_source']}); client / engine = {measured['client_vs_engine']}"
            )
        )
    estimate = document["estimate"]
    if estimate is not None:
        speed = estimate["decode_tokens_per_s"]
        lines.append(
            Text(
                f"Estimate here: {estimate['model']} {estimate['quant']}, {estimate['placement']} placement: "
                f"{speed['text']}"
            )
        )
    elif document["estimate_reason"]:
        lines.append(Text(f"Estimate here: none ({document['estimate_reason']})"))
    memory = document["gpu_memory"]
    if memory is not None and memory["used_during_total_bytes"] is not None:
        need = memory["estimate_gpu_bytes"]
        beside = f" (the estimate puts {need / 2**30:.1f} GiB on the GPUs)" if need is not None else ""
        lines.append(
            Text(f"GPU memory in use during the run: {memory['used_during_total_bytes'] / 2**30:.1f} GiB{beside}")
        )
    style = "green" if document["within_range"] else ("yellow" if document["within_range"] is False else "")
    lines.append(Text(f"Verdict: {document['verdict']}", style=style))
    stored = document["stored"]
    if stored is not None:
        shown = (
            "later checks here show it beside the estimate"
            if stored["shown_beside_estimate"]
            else f"later checks here list it (no plan here runs on {stored['engine']})"
        )
        lines.append(Text(f"Kept: {stored['path']} ({stored['points']} point(s)); {shown}"))
    for note in document["notes"]:
        lines.append(Text(f"note: {note}", style="dim"))
    return Group(*lines)
