"""Prometheus metrics as data: ``check --json`` documents -> gauge families, and their text exposition.

Pure: nothing here probes, listens or reads the clock. ``serve`` builds the families from the same check documents
the CLI prints, so a scrape can never disagree with ``check --json``. ``render_text`` writes them in the Prometheus
text format (version 0.0.4) without any dependency; the tests read its output back with ``prometheus_client``'s own
parser and compare it with what ``prometheus_client`` writes for the same families.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from vram_advisor.core.records import Record, dataclass

#: ``vram_advisor_option_fit``: the contract's fit words as numbers, so ``>= 2`` means "loads from VRAM".
FIT_VALUES: Mapping[str, int] = {"none": 0, "offload": 1, "minimum": 2, "comfortable": 3}

#: The Prometheus text format both renderers write.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

GPU_LABELS = ("index", "uuid", "name")
OPTION_LABELS = ("model", "quant")


@dataclass(frozen=True, repr=False)
class Sample(Record):
    """One time series: label values in the family's label order, and its value."""

    labels: tuple[str, ...]
    value: float


@dataclass(frozen=True, repr=False)
class Family(Record):
    """One gauge metric family: name, help text, label names and samples."""

    name: str
    help: str
    labels: tuple[str, ...] = ()
    samples: tuple[Sample, ...] = ()


def _gauge(name: str, help_text: str, value: float | None) -> Family | None:
    if value is None:
        return None
    return Family(name, help_text, (), (Sample((), float(value)),))


def _number(value: Any) -> float | None:
    """A JSON number as a float; anything else (None, text, bool) as unknown."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _gpu_label_values(gpu: Mapping[str, Any], position: int) -> tuple[str, ...]:
    index = gpu.get("index")
    return (
        str(index if isinstance(index, int) else position),
        str(gpu.get("uuid") or ""),
        str(gpu.get("name") or ""),
    )


def _gpu_families(gpus: Sequence[Mapping[str, Any]]) -> list[Family]:
    fields = (
        (
            "memory_total_bytes",
            "vram_advisor_gpu_memory_total_bytes",
            "Total memory of the GPU as the driver reports it.",
        ),
        (
            "memory_reserved_bytes",
            "vram_advisor_gpu_memory_reserved_bytes",
            "Memory the driver reserves on the GPU (not usable by models).",
        ),
        ("memory_free_bytes", "vram_advisor_gpu_memory_free_bytes", "Free memory of the GPU when it was probed."),
    )
    families = []
    for key, name, help_text in fields:
        samples = []
        for position, gpu in enumerate(gpus):
            value = _number(gpu.get(key))
            if value is not None:
                samples.append(Sample(_gpu_label_values(gpu, position), value))
        families.append(Family(name, help_text, GPU_LABELS, tuple(samples)))
    visible = tuple(
        Sample(_gpu_label_values(gpu, position), 0.0 if gpu.get("visible") is False else 1.0)
        for position, gpu in enumerate(gpus)
    )
    families.append(
        Family(
            "vram_advisor_gpu_counted",
            "1 when the GPU counts towards usable VRAM, 0 when CUDA_VISIBLE_DEVICES hides it.",
            GPU_LABELS,
            visible,
        )
    )
    return families


def _option_samples(documents: Sequence[Mapping[str, Any]]) -> tuple[Sample, ...]:
    seen: dict[tuple[str, str], float] = {}
    for document in documents:
        for option in document.get("options") or ():
            key = (str(option["model"]), str(option["quant"]))
            if key not in seen:
                seen[key] = float(FIT_VALUES[str(option["fit"])])
    return tuple(Sample(key, value) for key, value in seen.items())


def _recommendation_samples(documents: Sequence[Mapping[str, Any]]) -> tuple[Sample, ...]:
    samples = []
    for document in documents:
        rec = document.get("recommendation") or {}
        labels = (
            "true" if document.get("base") else "false",
            str(rec.get("kind") or ""),
            str(rec.get("model") or ""),
            str(rec.get("quant") or ""),
            str(rec.get("fit") or ""),
        )
        samples.append(Sample(labels, 1.0))
    return tuple(samples)


def check_families(documents: Sequence[Mapping[str, Any]]) -> list[Family]:
    """The families for one machine from its ``check --json`` document(s).

    The machine-wide figures come from the first document; options are gathered from all of them (``serve``
    passes the instruct and the ``--base`` documents so every model id has its gauge), first one wins.
    """
    if not documents:
        return []
    first = documents[0]
    inventory = first.get("inventory") or {}
    ram = inventory.get("ram") or {}
    gauges = [
        _gauge(
            "vram_advisor_usable_vram_bytes",
            "Usable VRAM: total less reserved memory over the GPUs this process may use (contract rule 2).",
            _number(first.get("usable_vram_bytes")),
        ),
        _gauge(
            "vram_advisor_spare_ram_bytes",
            "System RAM the machine can spare for weights offloaded from the GPUs.",
            _number(first.get("spare_ram_bytes")),
        ),
        _gauge("vram_advisor_gpus", "GPUs that count towards usable VRAM.", _number(first.get("gpu_count"))),
        _gauge("vram_advisor_ram_total_bytes", "System RAM of the host.", _number(ram.get("total_bytes"))),
        _gauge(
            "vram_advisor_ram_available_bytes",
            "System RAM available when it was probed.",
            _number(ram.get("available_bytes")),
        ),
        _gauge(
            "vram_advisor_ram_limit_bytes",
            "Memory limit of the container (cgroup), where one applies.",
            _number(ram.get("limit_bytes")),
        ),
    ]
    families = [family for family in gauges if family is not None]
    families.extend(_gpu_families(inventory.get("gpus") or ()))
    families.append(
        Family(
            "vram_advisor_option_fit",
            "Fit of each model x quantization here: 0 none, 1 offload (needs system RAM), 2 minimum, 3 comfortable.",
            OPTION_LABELS,
            _option_samples(documents),
        )
    )
    families.append(
        Family(
            "vram_advisor_recommendation_info",
            "The recommendation (always 1); kind is local, offload or api; model, quant and fit are empty for api.",
            ("base", "kind", "model", "quant", "fit"),
            _recommendation_samples(documents),
        )
    )
    measured = _measured_samples(first)
    if measured:
        families.append(
            Family(
                "vram_advisor_measured_decode_tokens_per_second",
                "Decode speed `vram-advisor verify` measured on this machine from the client side (newest per model, "
                "quant, placement and engine).",
                MEASURED_LABELS,
                measured,
            )
        )
    return families


MEASURED_LABELS = ("model", "quant", "placement", "engine")


def _measured_samples(document: Mapping[str, Any]) -> tuple[Sample, ...]:
    """The newest measured speed per key, from ``check --json``'s ``measured`` list (newest first)."""
    seen: dict[tuple[str, ...], float] = {}
    for point in document.get("measured") or ():
        labels = tuple(str(point.get(name) or "") for name in MEASURED_LABELS)
        speed = _number(point.get("decode_tokens_per_s"))
        if labels not in seen and speed is not None:
            seen[labels] = speed
    return tuple(Sample(labels, value) for labels, value in seen.items())


