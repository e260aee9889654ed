"""Contract rule 9 and issue 12: the verdict is true on the files a user will load, and every part of one output
tells the same story. The issue's machines, a corpus of 36 machines checked for consistency (verdict = grid cell =
gate = run block), and the arithmetic edges a mutation check found unpinned."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace

import pytest

from conftest import gpu, inventory_dict
from vram_advisor.catalog.userprofiles import default_catalog
from vram_advisor.core import units
from vram_advisor.plan.choose import raised_row
from vram_advisor.plan.estimate import kv_cache_bytes
from vram_advisor.plan.machine import Machine
from vram_advisor.plan.rules import fit_of

BIG_DISK = {"path": "/models", "kind": "nvme", "total_bytes": 8 * 10**12, "free_bytes": 6 * 10**12}


def check(cli, write_inventory, *args: str, disks=(BIG_DISK,)):  # type: ignore[no-untyped-def]
    path = write_inventory(inventory_dict([], ram_gib=64, disks=list(disks)))
    result = cli(["check", "--json", "--inventory", path, "--model-dir", "/models", *args])
    assert result.code in (0, 1), result.err
    return result.json()


def option(document, model: str, quant: str):  # type: ignore[no-untyped-def]
    return next(o for o in document["options"] if (o["model"], o["quant"]) == (model, quant))


# ------------------------------------------------------------------------------------- the machines


def test_one_h100_runs_flash_with_its_experts_in_ram_at_a_stated_speed(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    document = check(cli, write_inventory, "--gpus", "1xH100", "--ram", "256GB")
    rec = document["recommendation"]
    assert (rec["kind"], rec["model"], rec["placement"]) == ("offload", "deepseek-v4-flash", "gpu+ram")
    assert rec["decode_tokens_per_s"]["estimate"] > 0 and rec["decode_tokens_per_s"]["text"].startswith("≈")
    assert document["run"]["placement"] == "gpu+ram"
    # the article's answer, one line beside it
    table = document["table_verdict"]
    assert (table["model"], table["quant"], table["fit"]) == ("deepseek-v4-flash", "q2", "comfortable")
    assert table["differs"] is True and "the article rates V4-Flash Q2 comfortable at 64.0 GiB" in table["note"]
    assert table["note"].endswith("; its download needs 86.3 GiB")  # unsloth's UD-IQ2_XXS, 90.9 GB


def test_the_article_alone_still_says_flash_q2_on_one_h100(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    document = check(cli, write_inventory, "--gpus", "1xH100", "--ram", "256GB", "--sizes", "table")
    rec = document["recommendation"]
    assert (rec["kind"], rec["model"], rec["quant"], rec["fit"]) == ("local", "deepseek-v4-flash", "q2", "comfortable")
    assert document["table_verdict"] is None


def test_eight_h100_run_flash_fp8_on_the_gpus(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    document = check(cli, write_inventory, "--gpus", "8xH100", "--ram", "2TB")
    rec = document["recommendation"]
    assert (rec["kind"], rec["model"], rec["quant"], rec["placement"]) == ("local", "deepseek-v4-flash", "fp8", "gpu")
    # the download goes to --model-dir, and vLLM loads that very folder (rule 11)
    assert document["run"]["steps"] == [
        "hf download deepseek-ai/DeepSeek-V4-Flash-0731 --local-dir /models/DeepSeek-V4-Flash-0731",
        document["run"]["command"],
    ]
    assert document["run"]["command"].startswith("vllm serve /models/DeepSeek-V4-Flash-0731 --trust-remote-code")
    assert option(document, "deepseek-v4-pro", "q4")["fit"] not in ("comfortable", "minimum")  # ~926 GB computed


def test_two_rtx_pro_6000_run_native_flash_fp8(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    rec = check(cli, write_inventory, "--gpus", "2xRTXPRO6000", "--ram", "256GB")["recommendation"]
    assert (rec["model"], rec["quant"], rec["placement"]) == ("deepseek-v4-flash", "fp8", "gpu")


def test_eight_h200_keep_native_pro_fp8_in_the_picture(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    document = check(cli, write_inventory, "--gpus", "8xH200", "--ram", "2TB")
    rec, stretch = document["recommendation"], document["stretch"]
    picked = {(rec["model"], rec["quant"]), (stretch or {}).get("model"), ((stretch or {}).get("quant"))}
    assert ("deepseek-v4-pro", "fp8") in {
        (rec["model"], rec["quant"]),
        ((stretch or {}).get("model"), (stretch or {}).get("quant")),
    }, picked
    assert option(document, "deepseek-v4-pro", "fp8")["fit"] in ("comfortable", "minimum")


def test_the_gate_refuses_a_155_gb_file_that_fits_nowhere(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    path = write_inventory(inventory_dict([], ram_gib=64, disks=[BIG_DISK]))
    args = [
        "check",
        "--inventory",
        path,
        "--require",
        "deepseek-v4-flash:q4",
        "--gpus",
        "1xRTXPRO6000",
        "--ram",
        "64GB",
    ]
    result = cli([*args, "--quiet"])
    assert result.code == 1 and result.out.startswith("no: ")
    assert cli([*args, "--sizes", "table", "--quiet"]).code == 0  # the article's figures alone would say ok


def test_the_gate_counts_the_real_download_against_the_disk(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    small = {"path": "/models", "kind": "nvme", "total_bytes": 200 * 10**9, "free_bytes": 120 * 10**9}
    document = check(cli, write_inventory, "--gpus", "8xH100", "--require", "deepseek-v4-flash:fp8", disks=(small,))
    required = document["required"]
    assert required["fit"] == "comfortable" and required["fits"] is False  # 159.6 GB > 120 GB free
    assert any(c["check"] == "disk" and c["ok"] is False for c in required["checks"])


# ------------------------------------------------------------------------------------------ one story


CARDS = ["H100", "H200", "RTXPRO6000", "RTX4090", "A100-80GB", "B200", "L40S"]
COUNTS = [1, 2, 4, 8]
CORPUS = [(f"{n}x{card}", ram) for card, n in itertools.product(CARDS, COUNTS) for ram in ["256GB"]][:28]
CORPUS += [("0", "768GB"), ("0", "64GB"), ("GB10", "128GB"), ("M3-Ultra-512GB", "512GB"), ("M4-Max-128GB", "128GB")]
CORPUS += [("1xRTX4090", "32GB"), ("2xRTX4090", "128GB"), ("16xH100", "4TB")]


@pytest.mark.parametrize(("gpus", "ram"), CORPUS)
def test_verdict_grid_gate_and_run_block_agree(cli, write_inventory, gpus: str, ram: str) -> None:  # type: ignore[no-untyped-def]
    document = check(cli, write_inventory, "--gpus", gpus, "--ram", ram)
    usable = document["usable_vram_bytes"]
    for entry in document["options"]:
        if entry["fit"] in ("comfortable", "minimum"):
            # never graded on GPU while the real weights exceed usable VRAM
            assert entry["weights_bytes"] <= usable, entry
            assert entry["placement"] in ("gpu", "unified")
            assert entry["real"]["min_vram_gb"] >= entry["min_vram_gb"]  # never more optimistic than the article
    rec = document["recommendation"]
    if rec["kind"] == "api":
        assert rec["placement"] is None and document["run"] is None
        return
    cell = option(document, rec["model"], rec["quant"])
    assert cell["fit"] == rec["fit"] and cell["placement"] == rec["placement"]  # verdict = grid cell
    assert document["run"]["placement"] == rec["placement"] or (  # verdict = run block
        rec["placement"] == "unified" and document["run"]["placement"] == "gpu"
    )
    assert (rec["kind"] == "local") == (rec["placement"] in ("gpu", "unified"))
    gate = check(
        cli,
        write_inventory,
        "--gpus",
        gpus,
        "--ram",
        ram,
        "--require",
        f"{rec['model']}:{rec['quant']}",
        "--allow-offload",
    )
    assert gate["required"]["fits"] is True and gate["required"]["fit"] == rec["fit"]  # verdict = gate


def test_the_corpus_has_at_least_30_machines() -> None:
    assert len(set(CORPUS)) >= 30


def test_the_human_view_names_the_verdicts_placement_and_speed(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    path = write_inventory(inventory_dict([], ram_gib=64, disks=[BIG_DISK]))
    what_if = ["--inventory", path, "--gpus", "1xH100", "--ram", "256GB"]
    document = cli(["check", "--json", *what_if]).json()
    lines = cli(["check", *what_if]).out.splitlines()
    verdict = next(line for line in lines if line.startswith("Verdict"))
    assert lines.index(verdict) <= 2
    human = " ".join(" ".join(lines).split())
    assert document["recommendation"]["decode_tokens_per_s"]["text"] in human
    assert "GPUs + RAM" in verdict and "DeepSeek-V4-Flash FP8" in verdict
    note = document["table_verdict"]["note"]
    # the article's answer, one line beside the verdict
    assert "Article " + note.removeprefix("the article ") in human


# ------------------------------------------------------------------------------------ pinned arithmetic


def test_kv_rows_round_up_at_a_context_that_is_no_multiple_of_4_or_128() -> None:
    arch = default_catalog().model("deepseek-v4-flash").architecture
    at_1000, at_1001 = kv_cache_bytes(arch, 1000), kv_cache_bytes(arch, 1001)
    assert at_1001.csa_rows == 251 and at_1001.hca_rows == 8  # ceil(1001 / 4), ceil(1001 / 128)
    one_row = at_1001.main_row_bytes + at_1001.indexer_row_bytes
    assert at_1001.total_bytes - at_1000.total_bytes == arch.csa_layers * one_row
    at_1024, at_1025 = kv_cache_bytes(arch, 1024), kv_cache_bytes(arch, 1025)
    assert (
        at_1025.total_bytes - at_1024.total_bytes
        == arch.csa_layers * one_row + arch.hca_layers * at_1025.main_row_bytes
    )


def test_the_98_percent_rule_holds_at_the_exact_edge() -> None:
    required = 100 * units.GIB
    edge = required * 98 // 100
    assert edge * 100 == required * 98  # an exact edge: 98% of 100 GiB is a whole number of bytes
    assert units.meets(edge, required) is True
    assert units.meets(edge - 1, required) is False


def test_a_need_just_covered_is_minimum_and_one_byte_less_is_not() -> None:
    """A download's need counts whole (no 98% slack on the need): usable VRAM equal to the need is ``minimum``, one
    byte less is not, through the threshold the verdict reads (``QuantRow.min_threshold_bytes``, in ``fit_of`` and
    ``choose.verdict``). The 98% rule still grants the table's own figure (the test above)."""
    row = default_catalog().model("deepseek-v4-flash").quant("q4")
    for need in (row.min_vram_bytes + 1, 100 * units.GIB + 7, 123_456_789_013):
        judged = raised_row(row, need // 2, need)
        assert judged.min_threshold_bytes == need > units.meets_threshold(row.min_vram_bytes)
        machine = Machine(usable_vram_bytes=need, spare_ram_bytes=0, gpu_count=1)
        assert fit_of(judged, machine) == "minimum"
        assert fit_of(judged, replace(machine, usable_vram_bytes=need - 1)) == "none"


def test_json_adds_placement_the_table_fit_and_the_real_figures(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    """The contract's fields stay (test_cli's shape test, in both modes); rule 9 adds these beside them."""
    document = check(cli, write_inventory, "--gpus", "2xH100")
    assert "placement" in document["recommendation"]
    for entry in document["options"]:
        assert {"table_fit", "placement", "real"} <= set(entry)
    flash_q4 = option(document, "deepseek-v4-flash", "q4")
    assert flash_q4["real"]["weights_gb"] > flash_q4["weights_gb"] == 80  # the real file, beside the article's


def test_cluster_groups_are_judged_on_the_real_download_too(cli) -> None:  # type: ignore[no-untyped-def]
    """Three 8 x H100 nodes: under rule 9 Pro Q4 (a ~926 GB GGUF to convert) needs two nodes, where the article's
    figures alone let one node hold it; the group's need is never below the article's figure."""

    def node(name: str) -> str:
        gpus = [gpu("NVIDIA H100 80GB HBM3", 81559, 480, index=i, uuid=f"GPU-{name}-{i}") for i in range(8)]
        return json.dumps(inventory_dict(gpus, ram_gib=2048, hostname=name))

    stdin = "\n".join(node(name) for name in ("a", "b", "c")) + "\n"
    real = cli(["cluster", "-", "--json"], stdin=stdin).json()
    table = cli(["cluster", "-", "--json", "--sizes", "table"], stdin=stdin).json()
    real_groups = {(m["model"], m["quant"]): m for m in real["multi_node"]}
    table_groups = {(m["model"], m["quant"]): m for m in table["multi_node"]}
    assert ("deepseek-v4-pro", "q4") in real_groups and ("deepseek-v4-pro", "q4") not in table_groups
    assert real["nodes"][0]["recommendation"]["model"] == "deepseek-v4-flash"
    assert table["nodes"][0]["recommendation"]["model"] == "deepseek-v4-pro"
