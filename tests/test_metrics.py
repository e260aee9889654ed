"""metrics: check documents -> gauge families, rendered by prometheus_client and by the built-in writer alike."""

from __future__ import annotations

import sys
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


def test_builtin_writer_and_prometheus_client_agree(cli: Any, write_inventory: Any) -> None:
    weird = inventory_dict([gpu('Card "X" \\ A\nB', 24576, uuid="GPU-\u00e9")], ram_gib=64)
    families = metrics.check_families([check_document(cli, write_inventory, weird)])
    families += metrics.agent_families(12.5, True, "0.1.0")
    ours = parse(metrics.render_text(families))
    theirs = parse(metrics.render_prometheus_client(families))
    assert ours == theirs
    (labels,) = ours["vram_advisor_gpu_memory_total_bytes"]
    # the inventory reader escapes the newline (control characters never pass through); quotes and backslashes
    # are the exposition format's to escape, and both writers must give back the same text
    assert dict(labels)["name"] == 'Card "X" \\ A\\nB'
    assert ours["vram_advisor_probe_stale"][()] == 1.0
    assert ours["vram_advisor_inventory_age_seconds"][()] == 12.5


def test_exposition_falls_back_without_prometheus_client(
    cli: Any, write_inventory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    families = metrics.check_families([check_document(cli, write_inventory, TWO_H100)])
    with_client = metrics.exposition(families)
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(ImportError):
        metrics.render_prometheus_client(families)
    without_client = metrics.exposition(families)
    assert without_client == metrics.render_text(families)
    assert parse(without_client) == parse(with_client)


def test_no_documents_no_families() -> None:
    assert metrics.check_families([]) == []
    assert metrics.render_text([]) == ""
