"""The "Run it" command can load what it names: the file it loads (a published GGUF can be twice the table's
weights) is judged against the machine with the same overheads as the estimate, and the command changes placement,
or is withheld, where that file does not fit."""

from __future__ import annotations

import shlex

import pytest

from conftest import gpu, inventory_dict
from vram_advisor.catalog.userprofiles import default_catalog
from vram_advisor.inventory import model as inv
from vram_advisor.plan import estimate as est
from vram_advisor.plan import runners

RTX_4090 = ("NVIDIA GeForce RTX 4090", 24564)
NVME = {"path": "/models", "kind": "nvme", "free_bytes": 2 * 10**12, "total_bytes": 4 * 10**12}


def flags(command: str) -> dict[str, str]:
    words = shlex.split(command)
    return {word: words[i + 1] for i, word in enumerate(words[:-1]) if word.startswith("-")}


def as_loaded(doc: dict, machine: dict, placement: str) -> est.Placement:  # type: ignore[type-arg]
    """The printed command's placement, estimated again from the JSON alone: the recommendation's row with the bytes
    the command loads (``run.loads``) as its weights and the memory of the engine that runs it."""
    from dataclasses import replace

    model = default_catalog().model(doc["recommendation"]["model"])
    row = model.quant(doc["recommendation"]["quant"])
    assert row.bits is not None
    memory = "vllm" if doc["run"]["engine_id"] in ("vllm", "sglang") else "llama.cpp"
    row = replace(row, bits=replace(row.bits, engine=memory))
    view = est.machine_view(inv.from_dict(machine), model_dir=machine["disks"][0]["path"])
    estimate = est.estimate_option(model, row, doc["context_tokens"], view)
    loaded = est.estimate_with_weights(estimate, doc["run"]["loads"]["bytes"], "loaded")
    assert loaded.weights.bytes == doc["run"]["loads"]["bytes"]
    return next(p for p in loaded.placements if p.kind == placement)


