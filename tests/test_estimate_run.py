"""The "Run it" command can load what it names: the file it loads (a published GGUF can be twice the table's
weights) is judged against the machine with the same overheads as the estimate, and the command changes placement,
or is withheld, where that file does not fit."""

from __future__ import annotations

import shlex

import pytest

from conftest import GIB, gpu, inventory_dict
from vram_advisor.catalog.releases import with_release
from vram_advisor.catalog.userprofiles import default_catalog
from vram_advisor.inventory import model as inv
from vram_advisor.plan import estimate as est
from vram_advisor.plan import runners

RTX_4090 = ("NVIDIA GeForce RTX 4090", 24564)
NVME = {"path": "/models", "kind": "nvme", "free_bytes": 2 * 10**12, "total_bytes": 4 * 10**12}


def flags(command: str) -> dict[str, str]:
    words = shlex.split(command)
    return {word: words[i + 1] for i, word in enumerate(words[:-1]) if word.startswith("-")}


def loaded_bytes(model: str, quant: str, release: str | None = None) -> int:
    """What a command for this option loads, by the profile: the first published file, else the GGUF made to the
    row's bits per weight (deepseek-v4-facts.md §1.4: the bits reproduce published GGUFs within 3%)."""
    profile = with_release(default_catalog(), release).model(model)
    row = profile.quant(quant)
    if row.published:
        return row.published[0].size_bytes
    assert profile.architecture is not None and row.bits is not None
    return est.computed_weights_bytes(profile.architecture, row.bits)


def as_loaded(
    model: str, quant: str, context: int, machine: dict, placement: str, release: str | None = None
) -> est.Placement:  # type: ignore[type-arg]
    """The placement as the estimate sees it with what the command loads as the weights."""
    profile = with_release(default_catalog(), release).model(model)
    view = est.machine_view(inv.from_dict(machine), model_dir=machine["disks"][0]["path"])
    estimate = est.estimate_option(profile, profile.quant(quant), context, view)
    loaded = est.estimate_with_weights(estimate, loaded_bytes(model, quant, release), "loaded")
    assert loaded.weights.bytes == loaded_bytes(model, quant, release)
    return next(p for p in loaded.placements if p.kind == placement)


