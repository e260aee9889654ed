"""The contract's planning rules 1-8, table-driven, through the real CLI (``check --json``)."""

from __future__ import annotations

import pytest

from conftest import GIB, MIB, gpu, inventory_dict
from vram_advisor.catalog.userprofiles import default_catalog
from vram_advisor.core import units
from vram_advisor.inventory.model import Gpu, Inventory, Ram
from vram_advisor.plan import rules as planner

H100 = ("NVIDIA H100 80GB HBM3", 81559, 480)
H200 = ("NVIDIA H200", 143771, None)
RTX4090 = ("NVIDIA GeForce RTX 4090", 24564, None)


def run_check(cli, write_inventory, gpus, ram_gib=64, *extra, env=None, disks=None):
    data = inventory_dict(gpus, ram_gib=ram_gib)
    if disks is not None:
        data["disks"] = disks
    result = cli(["check", "--inventory", write_inventory(data), "--json", "--sizes", "table", *extra], env=env)
    assert result.code in (0, 1), result.err
    return result


def gib_gpu(gib: float) -> dict:
    """One GPU whose usable memory is exactly ``gib`` GiB (no reserved memory)."""
    return gpu(f"GPU {gib} GiB", int(gib * 1024))


# ------------------------------------------------------------------------------------ rule 1: reading the table


def test_table_gb_is_gib_and_tb_is_1024_gb():
    catalog = default_catalog()
    flash_q4 = catalog.model("deepseek-v4-flash").quant("q4")
    assert flash_q4.min_vram_bytes == 96 * GIB
    pro_fp8 = catalog.model("deepseek-v4-pro").quant("fp8")
    assert pro_fp8.min_vram_bytes == 1024 * GIB
    assert pro_fp8.safer_vram_bytes == int(1.2 * 1024 * GIB)  # "1.2TB+"
    assert catalog.model("deepseek-v4-pro-base").quant("fp8").safer_vram_bytes == int(2.4 * 1024 * GIB)