def test_the_articles_q2_on_one_h100_runs_with_the_experts_in_ram_and_says_why(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    # By the article's figures (--sizes table) Flash Q2 (64 GB safer) is comfortable on one H100, but the file
    # llama.cpp loads for it, unsloth's UD-IQ2_XXS, is 90.9 GB: the command keeps the routed experts in RAM.
    machine = inventory_dict([gpu("NVIDIA H100 80GB HBM3", 81559, 480)], ram_gib=256, disks=[NVME])
    doc = cli(
        ["check", "--sizes", "table", "--inventory", write_inventory(machine), "--model-dir", "/models", "--json"]
    )
    doc = doc.json()
    assert (doc["recommendation"]["kind"], doc["recommendation"]["quant"]) == ("local", "q2")
    run = doc["run"]
    assert run["placement"] == "gpu+ram"
    assert run["loads"]["bytes"] == 90_860_736_928 and run["loads"]["basis"] == "published"
    assert "cannot go all on the GPUs" in run["warning"]
    assert "unsloth UD-IQ2_XXS GGUF (90.9 GB), the file the command loads" in run["warning"]
    hybrid = as_loaded(doc, machine, "gpu+ram")
    assert hybrid.fits is True
    assert as_loaded(doc, machine, "gpu").need_bytes > doc["usable_vram_bytes"]
    # the VRAM the rest leaves holds most layers' routed experts: only the first few stay in RAM
    split = hybrid.expert_split
    assert split is not None and split.partial and split.layers == 43
    assert flags(run["command"])["--n-cpu-moe"] == str(split.cpu_layers) and "-ot" not in flags(run["command"])
    assert hybrid.gpu_bytes <= doc["usable_vram_bytes"] < hybrid.gpu_bytes + split.routed_bytes // split.layers


def test_without_the_ram_for_the_experts_the_command_maps_them_from_disk_and_says_why(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    # 8 GiB of RAM cannot hold even the first layers' routed experts that the H100 leaves out
    machine = inventory_dict([gpu("NVIDIA H100 80GB HBM3", 81559, 480)], ram_gib=8, disks=[NVME])
    args = ["check", "--sizes", "table", "--inventory", write_inventory(machine), "--model-dir", "/models"]
    doc = cli([*args, "--json"]).json()
    run = doc["run"]
    assert run["placement"] == "nvme"
    nvme = as_loaded(doc, machine, "nvme")
    assert nvme.expert_split is not None and nvme.expert_split.partial and nvme.weights_disk > 0
    assert flags(run["command"])["--n-cpu-moe"] == str(nvme.expert_split.cpu_layers)
    assert "nor with routed experts in RAM (--n-cpu-moe N, or -ot exps=CPU for all of them): RAM:" in run["warning"]
    assert as_loaded(doc, machine, "gpu+ram").fits is False
    human = cli([*args, "--details"]).out
    assert "why this placement:" in human and "mapped from the disk" in human


def test_a_file_that_fits_nowhere_gets_no_command_but_the_reason(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    machine = inventory_dict([gpu("NVIDIA GeForce RTX 4060", 8188)], ram_gib=16, disks=[NVME])
    path = write_inventory(machine)
    doc = cli(["estimate", "deepseek-v4-flash", "--quant", "q4", "--inventory", path, "--json"]).json()
    run = doc["run"]
    assert run["command"] is None and run["placement"] is None and run["fits"] is False and run["steps"] == []
    assert "fits no placement on this machine" in run["warning"]
    out = cli(["estimate", "deepseek-v4-flash", "--quant", "q4", "--inventory", path]).out
    assert "Run it: no command for this machine" in out
    assert "ds4-server" not in out and "llama-server" not in out


def test_the_articles_pro_q4_runs_unsloths_gguf_with_the_experts_in_ram(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    # By the article 8 x H100 (633 GiB) hold Pro Q4 (432 GB of weights) comfortably; the Q4 file people run,
    # unsloth's UD-Q4_K_XL of 0813, is 849.7 GB in 20 shards: the command keeps the routed experts in RAM.
    machine = inventory_dict([gpu("NVIDIA H100 80GB HBM3", 81559, 480)] * 8, ram_gib=2048, disks=[NVME])
    doc = cli(
        ["check", "--sizes", "table", "--inventory", write_inventory(machine), "--model-dir", "/models", "--json"]
    ).json()
    assert (doc["recommendation"]["model"], doc["recommendation"]["quant"]) == ("deepseek-v4-pro", "q4")
    run = doc["run"]
    assert run["placement"] == "gpu+ram"
    # 8 x 80 GB hold the non-expert part and the routed experts of the last layers, split by layer over the GPUs
    words = flags(run["command"])
    hybrid = as_loaded(doc, machine, "gpu+ram")
    split = hybrid.expert_split
    assert split is not None and split.partial and hybrid.fits is True
    assert words["--n-cpu-moe"] == str(split.cpu_layers)
    shares = [int(share) for share in words["--tensor-split"].split(",")]
    assert len(shares) == 8 and sum(shares) == split.layers + 1  # the output layer on the last GPU
    assert shares[0] > shares[-1] - 1  # the first GPU holds the cheap layers (no experts): more of them
    assert run["loads"]["bytes"] == 849_683_927_055 and run["loads"]["basis"] == "published"
    assert run["steps"][0] == (
        "hf download unsloth/DeepSeek-V4-Pro-0813-GGUF --include 'UD-Q4_K_XL/*' "
        "--local-dir /models/DeepSeek-V4-Pro-0813-GGUF"
    )
    first = "/models/DeepSeek-V4-Pro-0813-GGUF/UD-Q4_K_XL/DeepSeek-V4-Pro-0813-UD-Q4_K_XL-00001-of-00020.gguf"
    assert flags(run["command"])["-m"] == first
    assert "cannot go all on the GPUs" in run["warning"]


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
    placement = as_loaded(doc, machine, run["placement"])
    assert placement.fits is True, run
    if run["placement"] == "gpu":
        assert placement.budget_bytes is not None and placement.need_bytes <= placement.budget_bytes


def test_runnable_keeps_the_placement_without_a_machine() -> None:
    from vram_advisor.catalog.downloads import reference_download

    model = default_catalog().model("deepseek-v4-flash")
    estimate = est.estimate_option(model, model.quant("q3"), 32768)
    chosen, why = runners.runnable(estimate, estimate.gpu, reference_download(model, "q3"))
    assert chosen is not None and chosen.kind == est.PLACEMENT_GPU and why is None and chosen.fits is None
