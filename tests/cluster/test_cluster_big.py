"""Large fleets: ``cluster --json`` is written as the nodes are planned once past 1,000 of them (the same one-line
document, byte for byte), and the human view lists the nodes with the most headroom, 20 unless ``--nodes`` says."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from conftest import GIB, gpu, inventory_dict
from vram_advisor.report.cluster import COMPACT_OVER_NODES

SIZES = (
    [gpu("NVIDIA H100 80GB HBM3", 81559, 480)] * 8,
    [gpu("NVIDIA GeForce RTX 4090", 24564, 300)],
    [gpu("NVIDIA GeForce RTX 3090", 24576)] * 3,
    [],
)


def fleet(count: int) -> list[dict[str, Any]]:
    nodes = []
    for number in range(count):
        node = inventory_dict(SIZES[number % len(SIZES)], ram_gib=64 + (number * 37) % 900 + number / 1000)
        node["hostname"] = f"node-{number:05d}"
        nodes.append(node)
    return nodes


def planned(nodes: list[dict[str, Any]]) -> Any:
    """The plan of ``nodes`` made in-process, the way the command makes it (without its output)."""
    from vram_advisor.catalog.userprofiles import default_catalog
    from vram_advisor.fleet.inputs import Skipped, stream_inputs
    from vram_advisor.fleet.planner import ClusterPlanner

    planner = ClusterPlanner(default_catalog())
    text = "".join(json.dumps(node) + "\n" for node in nodes)
    for item in stream_inputs(io.BytesIO(text.encode()), "<stdin>"):
        if isinstance(item, Skipped):
            planner.skip(item)
        else:
            planner.add(item)
    return planner.finish()


def test_a_fleet_past_the_compact_size_is_streamed_as_the_same_document(cli) -> None:  # type: ignore[no-untyped-def]
    from vram_advisor.report import cluster as cluster_report

    nodes = fleet(COMPACT_OVER_NODES + 57)
    result = cli(["cluster", "-", "--json"], stdin="".join(json.dumps(node) + "\n" for node in nodes))
    assert result.code == 0, result.err
    assert result.out.count("\n") == 1  # one line, ended
    plan = planned(nodes)
    assert result.out == cluster_report.utf8_safe(cluster_report.cluster_json(plan)) + "\n"  # byte for byte
    document = json.loads(result.out)
    assert document == cluster_report.cluster_dict(plan)  # and the same as the dict built the plain way
    assert [node["hostname"] for node in document["nodes"]] == [node["hostname"] for node in nodes]


def test_a_fleet_within_the_compact_size_stays_indented(cli) -> None:  # type: ignore[no-untyped-def]
    nodes = fleet(12)
    result = cli(["cluster", "-", "--json"], stdin="".join(json.dumps(node) + "\n" for node in nodes))
    assert result.code == 0 and result.out.startswith('{\n  "schema"')


def headroom_rows(out: str) -> list[str]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if "most headroom" in line or line.startswith("Every node"))
    return [line for line in lines[start + 2 :] if line.startswith("node-")]


def test_the_view_lists_the_nodes_with_the_most_headroom_first(cli) -> None:  # type: ignore[no-untyped-def]
    nodes = fleet(60)
    stdin = "".join(json.dumps(node) + "\n" for node in nodes)
    out = cli(["cluster", "-"], stdin=stdin, env={"COLUMNS": "160"}).out
    assert "The 20 nodes with the most headroom" in out
    rows = headroom_rows(out)
    # the 15 nodes of eight H100s have most room, then the others
    assert len(rows) == 20 and all("8 × NVIDIA H100" in row for row in rows[:15])
    assert not any("8 × NVIDIA H100" in row for row in rows[15:])
    every = headroom_rows(cli(["cluster", "-", "--nodes", "all"], stdin=stdin, env={"COLUMNS": "160"}).out)
    assert len(every) == 60
    assert every[:20] == rows
    none = cli(["cluster", "-", "--nodes", "0"], stdin=stdin, env={"COLUMNS": "160"}).out
    assert "headroom" not in none and "Fleet, grouped by hardware" in none


@pytest.mark.parametrize("value", ["-1", "lots", "1.5", ""])
def test_a_bad_node_count_is_one_line_and_exit_2(cli, value: str) -> None:  # type: ignore[no-untyped-def]
    result = cli(["cluster", "-", f"--nodes={value}"], stdin=json.dumps(fleet(1)[0]) + "\n")
    assert result.code == 2 and result.err.count("\n") == 1 and "--nodes" in result.err


def test_ram_at_a_step_edge_is_judged_as_check_judges_it(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    # two RTX 3090 boxes a byte apart around where Flash's GPU+RAM plan starts to fit
    lone = cli(["check", "--json", "--gpus", "3xRTX3090", "--ram", "128GB"]).json()
    assert lone["recommendation"]["kind"] == "offload"
    option = next(o for o in lone["options"] if (o["model"], o["quant"]) == ("deepseek-v4-flash", "fp8"))
    plan = next(p for p in option["offload_plans"] if p["placement"] == "gpu+ram")
    from vram_advisor.core.policy import os_reserve_bytes

    in_ram = plan["ram_bytes"]
    ram = next(r for r in range(int(in_ram * 1.05), int(in_ram * 1.3), 4096) if r - os_reserve_bytes(r) >= in_ram)
    nodes = []
    for number, total in enumerate((ram - 4096, ram, ram + 4096, int(in_ram * 0.9))):
        node = inventory_dict([gpu("NVIDIA GeForce RTX 3090", 24576)] * 3, ram_gib=total / GIB, hostname=f"e{number}")
        node["ram"]["total_bytes"] = total
        nodes.append(node)
    document = cli(["cluster", "-", "--json"], stdin="".join(json.dumps(n) + "\n" for n in nodes)).json()
    for node, answer in zip(nodes, document["nodes"], strict=True):
        alone = cli(["check", "--json", "--all-gpus", "--inventory", write_inventory(node)]).json()
        assert answer["recommendation"] == alone["recommendation"]
