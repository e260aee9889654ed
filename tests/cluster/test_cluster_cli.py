"""``vram-advisor cluster`` end to end: the contract's JSON, the per-node verdicts (the same as ``check``), groups,
multi-node plans, bad input, the human view with untrusted hostnames, CSV."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from conftest import GIB, MIB, gpu, inventory_dict

H100_USABLE = 8 * (81559 - 480) * MIB  # NVML total less reserved, per 8 x H100 node


def h100_node(hostname: str, count: int = 8, links: tuple[str, ...] = (), nvlink: bool | None = None, **extra: Any):
    gpus = [
        gpu(
            "NVIDIA H100 80GB HBM3",
            81559,
            480,
            uuid=f"GPU-{hostname}-{i}",
            **({} if nvlink is None else {"nvlink": nvlink}),
        )
        for i in range(count)
    ]
    return inventory_dict(gpus, ram_gib=2015, hostname=hostname, interconnect=list(links), **extra)


def h200_node(hostname: str) -> dict[str, Any]:
    gpus = [gpu("NVIDIA H200", 143771, 0, uuid=f"GPU-{hostname}-{i}") for i in range(8)]
    return inventory_dict(gpus, ram_gib=3023, hostname=hostname)


def ndjson(*nodes: dict[str, Any]) -> str:
    return "".join(json.dumps(node) + "\n" for node in nodes)


def run_json(cli, *args: str, stdin: str | None = None, env: dict[str, str | None] | None = None):
    result = cli(["cluster", *args, "--json"], stdin=stdin, env=env)
    assert result.code == 0, result.err
    return result.json(), result


# -------------------------------------------------------------------------------------------------- done when


def test_two_h100_nodes_hold_pro_q4_each_and_pro_fp8_together(cli):
    """The issue's "done when": NDJSON and a pretty object piped in, with a garbage line between them."""
    first = json.dumps(h100_node("gpu-node-07", links=("infiniband:mlx5_0",), nvlink=True))
    second = json.dumps(h100_node("gpu-node-08", links=("infiniband:mlx5_0",), nvlink=True), indent=2)
    stdin = f"{first}\nsrun: error: gpu-node-09: task 2: Exited with exit code 1\n{second}\n"
    document, result = run_json(cli, "--sizes", "table", "-", stdin=stdin)

    assert document["schema"] == "vram-advisor/cluster/v1"
    assert [n["hostname"] for n in document["nodes"]] == ["gpu-node-07", "gpu-node-08"]
    for node in document["nodes"]:
        assert node["usable_vram_bytes"] == H100_USABLE
        rec = node["recommendation"]
        assert (rec["kind"], rec["model"], rec["quant"], rec["fit"]) == (
            "local",
            "deepseek-v4-pro",
            "q4",
            "comfortable",
        )
    assert document["totals"] == {
        "nodes": 2,
        "gpus": 16,
        "usable_vram_bytes": 2 * H100_USABLE,
        "spare_ram_bytes": document["totals"]["spare_ram_bytes"],
        "groups": 1,
        "skipped": 1,
    }
    # 2 x 8 x (81559 - 480) MiB = 1266.9 GiB: meets FP8's minimum (1 TB = 1024 GiB) and its safer 1.2 TB
    # (1228.8 GiB) at 98%, which one node's 633.4 GiB does not.
    assert 2 * H100_USABLE * 100 >= 1228.8 * GIB * 98 and H100_USABLE * 100 < 1024 * GIB * 98
    top = document["multi_node"][0]
    assert (top["model"], top["quant"], top["fit"]) == ("deepseek-v4-pro", "fp8", "comfortable")
    assert top["nodes"] == ["gpu-node-07", "gpu-node-08"]
    assert top["identical_nodes"] is True and top["interconnect"] == ["nvlink", "infiniband"]
    assert [(m["model"], m["quant"]) for m in document["multi_node"]] == [
        ("deepseek-v4-pro", "fp8"),
        ("deepseek-v4-pro", "q6"),
    ]
    # the garbage line is reported (which one, why) and skipped
    assert "skipped <stdin>:2: not an inventory" in result.err and "srun: error" not in result.err
    assert document["skipped"] == [{"source": "<stdin>:2", "reason": document["skipped"][0]["reason"]}]


