"""metrics: check documents -> gauge families, and the one dependency-free writer of the text format, read back by
prometheus_client's parser and compared with what prometheus_client itself writes for the same families."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import gpu, inventory_dict
from vram_advisor.plan.rules import FITS
from vram_advisor.report import metrics

parser = pytest.importorskip("prometheus_client.parser")


def parse(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """name -> {sorted label pairs -> value}, through prometheus_client's own parser."""
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in parser.text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def check_document(cli: Any, write_inventory: Any, data: dict[str, Any], *args: str) -> dict[str, Any]:
    result = cli(["check", "--json", "--inventory", write_inventory(data), *args])
    assert result.code in (0, 1), result.err
    document: dict[str, Any] = result.json()
    return document


TWO_H100 = inventory_dict(
    [
        gpu("NVIDIA H100 80GB HBM3", 81559, 480, uuid="GPU-aaaa", memory_free_bytes=80 * 1024**3),
        gpu("NVIDIA H100 80GB HBM3", 81559, 480, uuid="GPU-bbbb"),
    ],
    ram_gib=512,
)


def test_fit_values_cover_every_fit_word_in_order() -> None:
    assert set(metrics.FIT_VALUES) == set(FITS)
    ordered = sorted(metrics.FIT_VALUES, key=metrics.FIT_VALUES.__getitem__)
    assert ordered == ["none", "offload", "minimum", "comfortable"]


def test_option_fit_gauges_equal_the_check_options(cli: Any, write_inventory: Any) -> None:
    instruct = check_document(cli, write_inventory, TWO_H100)
    base = check_document(cli, write_inventory, TWO_H100, "--base")
    samples = parse(metrics.render_text(metrics.check_families([instruct, base])))
    expected = {
        (("model", o["model"]), ("quant", o["quant"])): float(metrics.FIT_VALUES[o["fit"]])
        for o in instruct["options"] + base["options"]
    }
    assert samples["vram_advisor_option_fit"] == expected
    assert len(expected) == 24  # 4 models x 6 quants
    assert samples["vram_advisor_usable_vram_bytes"][()] == instruct["usable_vram_bytes"]
    assert samples["vram_advisor_spare_ram_bytes"][()] == instruct["spare_ram_bytes"]
    assert samples["vram_advisor_ram_total_bytes"][()] == TWO_H100["ram"]["total_bytes"]
    rec = instruct["recommendation"]
    info = samples["vram_advisor_recommendation_info"]
    labels = (
        ("base", "false"),
        ("fit", rec["fit"]),
        ("kind", rec["kind"]),
        ("model", rec["model"]),
        ("quant", rec["quant"]),
    )
    assert info[labels] == 1.0


def test_gpu_families_are_labelled_by_index_uuid_and_name(cli: Any, write_inventory: Any) -> None:
    document = check_document(cli, write_inventory, TWO_H100)
    samples = parse(metrics.render_text(metrics.check_families([document])))
    for position, uuid in enumerate(("GPU-aaaa", "GPU-bbbb")):
        key = (("index", str(position)), ("name", "NVIDIA H100 80GB HBM3"), ("uuid", uuid))
        entry = document["inventory"]["gpus"][position]
        assert samples["vram_advisor_gpu_memory_total_bytes"][key] == entry["memory_total_bytes"]
        assert samples["vram_advisor_gpu_memory_reserved_bytes"][key] == entry["memory_reserved_bytes"]
        assert samples["vram_advisor_gpu_counted"][key] == 1.0
    # only GPU 0 reported free memory: unknown values are left out, not written as 0
    free = samples["vram_advisor_gpu_memory_free_bytes"]
    assert list(free.values()) == [80 * 1024**3]


def test_hidden_gpu_is_not_counted(cli: Any, write_inventory: Any) -> None:
    result = cli(["check", "--json", "--inventory", write_inventory(TWO_H100)], env={"CUDA_VISIBLE_DEVICES": "1"})
    document = result.json()
    samples = parse(metrics.render_text(metrics.check_families([document])))
    counted = {dict(k)["uuid"]: v for k, v in samples["vram_advisor_gpu_counted"].items()}
    assert counted == {"GPU-aaaa": 0.0, "GPU-bbbb": 1.0}
    assert samples["vram_advisor_gpus"][()] == 1.0
    assert samples["vram_advisor_usable_vram_bytes"][()] == document["usable_vram_bytes"]