def test_four_rtx_4090_do_not_get_a_command_that_loads_155_gb_onto_96_gib(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    # The table's Flash Q4 (80 GB) meets its 96 GB minimum on 4 x 24 GiB, but the command downloads unsloth's
    # 155 GB UD-Q4_K_XL: all on the GPUs it needs ~150 GiB. With 512 GiB of RAM the routed experts go there.
    machine = inventory_dict([gpu(*RTX_4090)] * 4, ram_gib=512, disks=[NVME])
    path = write_inventory(machine)
    doc = cli(
        ["check", "--sizes", "table", "--inventory", path, "--model-dir", "/models", "--json", "--release", "preview"]
    ).json()
    assert (doc["recommendation"]["kind"], doc["recommendation"]["quant"]) == ("local", "q4")
    run = doc["run"]
    assert run["placement"] == "gpu+ram"
    assert flags(run["command"])["-ot"] == "exps=CPU"
    assert run["loads"]["bytes"] == 155 * 10**9 and run["loads"]["basis"] == "published"
    assert "cannot go all on the GPUs" in run["warning"]
    assert "UD-Q4_K_XL (155 GB), the file the command loads" in run["warning"]
    hybrid = as_loaded("deepseek-v4-flash", "q4", 32768, machine, "gpu+ram", "preview")
    assert hybrid.fits is True
    assert hybrid.gpu_bytes <= doc["usable_vram_bytes"]
    gpu_plan = as_loaded("deepseek-v4-flash", "q4", 32768, machine, "gpu")
    assert gpu_plan.need_bytes > doc["usable_vram_bytes"]


def test_without_the_ram_for_the_experts_the_command_maps_them_from_disk_and_says_why(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    machine = inventory_dict([gpu(*RTX_4090)] * 4, ram_gib=24, disks=[NVME])
    result = cli(
        ["check", "--sizes", "table", "--inventory", write_inventory(machine), "--model-dir", "/models", "--json"]
    )
    run = result.json()["run"]
    assert run["placement"] == "nvme"
    assert flags(run["command"])["-ot"] == "exps=CPU"
    assert "nor with the routed experts in RAM (-ot exps=CPU): RAM:" in run["warning"]
    assert as_loaded("deepseek-v4-flash", "q4", 32768, machine, "gpu+ram").fits is False
    human = cli(
        ["check", "--sizes", "table", "--inventory", write_inventory(machine), "--model-dir", "/models", "--details"]
    ).out
    assert "why this placement:" in human and "mapped from the disk" in human


def test_a_file_that_fits_nowhere_gets_no_command_but_the_reason(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    machine = inventory_dict([gpu("NVIDIA GeForce RTX 4060", 8188)], ram_gib=16, disks=[NVME])
    path = write_inventory(machine)
    doc = cli(["estimate", "deepseek-v4-flash", "--quant", "q4", "--inventory", path, "--json"]).json()
    run = doc["run"]
    assert run["command"] is None and run["placement"] is None and run["fits"] is False
    assert "fits no placement on this machine" in run["warning"]
    out = cli(["estimate", "deepseek-v4-flash", "--quant", "q4", "--inventory", path]).out
    assert "Run it: no command for this machine" in out
    assert "llama-server" not in out


def test_a_gguf_to_convert_is_sized_by_its_bits_per_weight(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    # 8 x H100 (633 GiB) meet the table's Pro Q4 (432 GB of weights), but no Q4 GGUF of Pro is published and one
    # made with llama-quantize (Q4_K experts, Q8_0 rest) is ~926 GB: the command keeps the routed experts in RAM.
    machine = inventory_dict([gpu("NVIDIA H100 80GB HBM3", 81559, 480)] * 8, ram_gib=2048, disks=[NVME])
    doc = cli(
        ["check", "--sizes", "table", "--inventory", write_inventory(machine), "--model-dir", "/models", "--json"]
    ).json()
    assert (doc["recommendation"]["model"], doc["recommendation"]["quant"]) == ("deepseek-v4-pro", "q4")
    run = doc["run"]
    assert run["placement"] == "gpu+ram" and flags(run["command"])["-ot"] == "exps=CPU"
    assert run["loads"] == {
        "bytes": loaded_bytes("deepseek-v4-pro", "q4"),
        "basis": "computed",
        "name": None,
        "stated": None,
        "repo": None,
    }
    assert "by their bits per weight" in run["warning"]


def test_the_file_fits_the_gpus_and_the_command_stays_all_on_gpu(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    machine = inventory_dict([gpu("NVIDIA H100 80GB HBM3", 81559, 480)] * 2, ram_gib=512, disks=[NVME])
    doc = cli(["estimate", "deepseek-v4-flash", "--quant", "q2", "--inventory", write_inventory(machine), "--json"])
    run = doc.json()["run"]
    assert run["placement"] == "gpu" and run["warning"] is None and run["fits"] is True
    assert "-ot" not in flags(run["command"])


@pytest.mark.parametrize(
    ("gpus", "ram_gib"),
    [
        ([gpu(*RTX_4090)] * 4, 512),
        ([gpu(*RTX_4090)] * 4, 24),
        ([gpu(*RTX_4090)], 192),
        ([gpu("NVIDIA H100 80GB HBM3", 81559, 480)], 256),
        ([gpu("NVIDIA H100 80GB HBM3", 81559, 480)] * 2, 64),
        ([gpu("NVIDIA H100 80GB HBM3", 81559, 480)] * 8, 2048),
        ([gpu("NVIDIA H200", 143771)], 128),
        ([gpu("NVIDIA H200", 143771)] * 2, 1024),
        ([], 256),
    ],
)
@pytest.mark.parametrize("context", ["32k", "1M"])
def test_every_command_check_prints_fits_with_the_file_it_loads(cli, write_inventory, gpus, ram_gib, context) -> None:  # type: ignore[no-untyped-def]
    machine = inventory_dict(gpus, ram_gib=ram_gib, disks=[NVME])
    doc = cli(
        ["check", "--inventory", write_inventory(machine), "--model-dir", "/models", "--context", context, "--json"]
    ).json()
    run = doc["run"]
    if run is None or run.get("command") is None:
        return
    model, quant = doc["recommendation"]["model"], doc["recommendation"]["quant"]
    placement = as_loaded(model, quant, doc["context_tokens"], machine, run["placement"])
    assert placement.fits is True, (model, quant, run)
    if run["placement"] == "gpu":
        assert placement.budget_bytes is not None and placement.need_bytes <= placement.budget_bytes


def test_runnable_keeps_the_placement_without_a_machine() -> None:
    flash = est.estimate_option(*_flash_q4(), 32768)
    loaded, chosen, why = runners.runnable(flash, flash.gpu)  # type: ignore[arg-type]
    assert chosen is not None and chosen.kind == est.PLACEMENT_GPU and why is None
    assert loaded.weights.bytes == 155 * 10**9 and chosen.fits is None
    assert chosen.need_bytes > 155 * 10**9 > 140 * GIB


def _flash_q4():  # type: ignore[no-untyped-def]
    model = with_release(default_catalog(), "preview").model("deepseek-v4-flash")
    return model, model.quant("q4")