def test_per_node_verdicts_are_check_verdicts(cli, write_inventory):
    nodes = [
        h100_node("big"),
        inventory_dict([gpu("NVIDIA GeForce RTX 4090", 24564, 300)], ram_gib=256, hostname="desk"),
        inventory_dict([], ram_gib=512, hostname="cpu-only"),
        inventory_dict([gpu("NVIDIA GB10", 119 * 1024, unified=True)], ram_gib=128, hostname="spark"),
        h100_node("half-hidden", count=4)
        | {"gpus": [dict(g, visible=i < 2) for i, g in enumerate(h100_node("h", 4)["gpus"])]},
    ]
    document, _ = run_json(cli, "-", stdin=ndjson(*nodes))
    for node, planned in zip(nodes, document["nodes"], strict=True):
        checked = cli(["check", "--json", "--all-gpus", "--inventory", write_inventory(node)]).json()
        assert planned["recommendation"] == checked["recommendation"], node["hostname"]
        assert planned["stretch"] == checked["stretch"], node["hostname"]
        assert planned["usable_vram_bytes"] == checked["usable_vram_bytes"]
        assert planned["spare_ram_bytes"] == checked["spare_ram_bytes"]
    assert document["nodes"][4]["hidden_gpus_counted"] == 2


def test_the_admins_cuda_visible_devices_does_not_filter_other_machines(cli):
    document, _ = run_json(cli, "-", stdin=ndjson(h100_node("n1")), env={"CUDA_VISIBLE_DEVICES": ""})
    assert document["nodes"][0]["usable_vram_bytes"] == H100_USABLE and document["totals"]["gpus"] == 8


def test_base_models(cli):
    document, _ = run_json(cli, "-", "--base", stdin=ndjson(h100_node("n1"), h100_node("n2")))
    assert document["base"] is True
    assert document["nodes"][0]["recommendation"]["model"].endswith("-base")
    assert all(m["model"].endswith("-base") for m in document["multi_node"])


# ------------------------------------------------------------------------------------------------- multi-node


def test_a_better_fit_wins_over_identical_nodes_among_the_smallest_groups(cli):
    # pro-base q5 needs 1.2 TB (1204 GiB at 98%): no node alone. The two H100 nodes (1266.9 GiB) hold it at its
    # minimum; the H200 node with one H100 node (1756 GiB) holds it comfortably (safer 1.4 TB = 1433.6 GiB):
    # among pairs, the better fit wins.
    nodes = [h200_node("x"), h100_node("y"), h100_node("z")]
    document, _ = run_json(cli, "-", "--base", stdin=ndjson(*nodes))
    plan = next(m for m in document["multi_node"] if (m["model"], m["quant"]) == ("deepseek-v4-pro-base", "q5"))
    assert plan["nodes"] == ["x", "y"] and plan["identical_nodes"] is False and plan["fit"] == "comfortable"
    assert plan["comfortable_node_count"] == 2


def test_identical_nodes_win_among_groups_that_fit_as_well(cli):
    # pro-base q5 (minimum 1.2 TB: 1204 GiB at 98%) needs two nodes here: the largest pair, "huge" (8 x 150 GiB =
    # 1200 GiB) with an H200 node (1123.2 GiB), and the pair of H200 nodes both hold it comfortably (safer 1.4 TB,
    # 1404.9 GiB at 98%), so the identical pair is chosen.
    huge = inventory_dict([gpu("Custom 150GB", 150 * 1024, uuid=f"GPU-h-{i}") for i in range(8)], hostname="huge")
    nodes = [huge, h200_node("b"), h200_node("c"), h100_node("d")]
    document, _ = run_json(cli, "-", "--base", stdin=ndjson(*nodes))
    plan = next(m for m in document["multi_node"] if (m["model"], m["quant"]) == ("deepseek-v4-pro-base", "q5"))
    assert plan["node_count"] == 2 and plan["fit"] == "comfortable"
    assert plan["identical_nodes"] is True and plan["nodes"] == ["b", "c"]
    # the options one node already holds are not multi-node plans
    single = {(n["recommendation"]["model"], n["recommendation"]["quant"]) for n in document["nodes"]}
    assert not single & {(m["model"], m["quant"]) for m in document["multi_node"]}