def agent_families(inventory_age_seconds: float, stale: bool, version: str) -> list[Family]:
    """The families about the agent itself: how old the inventory is and whether the last probe failed."""
    return [
        Family(
            "vram_advisor_inventory_age_seconds",
            "Seconds since the inventory behind these metrics was probed (or read).",
            (),
            (Sample((), round(inventory_age_seconds, 3)),),
        ),
        Family(
            "vram_advisor_probe_stale",
            "1 when the latest probe failed or timed out and these metrics come from an older inventory.",
            (),
            (Sample((), 1.0 if stale else 0.0),),
        ),
        Family(
            "vram_advisor_build_info", "The vram-advisor version (always 1).", ("version",), (Sample((version,), 1.0),)
        ),
    ]


# --------------------------------------------------------------------------------------------------- rendering


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 2**63:
        return str(int(value))
    return repr(value)


def render_text(families: Iterable[Family]) -> str:
    """The families in the Prometheus text format 0.0.4, written without ``prometheus_client``."""
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} gauge")
        for sample in family.samples:
            labels = ""
            if family.labels:
                pairs = ",".join(
                    f'{name}="{_escape_label(value)}"' for name, value in zip(family.labels, sample.labels, strict=True)
                )
                labels = "{" + pairs + "}"
            lines.append(f"{family.name}{labels} {_format_value(sample.value)}")
    return "\n".join(lines) + "\n" if lines else ""


def exposition(families: Sequence[Family]) -> str:
    """The text for ``/metrics`` (and ``check --prom``): ``render_text``, the one writer, with no dependency."""
    return render_text(families)
