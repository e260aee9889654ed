"""``--users N``: the KV cache for N sequences at ``--context`` each, a command that serves N, the most users that fit
the recommendation (``capacity.max_users``), their aggregate speed, and the bad values (exit 2)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from calibration import estimate_point, load_points, point_inventory
from vram_advisor.catalog.profiles import packaged_catalog
from vram_advisor.inventory.bandwidth import parse_user_bandwidth
from vram_advisor.plan.capacity import aggregate_speed, distinct_experts_share
from vram_advisor.plan.estimate.option import estimate_option
from vram_advisor.plan.estimate.placement import machine_view

H100S = ["--gpus", "8xH100-80GB", "--ram", "1TB"]
FIXTURES = Path(__file__).parent / "fixtures"


def words(command: str) -> dict[str, str]:
    split = shlex.split(command)
    return {word: split[i + 1] for i, word in enumerate(split[:-1]) if word.startswith("-")}


def option_of(doc: dict, model: str, quant: str) -> dict:  # type: ignore[type-arg]
    return next(o for o in doc["options"] if (o["model"], o["quant"]) == (model, quant))


def test_eight_users_at_128k_count_eight_kv_caches_and_the_command_serves_eight(cli) -> None:  # type: ignore[no-untyped-def]
    one = cli(["check", *H100S, "--context", "128k", "--json"]).json()
    eight = cli(["check", *H100S, "--context", "128k", "--users", "8", "--json"]).json()
    assert (one["users"], eight["users"]) == (1, 8)
    for option in eight["options"]:
        before = option_of(one, option["model"], option["quant"])
        if option["kv_cache_bytes"] is not None and option["engine"] == before["engine"]:
            assert option["kv_cache_bytes"] == 8 * before["kv_cache_bytes"]
            assert option["need_bytes"] - before["need_bytes"] == 7 * before["kv_cache_bytes"]
    flags = words(eight["run"]["command"])
    assert flags["--max-num-seqs"] == "8" and flags["--max-model-len"] == "131072"
    capacity = eight["capacity"]
    assert capacity["users"] == 8 and capacity["fits"] is True and capacity["max_users"] >= 8
    aggregate = capacity["aggregate_decode_tokens_per_s"]
    single = eight["recommendation"]["decode_tokens_per_s"]["estimate"]
    assert single < aggregate["estimate"] < 8 * single  # batching helps, never beyond 8 streams' worth
    assert aggregate["low"] < aggregate["estimate"] < aggregate["high"]


def test_llama_server_gets_a_slot_of_the_full_context_for_each_user(cli) -> None:  # type: ignore[no-untyped-def]
    doc = cli(["check", "--gpus", "3xRTX3090", "--ram", "128GB", "--users", "4", "--json"]).json()
    flags = words(doc["run"]["command"])
    assert flags["-np"] == "4" and flags["-c"] == str(4 * doc["context_tokens"])  # llama-server divides -c by -np


def test_max_users_is_exactly_where_the_recommendation_stops_fitting(cli) -> None:  # type: ignore[no-untyped-def]
    doc = cli(["check", "--gpus", "1xH100-80GB", "--ram", "256GB", "--context", "1M", "--json"]).json()
    rec, most = doc["recommendation"], doc["capacity"]["max_users"]
    assert rec["kind"] in ("local", "offload") and 1 <= most < 4096
    at_most = cli(
        ["check", "--gpus", "1xH100-80GB", "--ram", "256GB", "--context", "1M", "--users", str(most), "--json"]
    )
    doc_most = at_most.json()
    assert (doc_most["recommendation"]["model"], doc_most["recommendation"]["quant"]) == (rec["model"], rec["quant"])
    assert doc_most["capacity"]["fits"] is True
    beyond = cli(
        ["check", "--gpus", "1xH100-80GB", "--ram", "256GB", "--context", "1M", "--users", str(most + 1), "--json"]
    ).json()
    same = (beyond["recommendation"]["model"], beyond["recommendation"]["quant"]) == (rec["model"], rec["quant"])
    assert not same or beyond["recommendation"]["placement"] != rec["placement"]  # one more user: it changes


def test_more_users_than_fit_is_an_answer_and_the_gate_says_no(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    from conftest import gpu, inventory_dict

    disk = {"path": "/models", "kind": "nvme", "free_bytes": 4 * 10**12, "total_bytes": 4 * 10**12}
    machine = inventory_dict([gpu("NVIDIA GeForce RTX 3090", 24576)] * 3, ram_gib=128, disks=[disk])
    args = ["check", "--inventory", write_inventory(machine), "--model-dir", "/models"]
    doc = cli([*args, "--users", "400", "--json"]).json()
    assert doc["recommendation"]["kind"] == "api"
    assert doc["capacity"]["fits"] is False and doc["capacity"]["for_one_user"]["max_users"] >= 2
    human = cli([*args, "--users", "400"]).out
    assert "400 users at 32k tokens each do not fit" in human
    gate = ["--require", "deepseek-v4-flash:fp8", "--allow-offload"]
    assert cli([*args, "--users", "400", *gate]).code == 1
    assert cli([*args, "--users", "2", *gate]).code == 0


@pytest.mark.parametrize("value", ["0", "-3", "1.5", "eight", "4097", "9" * 200, ""])
def test_bad_user_counts_are_one_line_and_exit_2(cli, value: str) -> None:  # type: ignore[no-untyped-def]
    for command in (["check"], ["estimate", "deepseek-v4-flash", "--quant", "q4"], ["cluster", "-"]):
        result = cli(
            [*command, *H100S[:2], f"--users={value}"] if command[0] != "cluster" else [*command, f"--users={value}"]
        )
        assert result.code == 2, (command, value, result.err)
        assert result.err.count("\n") == 1 and "--users" in result.err and "Traceback" not in result.err
        assert len(result.err) < 200


def test_estimate_takes_users_too(cli) -> None:  # type: ignore[no-untyped-def]
    doc = cli(["estimate", "deepseek-v4-flash", "--quant", "q4", "--users", "8", "--context", "128k", *H100S, "--json"])
    data = doc.json()
    assert data["kv_cache"]["sequences"] == 8
    assert words(data["run"]["command"]).get("--max-num-seqs", words(data["run"]["command"]).get("-np")) == "8"


def test_cluster_plans_each_node_for_the_users(cli, tmp_path: Path, write_inventory) -> None:  # type: ignore[no-untyped-def]
    from conftest import gpu, inventory_dict

    node = write_inventory(inventory_dict([gpu("NVIDIA H100 80GB HBM3", 81559, 480)], ram_gib=256))
    one = cli(["cluster", node, "--context", "1M", "--json"]).json()
    many = cli(["cluster", node, "--context", "1M", "--users", "64", "--json"]).json()
    assert json.dumps(one) != json.dumps(many)  # 64 users' KV at 1M changes what one H100 holds


def test_the_distinct_experts_a_step_reads_grow_slower_than_the_users() -> None:
    flash = packaged_catalog().model("deepseek-v4-flash").architecture
    assert flash is not None
    assert distinct_experts_share(flash, 1) == 1.0
    shares = [distinct_experts_share(flash, users) for users in (2, 8, 64, 1024)]
    assert shares == sorted(shares) and all(
        share < users for share, users in zip(shares, (2, 8, 64, 1024), strict=True)
    )
    assert shares[-1] <= flash.routed_experts / flash.experts_per_token  # at most every expert once


@pytest.mark.parametrize(("row", "users", "measured"), [(3, 8, 65.6), (6, 10, 93.0)])
def test_aggregate_speed_lands_within_2x_of_the_public_concurrency_runs(row: int, users: int, measured: float) -> None:
    """FlashML-org/FreeToken#444 (65.6 tok/s at 8 concurrent) and vllm-project/vllm PR #40852 (93 at 10)."""
    _tolerance, points = load_points(FIXTURES / "measured_speeds.json")
    point = next(p for p in points if p.row == row)
    single = estimate_point(point)
    model = packaged_catalog().model(point.model)
    machine = machine_view(
        point_inventory(point), parse_user_bandwidth(point.ram_bw, "ram_bw") if point.ram_bw else None
    )
    estimate = estimate_option(model, model.quant(point.quant), 2048, machine, "bf16", "published")
    aggregate = aggregate_speed(single.placement, estimate, users)
    assert aggregate is not None and single.speed is not None
    assert aggregate.tokens_per_s > single.speed.tokens_per_s
    assert 0.5 <= aggregate.tokens_per_s / measured <= 2.0