def test_the_smallest_group_mixes_hardware_when_no_identical_group_holds_it(cli):
    small = [h100_node(f"small{i}", count=4) for i in range(2)]  # 316.7 GiB each
    big = h100_node("big")  # 633.4 GiB
    document, _ = run_json(cli, "-", "--sizes", "table", stdin=ndjson(*small, big))
    plans = {(m["model"], m["quant"]): m for m in document["multi_node"]}
    fp8 = plans[("deepseek-v4-pro", "fp8")]  # needs 1003.5 GiB: all three (1266.9 GiB)
    assert fp8["nodes"] == ["big", "small0", "small1"] and fp8["identical_nodes"] is False
    q6 = plans[("deepseek-v4-pro", "q6")]  # needs 752.6 GiB: big and one small (950 GiB)
    assert q6["node_count"] == 2 and q6["nodes"][0] == "big" and q6["group"] is None
    assert ("deepseek-v4-pro", "q5") not in plans  # big holds it alone (633.4 >= 627.2 GiB)
    ranks = [m["rank"] for m in document["multi_node"]]
    assert ranks == sorted(ranks)


def test_nodes_with_a_known_interconnect_are_picked_first_and_unknown_links_are_said(cli):
    nodes = [h100_node("plain1"), h100_node("plain2"), h100_node("ib1", links=("infiniband:mlx5_0",))]
    nodes.append(h100_node("ib2", links=("infiniband:mlx5_0", "infiniband:mlx5_1")))
    document, _ = run_json(cli, "-", stdin=ndjson(*nodes))
    assert document["multi_node"][0]["nodes"] == ["ib1", "ib2"]
    assert document["multi_node"][0]["interconnect"] == ["infiniband"]
    document, _ = run_json(cli, "-", stdin=ndjson(nodes[0], nodes[1]))
    assert document["multi_node"][0]["interconnect"] == ["unknown"]
    assert "link between nodes unknown" in document["multi_node"][0]["interconnect_note"]


def test_no_multi_node_plans_for_one_node_or_out_of_reach_options(cli):
    document, _ = run_json(cli, "-", stdin=ndjson(h100_node("only")))
    assert document["multi_node"] == []
    pair = [inventory_dict([gpu("NVIDIA GeForce RTX 4090", 24564, 300)], hostname=f"d{i}") for i in range(2)]
    document, _ = run_json(cli, "-", stdin=ndjson(*pair))
    assert all(m["model"] != "deepseek-v4-pro" for m in document["multi_node"])


def test_groups_count_identical_nodes_and_their_verdicts(cli):
    nodes = [h100_node(f"h{i}") for i in range(3)] + [h200_node("g1"), inventory_dict([], hostname="cpu")]
    document, _ = run_json(cli, "--sizes", "table", "-", stdin=ndjson(*nodes))
    groups = {g["label"]: g for g in document["groups"]}
    assert set(groups) == {"8 × NVIDIA H100 80GB HBM3", "8 × NVIDIA H200", "no GPU"}
    h100 = groups["8 × NVIDIA H100 80GB HBM3"]
    assert h100["nodes"] == 3 and h100["gpu_count"] == 8
    assert h100["recommendations"][0]["nodes"] == 3 and h100["recommendation"]["quant"] == "q4"
    assert [n["group"] for n in document["nodes"]] == [h100["id"]] * 3 + [
        groups["8 × NVIDIA H200"]["id"],
        groups["no GPU"]["id"],
    ]