def test_api_recommendation_has_empty_labels(cli: Any, write_inventory: Any) -> None:
    document = check_document(cli, write_inventory, inventory_dict([], ram_gib=16))
    assert document["recommendation"]["kind"] == "api"
    samples = parse(metrics.render_text(metrics.check_families([document])))
    (labels,) = samples["vram_advisor_recommendation_info"]
    assert dict(labels) == {"base": "false", "kind": "api", "model": "", "quant": "", "fit": ""}
    assert "vram_advisor_gpu_memory_total_bytes" not in samples  # no GPUs, no samples
    assert set(samples["vram_advisor_option_fit"].values()) <= {0.0, 1.0}


class _Collector:
    """A ``prometheus_client`` collector over fixed families: the reference writer for the test."""

    def __init__(self, families: list[metrics.Family]) -> None:
        self._families = families

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        for family in self._families:
            gauge = GaugeMetricFamily(family.name, family.help, labels=list(family.labels))
            for sample in family.samples:
                gauge.add_metric(list(sample.labels), sample.value)
            yield gauge


def reference_text(families: list[metrics.Family]) -> str:
    from prometheus_client import generate_latest

    return bytes(generate_latest(_Collector(families))).decode("utf-8")  # type: ignore[arg-type]


def test_builtin_writer_and_prometheus_client_agree(cli: Any, write_inventory: Any) -> None:
    weird = inventory_dict([gpu('Card "X" \\ A\nB', 24576, uuid="GPU-\u00e9")], ram_gib=64)
    families = metrics.check_families([check_document(cli, write_inventory, weird)])
    families += metrics.agent_families(12.5, True, "0.1.0")
    ours = parse(metrics.render_text(families))
    assert ours == parse(reference_text(families))
    (labels,) = ours["vram_advisor_gpu_memory_total_bytes"]
    # the inventory reader escapes the newline (control characters never pass through); quotes and backslashes
    # are the exposition format's to escape, and the parser must give back the label as it was
    assert dict(labels)["name"] == 'Card "X" \\ A\\nB'
    assert ours["vram_advisor_probe_stale"][()] == 1.0
    assert ours["vram_advisor_inventory_age_seconds"][()] == 12.5


def test_the_writer_round_trips_every_family_help_label_and_value() -> None:
    """Every family's name, help, type, labels and values come back through prometheus_client's parser, escapes
    (backslash, quote, newline), non-integer, huge, infinite and NaN values included."""
    odd = 'a "quoted" \\ back\nslash, é'
    families = [
        metrics.Family("t_plain", "Plain help.", (), (metrics.Sample((), 3.0),)),
        metrics.Family(
            "t_labelled",
            f"Help with {odd}.",
            ("one", "two"),
            (
                metrics.Sample((odd, ""), 0.25),
                metrics.Sample(("x", "y"), 2.0**70),
                metrics.Sample(("x", "z"), float("inf")),
                metrics.Sample(("x", "w"), float("-inf")),
            ),
        ),
        metrics.Family("t_nan", "Not a number.", ("k",), (metrics.Sample(("v",), float("nan")),)),
        metrics.Family("t_empty", "No samples.", ("k",), ()),
    ]
    text = metrics.exposition(families)
    assert text == metrics.render_text(families)
    parsed = {family.name: family for family in parser.text_string_to_metric_families(text)}
    assert list(parsed) == [family.name for family in families]
    for family in families:
        got = parsed[family.name]
        assert (got.type, got.documentation) == ("gauge", family.help)
        assert len(got.samples) == len(family.samples)
        for sample, read in zip(family.samples, got.samples, strict=True):
            assert read.labels == dict(zip(family.labels, sample.labels, strict=True))
            assert read.value == sample.value or (math.isnan(read.value) and math.isnan(sample.value))
    assert text == reference_text(families).replace("2.0", "2").replace("3.0", "3")


def test_exposition_needs_no_prometheus_client(cli: Any, write_inventory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    families = metrics.check_families([check_document(cli, write_inventory, TWO_H100)])
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    text = metrics.exposition(families)
    assert text == metrics.render_text(families)
    monkeypatch.undo()
    assert parse(text) == parse(reference_text(families))


def test_no_documents_no_families() -> None:
    assert metrics.check_families([]) == []
    assert metrics.render_text([]) == ""