def test_more_tokens_in_all_than_llama_server_takes_is_one_line_and_exit_2(cli) -> None:  # type: ignore[no-untyped-def]
    # llama-server reads -c (users x context) as a 32-bit int: 2048 users at 1M tokens each cannot be printed
    for command in (["check", *H100S], ["estimate", "deepseek-v4-flash", "--quant", "q4", *H100S], ["cluster", "-"]):
        result = cli([*command, "--users", "2048", "--context", "1M"], stdin=json.dumps({"schema": "x"}) + "\n")
        assert result.code == 2 and "32-bit" in result.err and result.err.count("\n") == 1, (command, result.err)
    assert cli(["check", *H100S, "--users", "2047", "--context", "1M", "--json"]).code == 0


def test_cluster_refuses_a_context_no_model_takes_as_check_does(cli) -> None:  # type: ignore[no-untyped-def]
    from conftest import gpu, inventory_dict

    node = inventory_dict([gpu("NVIDIA GeForce RTX 4090", 24564, 300)], ram_gib=64)
    result = cli(["cluster", "-", "--context", "2M"], stdin=json.dumps(node) + "\n")
    alone = cli(["check", "--gpus", "1xRTX4090", "--context", "2M"])
    assert result.code == alone.code == 2
    assert "longer than" in result.err and result.err.count("\n") == 1