# --------------------------------------------------------------------------------------------------- naming


def test_names_are_unique_and_the_same_machine_counts_once(cli):
    twin = h100_node("dup")
    other = h100_node("dup")
    other["gpus"] = [dict(g, uuid=g["uuid"] + "-b") for g in other["gpus"]]
    nameless = inventory_dict([gpu("NVIDIA H100 80GB HBM3", 81559, 480)])
    del nameless["hostname"]
    document, result = run_json(cli, "-", stdin=ndjson(twin, twin, other, nameless))
    assert [n["hostname"] for n in document["nodes"]] == ["dup", "dup (<stdin>:3)", "<stdin>:4"]
    assert document["nodes"][1]["reported_hostname"] == "dup"
    assert "skipped <stdin>:2: same machine as dup" in result.err
    assert document["totals"]["nodes"] == 3


# ------------------------------------------------------------------------------------------------ bad input


def test_bad_inventories_are_reported_with_the_field_and_the_rest_planned(cli):
    bad = h100_node("bad")
    bad["gpus"][3]["memory_total_bytes"] = "80GB"
    wrong_schema = dict(h100_node("old"), schema="vram-advisor/inventory/v0")
    document, result = run_json(cli, "-", stdin=ndjson(bad, wrong_schema, h100_node("good")))
    assert [n["hostname"] for n in document["nodes"]] == ["good"]
    assert "skipped <stdin>:1: gpus[3].memory_total_bytes: expected a whole number of bytes" in result.err
    assert "skipped <stdin>:2: schema: unsupported schema" in result.err
    assert document["skipped_count"] == 2


def test_nothing_plannable_is_exit_2_with_one_line(cli):
    result = cli(["cluster", "-"], stdin="hello\nworld\n")
    assert result.code == 2 and result.out == ""
    assert result.err == (
        "vram-advisor: error: no inventory could be planned: 2 inputs skipped: "
        "<stdin>:1: not an inventory (expected a JSON object; a line of 5 characters); "
        "<stdin>:2: not an inventory (expected a JSON object; a line of 5 characters)\n"
    )


def test_one_missing_file_is_exactly_one_line(cli):
    result = cli(["cluster", "/nonexist.json"])
    assert (result.code, result.out) == (2, "")
    assert result.err == "vram-advisor: error: no inventory could be planned: /nonexist.json: no such file\n"
    result = cli(["cluster", "-", "--json"], stdin="")
    assert result.err == "vram-advisor: error: no inventory could be planned: the input was empty\n"


def test_many_bad_inputs_and_nothing_planned_name_a_few_and_count_all(cli):
    result = cli(["cluster", "-"], stdin="".join(f"noise {i}\n" for i in range(12)))
    assert result.code == 2 and len(result.err.splitlines()) == 1
    assert "12 inputs skipped: <stdin>:1: " in result.err and "<stdin>:5: " in result.err
    assert "<stdin>:6: " not in result.err and result.err.endswith("; and 7 more\n")


def test_srun_label_lines_that_are_not_inventories_are_reported_one_by_one(cli):
    # the QA case, each bad line on its own (which line, why) and counted
    stdin = '0: {"a":1}\n1: {"b":2}\n2: {"c":3}\n'
    result = cli(["cluster", "-", "--json"], stdin=stdin)
    assert result.code == 2 and len(result.err.splitlines()) == 1
    for line in (1, 2, 3):
        assert f"<stdin>:{line}: schema: required field is missing" in result.err
    assert "3 inputs skipped" in result.err
    # beside a good node: one stderr line per bad line, and all of them in the JSON
    document, result = run_json(cli, "-", stdin=stdin + "3: " + json.dumps(h100_node("good")) + "\n")
    assert [n["hostname"] for n in document["nodes"]] == ["good"]
    assert [s["source"] for s in document["skipped"]] == ["<stdin>:1", "<stdin>:2", "<stdin>:3"]
    assert document["skipped_count"] == 3 and document["nodes"][0]["source"] == "<stdin>:4"
    assert [line.split(": ")[1] for line in result.err.splitlines()] == [
        "skipped <stdin>:1",
        "skipped <stdin>:2",
        "skipped <stdin>:3",
    ]