def test_meets_at_98_percent_and_not_below():
    need = 80 * GIB
    threshold = -(-need * 98 // 100)  # the smallest byte count that is at least 98% of the figure
    assert units.meets(threshold, need)
    assert units.meets(need, need)
    assert not units.meets(threshold - 1, need)


def test_h100_as_nvml_reports_it_meets_80gb(cli, write_inventory):
    result = run_check(cli, write_inventory, [gpu(*H100)])
    document = result.json()
    assert document["usable_vram_bytes"] == (81559 - 480) * MIB
    assert document["tier"]["vram_gb"] == 80
    # Flash Q3 needs "80GB": met at its minimum; Flash Q2 (safer 64GB) is comfortable and is the recommendation.
    fits = {(o["model"], o["quant"]): o["fit"] for o in document["options"]}
    assert fits[("deepseek-v4-flash", "q3")] == "minimum"
    assert document["recommendation"]["quant"] == "q2"


def test_a_card_below_98_percent_does_not_meet():
    # 78 GiB is 97.5% of 80 GiB: the 80GB row is not met.
    catalog = default_catalog()
    assert planner.tier_of(catalog, 78 * GIB).vram == "48GB"
    assert planner.tier_of(catalog, -(-80 * GIB * 98 // 100)).vram == "80GB"


# --------------------------------------------------------------------------------- rule 2: usable VRAM


def test_usable_vram_is_total_less_reserved_summed(cli, write_inventory):
    document = run_check(cli, write_inventory, [gpu(*H100)] * 8).json()
    assert document["usable_vram_bytes"] == 8 * (81559 - 480) * MIB
    assert document["gpu_count"] == 8


def test_missing_reserved_counts_as_zero(cli, write_inventory):
    document = run_check(cli, write_inventory, [gpu(*H200)]).json()
    assert document["usable_vram_bytes"] == 143771 * MIB


def test_cuda_visible_devices_limits_usable_vram(cli, write_inventory):
    gpus = [gpu(*H100, uuid=f"GPU-{i}aaaaaaa-0000-0000-0000-00000000000{i}") for i in range(4)]
    only_two = run_check(cli, write_inventory, gpus, env={"CUDA_VISIBLE_DEVICES": "0,2"}).json()
    assert only_two["usable_vram_bytes"] == 2 * (81559 - 480) * MIB
    by_uuid = run_check(cli, write_inventory, gpus, env={"CUDA_VISIBLE_DEVICES": "GPU-3aaa"}).json()
    assert by_uuid["usable_vram_bytes"] == (81559 - 480) * MIB
    none = run_check(cli, write_inventory, gpus, env={"CUDA_VISIBLE_DEVICES": ""}).json()
    assert none["usable_vram_bytes"] == 0
    ignored = run_check(cli, write_inventory, gpus, 64, "--all-gpus", env={"CUDA_VISIBLE_DEVICES": ""}).json()
    assert ignored["usable_vram_bytes"] == 4 * (81559 - 480) * MIB


# ---------------------------------------------------------- rules 3, 5, 6, 7 at each row of the Quick Summary

QUICK_SUMMARY = [
    # (usable GiB, tier, recommendation kind, model, quant, fit, stretch (model, quant) or None)
    (24, "24GB", "api", None, None, None, None),
    (48, "48GB", "api", None, None, None, ("deepseek-v4-flash", "q2")),
    (80, "80GB", "local", "deepseek-v4-flash", "q2", "comfortable", ("deepseek-v4-flash", "q3")),
    (128, "128GB", "local", "deepseek-v4-flash", "q4", "comfortable", ("deepseek-v4-flash", "q5")),
    (192, "192GB", "local", "deepseek-v4-flash", "q6", "comfortable", ("deepseek-v4-flash", "fp8")),
    (256, "256GB", "local", "deepseek-v4-flash", "fp8", "comfortable", None),
    (512, "512GB", "local", "deepseek-v4-flash", "fp8", "comfortable", ("deepseek-v4-pro", "q4")),
    (640, "512GB", "local", "deepseek-v4-pro", "q4", "comfortable", ("deepseek-v4-pro", "q5")),
    (1024, "1TB+", "local", "deepseek-v4-pro", "q6", "comfortable", ("deepseek-v4-pro", "fp8")),
    (2048, "2TB+", "local", "deepseek-v4-pro", "fp8", "comfortable", None),
]


@pytest.mark.parametrize(("usable", "tier", "kind", "model", "quant", "fit", "stretch"), QUICK_SUMMARY)
def test_each_quick_summary_row_at_its_own_vram(cli, write_inventory, usable, tier, kind, model, quant, fit, stretch):
    # 16 GiB of RAM leaves 8 GiB to spare: too little for any offload, so the VRAM alone decides.
    document = run_check(cli, write_inventory, [gib_gpu(usable)], ram_gib=16).json()
    assert document["tier"]["label"] == tier
    recommendation = document["recommendation"]
    assert (recommendation["kind"], recommendation["model"], recommendation["quant"], recommendation["fit"]) == (
        kind,
        model,
        quant,
        fit,
    )
    got_stretch = document["stretch"] and (document["stretch"]["model"], document["stretch"]["quant"])
    assert (got_stretch or None) == stretch


def test_below_the_smallest_row_the_tier_is_null(cli, write_inventory):
    document = run_check(cli, write_inventory, [gib_gpu(16)], ram_gib=16).json()
    assert document["tier"] is None
    assert document["recommendation"]["kind"] == "api"


def test_minimum_without_comfortable_is_recommended_before_experimental(cli, write_inventory):
    # 100 GiB: Flash Q4 meets its minimum (96) but not its safer figure (128); Flash Q3 (safer 96) is comfortable
    # but experimental, so the non-experimental minimum wins (rule 5).
    document = run_check(cli, write_inventory, [gib_gpu(100)], ram_gib=16).json()
    assert document["recommendation"]["quant"] == "q4"
    assert document["recommendation"]["fit"] == "minimum"
    assert document["recommendation"]["experimental"] is False


def test_q3_and_q2_are_experimental(cli, write_inventory):
    document = run_check(cli, write_inventory, [gib_gpu(80)], ram_gib=16).json()
    for option in document["options"]:
        assert option["experimental"] == (option["quant"] in ("q3", "q2"))
    assert document["recommendation"]["experimental"] is True


# ----------------------------------------------------------------------------------------------- rule 4: rank


def test_ranking_order():
    document_order = [
        ("deepseek-v4-pro", "fp8"),
        ("deepseek-v4-pro", "q6"),
        ("deepseek-v4-pro", "q5"),
        ("deepseek-v4-pro", "q4"),
        ("deepseek-v4-flash", "fp8"),
        ("deepseek-v4-flash", "q6"),
        ("deepseek-v4-flash", "q5"),
        ("deepseek-v4-flash", "q4"),
        ("deepseek-v4-pro", "q3"),
        ("deepseek-v4-flash", "q3"),
        ("deepseek-v4-pro", "q2"),
        ("deepseek-v4-flash", "q2"),
    ]
    machine = planner.Machine(usable_vram_bytes=0, spare_ram_bytes=0, gpu_count=0)
    options = planner.evaluate(default_catalog(), machine)
    assert [o.key for o in options] == document_order


def test_base_switches_to_the_base_models(cli, write_inventory):
    document = run_check(cli, write_inventory, [gib_gpu(2048)], 16, "--base").json()
    models = {o["model"] for o in document["options"]}
    assert models == {"deepseek-v4-pro-base", "deepseek-v4-flash-base"}
    # Pro-Base: safer 2TB for Q6 is met, FP8 (minimum 2TB) only at its minimum.
    assert (document["recommendation"]["model"], document["recommendation"]["quant"]) == ("deepseek-v4-pro-base", "q6")
    assert (document["stretch"]["model"], document["stretch"]["quant"]) == ("deepseek-v4-pro-base", "fp8")


def test_base_at_128gb_only_experimental_flash_base(cli, write_inventory):
    # Flash-Base Q2 (min 96, safer 128) is the only comfortable option, and it is experimental.
    document = run_check(cli, write_inventory, [gib_gpu(128)], 16, "--base").json()
    assert (document["recommendation"]["model"], document["recommendation"]["quant"]) == (
        "deepseek-v4-flash-base",
        "q2",
    )


# ---------------------------------------------------------------------------------------------- rule 5: offload


def test_offload_when_ram_covers_the_minimum(cli, write_inventory):
    # One RTX 4090 (24 GiB) + 256 GiB RAM: 230.4 GiB to spare; Flash FP8 (192) is the best option RAM covers.
    document = run_check(cli, write_inventory, [gpu(*RTX4090)], ram_gib=256).json()
    assert document["recommendation"]["kind"] == "offload"
    assert (document["recommendation"]["model"], document["recommendation"]["quant"]) == ("deepseek-v4-flash", "fp8")
    assert document["recommendation"]["fit"] == "offload"
    assert abs(document["spare_ram_bytes"] - 0.9 * 256 * GIB) < MIB  # 10% kept for the OS


def test_cpu_only_with_large_ram_is_offload(cli, write_inventory):
    # 1 TiB of RAM, 921.6 GiB to spare: V4-Pro Q6 (minimum 768 GB) is the best-ranked option it covers.
    document = run_check(cli, write_inventory, [], ram_gib=1024).json()
    assert document["recommendation"]["kind"] == "offload"
    assert (document["recommendation"]["model"], document["recommendation"]["quant"]) == ("deepseek-v4-pro", "q6")
    assert "CPU alone" in document["recommendation"]["reason"]


def test_container_limit_bounds_offload(cli, write_inventory):
    data = inventory_dict([gpu(*RTX4090)], ram_gib=1024)
    data["ram"]["limit_bytes"] = 64 * GIB
    document = cli(["check", "--inventory", write_inventory(data), "--json", "--sizes", "table"]).json()
    assert document["recommendation"]["kind"] == "api"


def test_small_machine_gets_api_and_smaller_models(cli, write_inventory):
    document = run_check(cli, write_inventory, [gpu(*RTX4090)], ram_gib=64).json()
    assert document["recommendation"] == {
        **document["recommendation"],
        "kind": "api",
        "model": None,
        "quant": None,
        "fit": None,
    }
    smaller = document["alternatives"]["smaller_models"]
    names = [m["name"] for m in smaller]
    assert "Qwen3-32B" in names
    # ranked (issue 21): usable speed first, then the score; no longer by size
    assert [m["usable"] for m in smaller] == sorted((m["usable"] for m in smaller), reverse=True)
    assert document["alternatives"]["api"]["url"].startswith("https://")
    qwen = next(m for m in smaller if m["name"] == "Qwen3-32B")
    # 19.8 GB of weights + 8 GiB of f16 KV at the default 32k context do not fit 24 GB: layers go to RAM
    assert qwen["runs_on"] == "gpu+ram" and qwen["kv_bytes"] == 64 * 2 * 8 * 128 * 2 * 32768
    gemma = next(m for m in smaller if m["name"] == "Gemma 3 27B")
    assert gemma["runs_on"] == "gpu"  # its sliding-window layers keep 1024 tokens: 16.5 GB and the KV fit
    llama70 = next(m for m in smaller if m["name"] == "Llama 3.1 70B")
    assert llama70["runs_on"] == "gpu+ram"


def test_unified_memory_is_not_counted_twice():
    inventory = Inventory(
        ram=Ram(total_bytes=128 * GIB),
        gpus=(Gpu(name="NVIDIA GB10", memory_total_bytes=100 * GIB, unified=True),),
    )
    machine = planner.machine_of(inventory)
    assert machine.usable_vram_bytes == 100 * GIB
    assert machine.spare_ram_bytes == 0


# ----------------------------------------------------------------------------------------------- rule 8: require


def test_require_fits_exit_0(cli, write_inventory):
    result = run_check(cli, write_inventory, [gib_gpu(130)], 16, "--require", "deepseek-v4-flash:q4")
    assert result.code == 0
    required = result.json()["required"]
    assert required["fits"] is True and required["model"] == "deepseek-v4-flash" and required["quant"] == "q4"


def test_require_does_not_fit_exit_1(cli, write_inventory):
    result = run_check(cli, write_inventory, [gpu(*H100)], 16, "--require", "deepseek-v4-flash:q4")
    assert result.code == 1
    assert result.json()["required"]["fits"] is False


def test_require_is_case_insensitive(cli, write_inventory):
    result = run_check(cli, write_inventory, [gib_gpu(130)], 16, "--require", "DeepSeek-V4-Flash:Q4")
    assert result.code == 0
    assert result.json()["required"]["quant"] == "q4"


def test_require_minimum_counts_as_fit(cli, write_inventory):
    result = run_check(cli, write_inventory, [gib_gpu(100)], 16, "--require", "deepseek-v4-flash:q4")
    assert result.code == 0
    assert result.json()["required"]["fit"] == "minimum"


def test_require_offload_needs_allow_offload(cli, write_inventory):
    args = ("--require", "deepseek-v4-flash:q4")
    without = run_check(cli, write_inventory, [gpu(*RTX4090)], 256, *args)
    assert without.code == 1
    allowed = run_check(cli, write_inventory, [gpu(*RTX4090)], 256, *args, "--allow-offload")
    assert allowed.code == 0
    assert allowed.json()["required"]["fit"] == "offload"


def test_require_checks_disk_room(cli, write_inventory):
    gpus = [gib_gpu(130)]
    small_disk = [{"path": "/models", "kind": "nvme", "total_bytes": 500 * 10**9, "free_bytes": 50 * 10**9}]
    big_disk = [{"path": "/models", "kind": "nvme", "total_bytes": 500 * 10**9, "free_bytes": 400 * 10**9}]
    args = ("--require", "deepseek-v4-flash:q4", "--model-dir", "/models/hub")
    no_room = run_check(cli, write_inventory, gpus, 16, *args, disks=small_disk)
    assert no_room.code == 1
    assert "free under /models" in no_room.json()["required"]["reason"]
    room = run_check(cli, write_inventory, gpus, 16, *args, disks=big_disk)
    assert room.code == 0
    # Without --model-dir the disk the probe measured (the only one listed) is used.
    default_dir = run_check(cli, write_inventory, gpus, 16, "--require", "deepseek-v4-flash:q4", disks=small_disk)
    assert default_dir.code == 1


def test_require_with_unknown_disk_is_decided_by_memory(cli, write_inventory):
    result = run_check(cli, write_inventory, [gib_gpu(130)], 16, "--require", "deepseek-v4-flash:q4", disks=[])
    assert result.code == 0
    checks = {c["check"]: c["ok"] for c in result.json()["required"]["checks"]}
    assert checks["disk"] is None


def test_require_a_base_model_without_base_flag(cli, write_inventory):
    result = run_check(cli, write_inventory, [gib_gpu(230)], 16, "--require", "deepseek-v4-flash-base:q4")
    assert result.code == 0
    assert result.json()["required"]["fit"] == "comfortable"


def test_quiet_prints_one_line(cli, write_inventory):
    path = write_inventory(inventory_dict([gpu(*H100)], ram_gib=16))
    result = cli(["check", "--inventory", path, "--require", "deepseek-v4-flash:q4", "--quiet", "--sizes", "table"])
    assert result.code == 1
    assert result.out.count("\n") == 1
    assert result.out.startswith("no: deepseek-v4-flash q4 needs 96.0 GiB")
