"""The engine's own per-token latency from its Prometheus text (``/metrics``), to hold the client's figure against.

vLLM and SGLang export histograms of the time between output tokens: vLLM ``vllm:inter_token_latency_seconds``
(``vllm:time_per_output_token_seconds`` before it, https://docs.vllm.ai/en/latest/design/metrics.html), SGLang
``sglang:inter_token_latency_seconds`` / ``sglang:time_per_output_token_seconds``
(https://docs.sglang.ai/references/production_metrics.html). The difference of a histogram's ``_sum`` and ``_count``
across one request is that request's mean time per token; its inverse is the engine's own decode speed.

Pure, and bounded: only the sample lines of the named families are parsed (text format 0.0.4,
https://prometheus.io/docs/instrumenting/exposition_formats/).
"""

from __future__ import annotations

import math

from vram_advisor.core.records import Record, dataclass

#: The histograms of time per output token, by preference.
PER_TOKEN_HISTOGRAMS = (
    "vllm:inter_token_latency_seconds",
    "vllm:time_per_output_token_seconds",
    "sglang:inter_token_latency_seconds",
    "sglang:time_per_output_token_seconds",
)


@dataclass(frozen=True, repr=False)
class Histograms(Record):
    """The ``_sum`` and ``_count`` of each per-token histogram, summed over its label sets."""

    sums: dict[str, float]
    counts: dict[str, float]


def histograms(text: str, model: str | None = None) -> Histograms:
    """The per-token histograms' sums and counts in ``text``, summed over label sets (those of another
    ``model_name`` left out)."""
    wanted = {f"{family}{suffix}": (family, suffix) for family in PER_TOKEN_HISTOGRAMS for suffix in ("_sum", "_count")}
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        brace, space = line.find("{"), line.find(" ")
        has_labels = brace != -1 and (space == -1 or brace < space)
        name = line[:brace] if has_labels else line[:space] if space != -1 else line
        if name not in wanted:
            continue
        family, suffix = wanted[name]
        labels, value = _labels_and_value(line[brace + 1 :] if has_labels else line[len(name) :], has_labels)
        if value is None or (model is not None and labels.get("model_name", model) != model):
            continue
        target = sums if suffix == "_sum" else counts
        target[family] = target.get(family, 0.0) + value
    return Histograms(sums, counts)


def _labels_and_value(rest: str, has_labels: bool) -> tuple[dict[str, str], float | None]:
    labels: dict[str, str] = {}
    if has_labels:
        inside, _, rest = rest.partition("}")
        for pair in inside.split(","):
            key, _, raw = pair.partition("=")
            labels[key.strip()] = raw.strip().strip('"')
    fields = rest.split()
    if not fields:
        return labels, None
    try:
        value = float(fields[0])
    except ValueError:
        return labels, None
    return labels, value if math.isfinite(value) else None


def decode_speed(before: Histograms, after: Histograms) -> tuple[float, str] | None:
    """The engine's own decode speed over the request between two readings, and the histogram it comes from; None
    where no per-token histogram moved."""
    for family in PER_TOKEN_HISTOGRAMS:
        if family not in after.counts or family not in after.sums:
            continue
        count = after.counts[family] - before.counts.get(family, 0.0)
        seconds = after.sums[family] - before.sums.get(family, 0.0)
        if count >= 1 and seconds > 0:
            return count / seconds, family
    return None