def test_pdsh_output_with_host_prefixes_pipes_straight_in(cli):
    first, second = h100_node("ignored"), h100_node("ignored")
    del first["hostname"]
    second["hostname"] = None
    stdin = f"gpu-01.example.org: {json.dumps(first)}\ngpu-02: {json.dumps(second)}\n"
    document, result = run_json(cli, "-", stdin=stdin)
    assert [n["hostname"] for n in document["nodes"]] == ["gpu-01.example.org", "gpu-02"]
    assert result.err == ""


def test_garbage_glued_to_an_object_is_reported_at_its_line_and_both_nodes_planned(cli):
    a = json.dumps(h100_node("a"), indent=2)  # as a file without a trailing newline
    stdin = a + "garbage\n" + json.dumps(h100_node("b"), indent=2) + "\n"
    document, result = run_json(cli, "-", stdin=stdin)
    assert [n["hostname"] for n in document["nodes"]] == ["a", "b"]
    line = a.count("\n") + 1
    assert document["skipped"] == [
        {"source": f"<stdin>:{line}", "reason": "unexpected text after the JSON object (7 characters)"}
    ]
    assert result.err == f"vram-advisor: skipped <stdin>:{line}: unexpected text after the JSON object (7 characters)\n"


def test_a_number_out_of_range_skips_that_node_only(cli):
    bad = h100_node("bad")
    bad["gpus"][0]["memory_total_bytes"] = 10**400
    document, result = run_json(cli, "-", stdin=ndjson(bad, h100_node("good")))
    assert [n["hostname"] for n in document["nodes"]] == ["good"]
    assert document["skipped"][0]["source"] == "<stdin>:1"
    assert document["skipped"][0]["reason"] == (
        "gpus[0].memory_total_bytes: a number of 401 digits bytes is more than any machine has (limit 1 EiB)"
    )
    assert len(result.err.splitlines()) == 1 and "skipped <stdin>:1: gpus[0].memory_total_bytes" in result.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no inventories given"),
        (["-", "--csv", "--json"], "choose one output"),
        (["-", "--from-k8s", "-"], "standard input (-) can be read only once"),
    ],
)
def test_usage_errors(cli, args, message):
    result = cli(["cluster", *args])
    assert result.code == 2 and message in result.err


def test_files_and_folders(cli, tmp_path: Path):
    folder = tmp_path / "nodes"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps(h100_node("a"), indent=2))
    (folder / "b.json").write_text(json.dumps(h100_node("b")))
    (folder / "broken.json").write_text("{ not json")
    (folder / "README.txt").write_text("not read")
    more = tmp_path / "more.ndjson"
    more.write_text(ndjson(h100_node("c"), h100_node("d")))
    result = cli(["cluster", "--json", str(folder), str(more), str(tmp_path / "missing.json")])
    assert result.code == 0, result.err
    document = result.json()
    assert [n["hostname"] for n in document["nodes"]] == ["a", "b", "c", "d"]
    assert (
        document["nodes"][0]["source"]
        == f"{folder / 'a.json'}:1-{json.dumps(h100_node('a'), indent=2).count(chr(10)) + 1}"
    )
    assert f"skipped {folder / 'broken.json'}:1" in result.err
    assert f"skipped {tmp_path / 'missing.json'}: no such file" in result.err


# ------------------------------------------------------------------------------------------- human and CSV


def test_the_human_view_prints_hostnames_from_nodes_literally(cli):
    evil = h100_node("[red]x[/red]")
    escape = h100_node("term\x1b[31mred")
    result = cli(["cluster", "-"], stdin=ndjson(evil, escape, h100_node("gpu-node-08")))
    assert result.code == 0, result.err
    assert "[red]x[/red]" in result.out
    assert "\x1b" not in result.out and "term\\x1b[31mred" in result.out
    assert "Fleet, grouped by hardware" in result.out and "8 × NVIDIA H100 80GB HBM3" in result.out
    assert "V4-Pro FP8" in result.out and "comfortable" in result.out


