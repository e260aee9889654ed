"""Engines as data, applied (issue 18, rules 9-11): an engine's platform conditions (compute capability range, GPU
names, how many GPUs), its own KV cache, what must be known before pasting its block, and the input a plan refuses
rather than print a block that would fail."""

from __future__ import annotations

import json
import shlex

import pytest

from conftest import gpu, inventory_dict
from vram_advisor.catalog.profiles import packaged_dir
from vram_advisor.core import units

MODELS = {"path": "/models", "kind": "nvme", "total_bytes": 8 * 10**12, "free_bytes": 6 * 10**12, "model_dir": True}


def check(cli, path: str, *args: str):  # type: ignore[no-untyped-def]
    result = cli(["check", "--json", "--inventory", path, *args])
    assert result.code in (0, 1), result.err
    return result.json()


def amd(name: str, gib: int) -> dict:  # type: ignore[type-arg]
    return gpu(name, gib * 1024, vendor="amd")


# ------------------------------------------------------------------------------------------- platform conditions


def test_vllm_runs_on_mi325x_only_at_tensor_parallel_1(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    one = write_inventory(inventory_dict([amd("AMD Instinct MI325X", 256)], ram_gib=512, disks=[MODELS]))
    eight = write_inventory(inventory_dict([amd("AMD Instinct MI325X", 256)] * 8, ram_gib=2048, disks=[MODELS]))
    single = check(cli, one, "--model-dir", "/models")
    fp8 = next(o for o in single["options"] if (o["model"], o["quant"]) == ("deepseek-v4-flash", "fp8"))
    assert fp8["engine"] == "vllm"
    many = check(cli, eight, "--model-dir", "/models")
    engines = {e["id"]: e for e in cli(["models", "--json"]).json()["engines"]}
    mi325 = next(p for p in engines["vllm"]["platforms"] if "MI325" in p["gpu_names"])
    assert (mi325["max_gpus"], mi325["conditions"]) == (1, "MI325, at most 1 GPU")
    assert all(o["engine"] not in ("vllm",) for o in many["options"]), "vLLM is verified on MI325X at TP 1 only"
    assert "--tensor-parallel-size 8" not in (many["run"] or {}).get("command", "")


def test_ds4_runs_one_gpu_and_vllm_nightly_on_sm_12x(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    # ds4's CUDA backend initialises device 0 only (antirez/ds4 ds4_cuda.cu): never a ds4 line over 8 GPUs
    doc = cli(["estimate", "deepseek-v4-pro", "--quant", "q2", "--gpus", "8xH100", "--ram", "1TB", "--json"]).json()
    assert doc["run"] is None or not doc["run"]["command"].startswith("./ds4-server")
    # vLLM on sm_12x: the nightly image, said under the block on the first screen and in the install line
    path = write_inventory(inventory_dict([], ram_gib=512, disks=[MODELS]))
    doc = check(cli, path, "--gpus", "2xRTXPRO6000", "--model-dir", "/models")
    assert doc["run"]["engine_id"] == "vllm" and "vllm/vllm-openai:nightly" in doc["run"]["caveat"]
    assert any(note.startswith("install: docker pull vllm/vllm-openai:nightly") for note in doc["run"]["notes"])
    out = cli(["check", "--inventory", path, "--gpus", "2xRTXPRO6000"], env={"COLUMNS": "80"}).out
    assert "  # vLLM here: sm_12x needs the image vllm/vllm-openai:nightly" in out.split("--details")[0]
    hopper = check(cli, path, "--gpus", "8xH100")
    assert hopper["run"]["engine_id"] == "vllm" and hopper["run"]["caveat"] is None  # a release runs on sm_90


def test_amd_llama_cpp_says_vulkan_on_the_first_screen(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    path = write_inventory(inventory_dict([amd("AMD Radeon RX 7900 XTX", 24)] * 4, ram_gib=256, disks=[MODELS]))
    doc = check(cli, path, "--model-dir", "/models")
    if doc["run"] and doc["run"]["engine_id"] == "llama.cpp":
        assert "-DGGML_VULKAN=ON" in doc["run"]["caveat"]
        out = cli(["check", "--inventory", path, "--model-dir", "/models"], env={"COLUMNS": "80"}).out
        assert "-DGGML_VULKAN=ON" in out.split("--details")[0]


def test_a_conversion_says_the_converter_may_fail_before_the_lines_run(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    path = write_inventory(inventory_dict([], ram_gib=1024, disks=[MODELS]))
    doc = check(cli, path, "--gpus", "4xH100", "--base", "--model-dir", "/models")
    assert doc["run"]["caveat"].startswith("nobody publishes this GGUF: the lines make it from the checkpoint")
    assert "could not convert the V4 Base checkpoints" in doc["run"]["caveat"]
    assert "seed" not in json.dumps(doc)  # the profiles' own word for the article never reaches a user


def test_sglang_serves_the_repository_name_from_a_local_folder() -> None:
    from vram_advisor.plan.runners import sglang_words
    from vram_advisor.plan.steps import Fetched

    class Placement:
        gpus_used = 4

    class Estimate:
        machine = None
        kv = None  # no KV estimate: the command serves one sequence

    fetched = Fetched(("hf download x",), "/models/DeepSeek-V4-Flash-0731", None, "deepseek-ai/DeepSeek-V4-Flash-0731")
    from vram_advisor.catalog.userprofiles import default_catalog

    words, _notes = sglang_words(Estimate(), Placement(), fetched, default_catalog().engines.engines["sglang"])  # type: ignore[arg-type]
    assert words[words.index("--served-model-name") + 1] == "deepseek-ai/DeepSeek-V4-Flash-0731"
    assert words[words.index("--model-path") + 1] == "/models/DeepSeek-V4-Flash-0731"


# ------------------------------------------------------------------------------------------------- ds4's KV cache


def test_ds4_keeps_its_own_kv_cache_so_a_million_tokens_do_not_fit_a_96_gib_mac(cli) -> None:  # type: ignore[no-untyped-def]
    # ds4's README: a full 1M-token context takes about 26 GB (its indexer alone about 22 GB); the BF16 rows count
    # 7.2 GB. A 128 GB Mac at macOS's default 96 GiB cannot hold the 80.8 GiB q2 with that on ds4.
    doc = cli(["estimate", "deepseek-v4-flash", "--quant", "q2", "--gpus", "M3-Ultra-512GB", "--json"]).json()
    assert doc["run"]["engine_id"] == "ds4"
    long = cli(
        ["estimate", "deepseek-v4-flash", "--quant", "q2", "--gpus", "M3-Ultra-512GB", "--context", "1M", "--json"]
    ).json()
    assert long["run"]["engine_id"] == "ds4"
    assert any("26 GB" in line for line in long["assumptions"])
    gpu_bytes = [next(p["gpu_bytes"] for p in d["placements"] if p["placement"] == "gpu") for d in (doc, long)]
    assert gpu_bytes[1] - gpu_bytes[0] > 20 * units.GIB, gpu_bytes  # ~24 GiB more KV at 1M, not the rows' ~6.5
    mac = cli(["check", "--gpus", "M5-Max-128GB", "--context", "1M", "--json"]).json()
    assert mac["run"] is None or mac["run"]["engine_id"] != "ds4"


def test_estimate_on_a_mac_names_no_engine_that_does_not_run_there(cli) -> None:  # type: ignore[no-untyped-def]
    for quant in ("q2", "q4", "fp8"):
        out = cli(["estimate", "deepseek-v4-flash", "--quant", quant, "--gpus", "M3-Ultra-512GB"]).out
        assert "vllm" not in out.lower() and "sglang" not in out.lower(), quant


# --------------------------------------------------------------------------------- where the files go, and bad input


def test_an_inventory_probed_with_a_model_dir_downloads_there(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    weights = {
        "path": "/mnt/weights",
        "kind": "nvme",
        "total_bytes": 10**12,
        "free_bytes": 50 * 10**9,
        "model_dir": True,
    }
    path = write_inventory(inventory_dict([], ram_gib=128, disks=[weights]))
    doc = check(cli, path, "--gpus", "M4-Max-128GB:wired=110GB")
    first = shlex.split(doc["run"]["steps"][0])
    assert first[first.index("--local-dir") + 1].startswith("/mnt/weights/")
    assert doc["disk"]["path"] == "/mnt/weights" and doc["disk"]["fits"] is False  # the same folder, too small
    gate = cli(["check", "--inventory", path, "--gpus", "GB10", "--require", "deepseek-v4-flash:q2", "--quiet"])
    assert gate.code == 1 and "/mnt/weights" in gate.out


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--model-dir", ""], "--model-dir: an empty path"),
        (["--model-dir", "  "], "--model-dir: an empty path"),
        (["--release", "0910"], "none of the models this check plans has it (0910 is deepseek-v4.1-flash's"),
        (["--release", "0731", "--base"], "none of the models this check plans has it (0731 is deepseek-v4-flash's"),
    ],
)
def test_input_no_planned_model_can_use_is_one_line_and_exit_2(cli, args, fragment) -> None:  # type: ignore[no-untyped-def]
    result = cli(["check", "--gpus", "8xH100", *args])
    assert result.code == 2 and result.err.count("\n") == 1 and fragment in result.err, result.err


def _user_profile(tmp_path, monkeypatch, change) -> None:  # type: ignore[no-untyped-def]
    data = json.loads((packaged_dir() / "deepseek-v4.json").read_text())
    rows = {row["id"]: row for row in data["models"][1]["quants"]}  # V4-Flash
    change(rows)
    folder = tmp_path / "profiles"
    folder.mkdir(exist_ok=True)
    (folder / "mine.json").write_text(json.dumps(data))
    monkeypatch.setenv("VRAM_ADVISOR_PROFILES", str(folder))


def _unsloth_q2(rows):  # type: ignore[no-untyped-def]
    return next(item for item in rows["q2"]["published"] if item["name"].startswith("unsloth"))


BROKEN_DOWNLOADS = {
    "format": (lambda rows: _unsloth_q2(rows).update(format="exl3"), "llama.cpp does not load exl3 files"),
    "include": (lambda rows: _unsloth_q2(rows).update(include="UD-Q9/*"), "does not select"),
    "shard": (lambda rows: _unsloth_q2(rows)["files"].reverse(), "is not the first shard"),
    "no engines": (lambda rows: _unsloth_q2(rows).update(engines=[]), "an empty list"),
    "unknown engine": (lambda rows: _unsloth_q2(rows).update(engines=["tensorrt"]), "unknown engine 'tensorrt'"),
    "repo": (lambda rows: _unsloth_q2(rows).update(repo="not a repo"), "is not a Hugging Face repository id"),
    "same weights": (lambda rows: _unsloth_q2(rows).update(same_weights_as="q9"), "same_weights_as"),
}


@pytest.mark.parametrize("broken", sorted(BROKEN_DOWNLOADS))
def test_a_user_download_a_block_could_not_run_is_one_line_and_exit_2(cli, tmp_path, monkeypatch, broken) -> None:  # type: ignore[no-untyped-def]
    change, fragment = BROKEN_DOWNLOADS[broken]
    _user_profile(tmp_path, monkeypatch, change)
    result = cli(["check", "--gpus", "GB10"])
    assert result.code == 2 and result.err.count("\n") == 1, result.err
    assert result.err.startswith("vram-advisor: error: user profile ") and fragment in result.err, result.err


# ------------------------------------------------------------------------------------------------------ --repo


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, tmp_path):  # type: ignore[no-untyped-def]
    from hubserver import serve_recorded_hub

    yield from serve_recorded_hub(monkeypatch, tmp_path)


def mlx_repo(fake_hub):  # type: ignore[no-untyped-def]
    """An MLX conversion on the fake Hub: 110 GB of safetensors in a repository named for its 3-bit width."""
    from hubserver import FakeFile, FakeRepo

    repo = FakeRepo(
        "someone/DeepSeek-V4-Flash-0731-MLX-3bit",
        [
            FakeFile("config.json", b'{"model_type": "deepseek_v4"}'),
            FakeFile("model-00001-of-00002.safetensors", size=60 * 10**9, lfs=True),
            FakeFile("model-00002-of-00002.safetensors", size=50 * 10**9, lfs=True),
        ],
    )
    fake_hub.repos[repo.repo_id] = repo
    return repo


def test_a_repo_without_require_is_judged_as_its_files_run(cli, write_inventory, fake_hub) -> None:  # type: ignore[no-untyped-def]
    # the same files give the same need with or without --require (rule 12): the listing on the row's engine
    repo = next(iter(r for r in fake_hub.repos if r.startswith("unsloth/DeepSeek-V4-Flash")), None)
    assert repo is not None, "the recorded hub has an unsloth V4-Flash repo"
    files = [f.path for f in fake_hub.repos[repo].files if f.path.endswith(".gguf")]
    folder = sorted({p.split("/")[0] for p in files if "Q2" in p or "IQ2" in p})
    assert folder, "the recorded repo has a 2-bit folder"
    path = write_inventory(inventory_dict([], ram_gib=256, disks=[MODELS]))
    base = ["check", "--json", "--inventory", path, "--gpus", "2xH100", "--repo", repo, "--include", f"{folder[0]}/*"]
    alone = cli(base).json()["required"]
    asked = cli([*base, "--require", "deepseek-v4-flash:q2"]).json()["required"]
    vram = [next(c["detail"] for c in gate["checks"] if c["check"] == "vram") for gate in (alone, asked)]
    assert vram[0].split(";")[0] == vram[1].split(";")[0], vram
    assert "rule 9" in alone["reason"] and "derived" not in alone["reason"]


def test_an_mlx_repo_on_an_nvidia_machine_is_one_line_and_exit_2(cli, write_inventory, fake_hub) -> None:  # type: ignore[no-untyped-def]
    mlx = mlx_repo(fake_hub)
    path = write_inventory(inventory_dict([], ram_gib=128, disks=[MODELS]))
    result = cli(["check", "--inventory", path, "--gpus", "GB10", "--repo", mlx.repo_id])
    assert result.code == 2 and result.err.count("\n") == 1
    assert "its mlx weights load in mlx-vlm, oMLX, none of which runs on NVIDIA CUDA" in result.err


def test_a_live_gguf_repo_runs_on_an_engine_that_loads_it(cli, write_inventory, fake_hub) -> None:  # type: ignore[no-untyped-def]
    # ds4 loads only antirez's single-file GGUFs: unsloth's split GGUF on a Mac is llama.cpp's, with --require or not
    repo = next(r for r in fake_hub.repos if r.startswith("unsloth/DeepSeek-V4-Flash"))
    folder = sorted({f.path.split("/")[0] for f in fake_hub.repos[repo].files if "Q2" in f.path})[0]
    path = write_inventory(inventory_dict([], ram_gib=128, disks=[MODELS]))
    base = ["check", "--json", "--inventory", path, "--gpus", "M4-Max-128GB:wired=110GB", "--repo", repo]
    base += ["--include", f"{folder}/*"]
    alone = cli(base).json()["required"]
    asked = cli([*base, "--require", "deepseek-v4-flash:q2"]).json()["required"]
    assert "run by llama.cpp" in alone["reason"]
    vram = [next(c["detail"] for c in gate["checks"] if c["check"] == "vram") for gate in (alone, asked)]
    assert vram[0].split(";")[0] == vram[1].split(";")[0], vram


def test_an_mlx_repo_on_a_mac_is_judged_on_an_mlx_engine_at_its_named_width(cli, write_inventory, fake_hub) -> None:  # type: ignore[no-untyped-def]
    mlx = mlx_repo(fake_hub)
    path = write_inventory(inventory_dict([], ram_gib=512, disks=[MODELS]))
    base = ["check", "--json", "--inventory", path, "--gpus", "M3-Ultra-512GB", "--repo", mlx.repo_id]
    alone = cli(base).json()["required"]
    asked = cli([*base, "--require", "deepseek-v4-flash:q3"]).json()["required"]
    assert alone["quant"] == "q3" and "run by mlx-vlm" in alone["reason"], alone
    vram = [next(c["detail"] for c in gate["checks"] if c["check"] == "vram") for gate in (alone, asked)]
    assert vram[0].split(";")[0] == vram[1].split(";")[0], vram


def test_a_unified_gpu_is_never_pooled_with_another_kind(cli) -> None:  # type: ignore[no-untyped-def]
    mixed = cli(["check", "--gpus", "GB10,1xH100"])
    assert mixed.code == 2 and "a unified-memory GPU (GB10) is its machine's memory" in mixed.err
    assert cli(["check", "--gpus", "2xGB10"]).code == 0  # two DGX Sparks


def test_an_engine_that_does_not_run_here_says_why(cli) -> None:  # type: ignore[no-untyped-def]
    out = cli(["check", "--gpus", "2xH100", "--ram", "256GB", "--details"], env={"COLUMNS": "200"}).out
    assert "ds4 does not run here (NVIDIA CUDA (sm_90), 2 GPUs): it runs V4 on at most 1 GPU" in " ".join(out.split())


def test_details_print_the_run_block_s_words_as_shell_comments(cli) -> None:  # type: ignore[no-untyped-def]
    out = cli(["check", "--gpus", "2xRTXPRO6000", "--ram", "256GB", "--details"], env={"COLUMNS": "80"}).out
    block = out.split("Run it (vLLM from the nightly image)\n")[1].split("\n\n")[0].splitlines()
    commands = [line for line in block if not line.lstrip().startswith("#")]
    assert commands and all(line.startswith("  ") for line in commands)
    words = [shlex.split(line, comments=True) for line in "\n".join(block).replace("\\\n", "").splitlines()]
    assert [w[0] for w in words if w] == ["hf", "vllm"]  # what bash runs of the block pasted whole
    assert any(line.lstrip().startswith("# note: install: docker pull vllm/vllm-openai:nightly") for line in block)