def test_the_human_view_says_each_interconnect_note_once(cli):
    # four plain nodes of 4 x H100: pro fp8, q6 and q5 each need several nodes, and no link is known
    nodes = [h100_node(f"n{i}", count=4) for i in range(4)]
    result = cli(["cluster", "-"], stdin=ndjson(*nodes))
    assert result.code == 0, result.err
    words = " ".join(result.out.split())  # the note may wrap
    assert words.count("no InfiniBand or RDMA device seen on every node") == 1
    assert words.count("split the model by pipeline stages") == 1
    rows = [line for line in result.out.splitlines() if line.startswith("V4-Pro")]
    assert len(rows) >= 2 and all("unknown" in row for row in rows)
    ib = [h100_node(f"ib{i}", count=4, links=("infiniband:mlx5_0",), nvlink=True) for i in range(4)]
    result = cli(["cluster", "-"], stdin=ndjson(*ib))
    rows = [line for line in result.out.splitlines() if line.startswith("V4-Pro")]
    assert len(rows) >= 2 and all("NVLink + InfiniBand" in row for row in rows)
    assert "no InfiniBand or RDMA device seen" not in result.out and "Interconnect unknown" not in result.out


def test_untrusted_text_in_skip_messages_is_escaped(cli):
    result = cli(["cluster", "-"], stdin="\x1b]0;owned\x07 garbage\n" + ndjson(h100_node("ok")))
    assert result.code == 0
    assert "\x1b" not in result.err and "\x07" not in result.err


def test_csv_has_one_row_per_node_and_neutralises_formulas(cli):
    result = cli(
        ["cluster", "--sizes", "table", "-", "--csv"], stdin=ndjson(h100_node("=HYPERLINK(1)"), h100_node("n2"))
    )
    assert result.code == 0, result.err
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert [r["hostname"] for r in rows] == ["'=HYPERLINK(1)", "n2"]
    assert rows[1]["usable_vram_bytes"] == str(H100_USABLE) and rows[1]["usable_vram_gib"] == "633.4"
    assert (rows[1]["model"], rows[1]["quant"], rows[1]["fit"]) == ("deepseek-v4-pro", "q4", "comfortable")


def test_compact_json_for_large_fleets_is_the_same_document(cli):
    from vram_advisor.catalog.userprofiles import default_catalog
    from vram_advisor.fleet.inputs import Skipped, stream_inputs
    from vram_advisor.fleet.planner import ClusterPlanner
    from vram_advisor.report import cluster as cluster_report

    odd = h100_node("dup")
    odd["gpus"][0]["visible"] = False
    nodes = [h100_node("dup"), odd, h200_node("big"), inventory_dict([], hostname="cpu")]
    nodes.append(h100_node("wide-\u00e9\u2603", links=("roce:mlx5_0",)))
    planner = ClusterPlanner(default_catalog(), sizes="table")
    for item in stream_inputs(io.BytesIO((ndjson(*nodes) + "noise\n").encode()), "<stdin>"):
        if isinstance(item, Skipped):
            planner.skip(item)
        else:
            planner.add(item)
    plan = planner.finish()
    compact = cluster_report.cluster_json(plan, compact=True)
    assert "\n" not in compact
    assert json.loads(compact) == cluster_report.cluster_dict(plan)
    assert json.loads(cluster_report.cluster_json(plan, compact=False)) == cluster_report.cluster_dict(plan)


def test_lone_surrogates_from_a_node_are_replaced_as_check_reads_them_not_crashing(cli):
    node = h100_node("bad\ud800name")
    text = json.dumps(node)  # ensure_ascii: the surrogate travels as \\ud800, which JSON allows
    for output in (["--json"], ["--csv"], []):
        result = cli(["cluster", "-", *output], stdin=text + "\n")
        assert result.code == 0, result.err
        result.out.encode("utf-8")  # writable to a real terminal or pipe: no raw surrogate left
        assert "bad\ufffdname" in result.out
    assert json.loads(cli(["cluster", "-", "--json"], stdin=text + "\n").out)["nodes"][0]["hostname"] == "bad\ufffdname"


# ------------------------------------------------------------------------------ fleet first: junk costs only itself


def test_a_valid_node_before_100000_junk_lines_is_planned(cli):
    """One node printing garbage must not cost the fleet: reading stops once the junk budget is spent, the nodes
    read before are planned (exit 0), stderr says where reading stopped and how much was skipped, the JSON too."""
    stdin = ndjson(h100_node("gpu-1")) + "garbage from a noisy node\n" * 100_000
    result = cli(["cluster", "-", "--json"], stdin=stdin, env={"VRAM_ADVISOR_WORKERS": "0"})
    assert result.code == 0, result.err[-500:]
    document = result.json()
    assert [n["hostname"] for n in document["nodes"]] == ["gpu-1"]
    assert document["skipped_count"] == document["totals"]["skipped"] == 10_000
    assert document["stopped_reading"] == [
        {
            "source": "<stdin>:10002",
            "reason": "stopped reading: 10000 inputs in a row were not inventories (is this the output of "
            "`vram-advisor probe --json`?); the rest of this input was not read",
        }
    ]
    last = result.err.splitlines()[-1]
    assert last == (
        "vram-advisor: <stdin>:10002: stopped reading: 10000 inputs in a row were not inventories (is this the output "
        "of `vram-advisor probe --json`?); the rest of this input was not read; 10000 inputs skipped in all; planning "
        "the 1 node read"
    )
    assert len(result.err.splitlines()) == 50 + 2  # the first 50 skips, their count, the stop


def test_junk_after_nodes_from_several_inputs_costs_only_its_own_input(cli, tmp_path: Path):
    noisy = tmp_path / "noisy.ndjson"
    noisy.write_text(ndjson(h100_node("a")) + "{\n" * 20_000 + ndjson(h100_node("never-read")))
    quiet = tmp_path / "quiet.ndjson"
    quiet.write_text(ndjson(h100_node("b")))
    result = cli(["cluster", str(noisy), str(quiet), "--json"])
    assert result.code == 0, result.err[-500:]
    document = result.json()
    assert [n["hostname"] for n in document["nodes"]] == ["a", "b"]
    assert [entry["source"] for entry in document["stopped_reading"]] == [f"{noisy}:10002"]
    assert "stopped reading" in result.err.splitlines()[-1]


def test_junk_with_no_node_at_all_is_still_exit_2_in_one_line(cli):
    result = cli(["cluster", "-", "--json"], stdin="junk\n" * 20_000)
    assert result.code == 2 and result.out == ""
    assert result.err == (
        "vram-advisor: error: no inventory could be planned: <stdin>:10001: stopped reading: 10000 inputs in a row "
        "were not inventories (is this the output of `vram-advisor probe --json`?); the rest of this input was not "
        "read; 10000 inputs skipped\n"
    )


def test_the_human_view_says_an_input_was_not_read_to_its_end(cli):
    result = cli(["cluster", "-"], stdin=ndjson(h100_node("gpu-1")) + "junk\n" * 10_001)
    assert result.code == 0
    assert "· an input not read to its end" in " ".join(result.out.split())
    assert "stopped reading" in result.err


@pytest.mark.parametrize("args", [["cluster", "a" * 5000], ["cluster", "--from-k8s", "a" * 5000]])
def test_a_path_too_long_for_the_system_is_one_line(cli: Any, args: list[str]) -> None:
    """Python 3.11's ``Path.is_dir`` raises ENAMETOOLONG instead of answering False (an internal error, exit 3)."""
    result = cli(args)
    assert result.code == 2, result.err
    assert result.err.count("\n") == 1 and "File name too long" in result.err
