"""Contract rules 9-12 (issue 18): real downloads, engines that run where they are printed, dominated options, the
disk on the first screen, one unit. The run blocks of a corpus of machines are replayed line by line on a model of
the shell and the disk (``Replay``): every file an engine loads must be one an earlier line produced."""

from __future__ import annotations

import fnmatch
import itertools
import json
import posixpath
import re
import shlex
from dataclasses import dataclass, field

import pytest

from conftest import inventory_dict
from vram_advisor.catalog.userprofiles import default_catalog
from vram_advisor.core import units

BIG_DISK = {"path": "/models", "kind": "nvme", "total_bytes": 8 * 10**12, "free_bytes": 6 * 10**12, "model_dir": True}
HF_CACHE_DISK = {
    "path": "/home/u/.cache/huggingface/hub",
    "kind": "nvme",
    "total_bytes": 8 * 10**12,
    "free_bytes": 6 * 10**12,
    "model_dir": True,
    "mountpoint": "/",
}


def check(cli, write_inventory, *args: str, disks=(BIG_DISK,), ram_gib: float = 64):  # type: ignore[no-untyped-def]
    path = write_inventory(inventory_dict([], ram_gib=ram_gib, disks=list(disks)))
    result = cli(["check", "--json", "--inventory", path, *args])
    assert result.code in (0, 1), result.err
    return result.json()


def option(document, model: str, quant: str):  # type: ignore[no-untyped-def]
    return next(o for o in document["options"] if (o["model"], o["quant"]) == (model, quant))


# ----------------------------------------------------------------------------------------- the shell replayed


def repo_files(repo: str) -> set[str] | None:
    """The files of ``repo`` the profiles list (None: a checkpoint whose files they do not list, taken whole)."""
    files: set[str] = set()
    listed = False
    for model in default_catalog().models:
        for row in model.quants:
            for item in row.published_all:
                if item.repo == repo:
                    listed = True
                    files.update(item.files)
    assert listed, f"hf download of {repo}, a repository no profile lists"
    return files or None


@dataclass
class Replay:
    """The run block's lines applied to a model of the disk: local paths (folders end in /) and cache entries."""

    paths: set[str] = field(default_factory=set)
    whole: set[str] = field(default_factory=set)  # folders or cached repos downloaded whole
    cache: set[tuple[str, str]] = field(default_factory=set)

    def exists(self, path: str) -> bool:
        return path in self.paths or path.rstrip("/") + "/" in self.paths

    def run(self, line: str) -> str | None:
        """Apply one line; for the engine line return what it loads (and check that it exists)."""
        words = shlex.split(line)
        program = words[0]
        if words[:2] == ["hf", "download"]:
            self.download(words[2:])
            return None
        if words[:2] == ["git", "clone"]:
            self.paths.add(posixpath.basename(words[-1]) + "/")
            return None
        if words[:4] == ["python3", "-m", "pip", "install"]:
            requirements = words[words.index("-r") + 1]
            assert requirements.split("/")[0] + "/" in self.paths, f"{line}: {requirements} was never cloned"
            return None
        if program == "python3" and words[1].endswith("convert_hf_to_gguf.py"):
            assert words[1].split("/")[0] + "/" in self.paths, f"{line}: the converter was never cloned"
            assert words[2] in self.whole, f"{line}: {words[2]} was never downloaded"
            self.paths.add(words[words.index("--outfile") + 1])
            return None
        if program == "llama-quantize":
            assert self.exists(words[1]), f"{line}: {words[1]} was never made"
            self.paths.add(words[2])
            return None
        return self.serve(words, line)

    def download(self, args: list[str]) -> None:
        repo, rest = args[0], args[1:]
        local = rest[rest.index("--local-dir") + 1] if "--local-dir" in rest else None
        include = rest[rest.index("--include") + 1] if "--include" in rest else None
        named = [word for word in rest if not word.startswith("--") and word not in (local, include)]
        known = repo_files(repo)
        if named:
            assert known is not None and set(named) <= known, f"hf download {repo} {named}: not files of the repo"
            chosen = set(named)
        elif include is not None:
            assert known is not None, f"--include on a repository the profiles list whole: {repo}"
            chosen = {path for path in known if fnmatch.fnmatchcase(path, include)}
            assert chosen, f"--include {include!r} selects nothing of {repo}"
        else:
            chosen = set()
            (self.whole.add(local) if local else self.whole.add(repo))
        for path in chosen:
            if local:
                self.paths.add(posixpath.join(local, path))
            else:
                self.cache.add((repo, path))

    def serve(self, words: list[str], line: str) -> str:
        program = words[0]
        if program == "llama-server":
            if "-m" in words:
                path = words[words.index("-m") + 1]
                assert self.exists(path), f"{line}: loads {path}, which no earlier line produced"
                first_shard(path)
                return path
            repo_tag = words[words.index("-hf") + 1]
            if "--hf-file" in words:
                file = words[words.index("--hf-file") + 1]
                assert (repo_tag, file) in self.cache, f"{line}: {repo_tag} {file} was never downloaded"
                first_shard(file)
                return f"{repo_tag}/{file}"
            repo, _, tag = repo_tag.partition(":")
            # llama-server picks the first shard whose path holds the tag followed by "-" or "." (common/download.cpp)
            matches = [p for r, p in self.cache if r == repo and re.search(re.escape(tag) + "[.-]", p, re.I)]
            assert matches, f"{line}: no downloaded file of {repo} matches :{tag}"
            first_shard(sorted(matches)[0])
            return f"{repo}:{tag}"
        if program == "vllm" or program == "mlx_vlm.server":
            model = words[2] if program == "vllm" else words[words.index("--model") + 1]
            assert model in self.whole, f"{line}: {model} was never downloaded whole"
            if "--speculative-config" in words:
                vllm_speculative_config(words[words.index("--speculative-config") + 1], line)
            return model
        if program == "sglang":
            model = words[words.index("--model-path") + 1]
            assert model in self.whole, f"{line}: {model} was never downloaded whole"
            return model
        if program == "./ds4-server":
            path = words[words.index("-m") + 1]
            assert self.exists(path), f"{line}: loads {path}, which no earlier line produced"
            return path
        if program == "omlx":
            folder = words[words.index("--model-dir") + 1].rstrip("/")
            assert any(p in self.whole and posixpath.dirname(p) == folder for p in self.whole), line
            return folder
        raise AssertionError(f"an engine line of an unknown program: {line}")


#: What vLLM's ``--speculative-config`` parser takes (vllm/config/speculative.py, ``SpeculativeConfig``): the keys a
#: printed line may set, the methods, and the rule that ``num_speculative_tokens`` is a positive integer.
VLLM_SPECULATIVE_KEYS = {"method", "num_speculative_tokens", "draft_sample_method", "rejection_sample_method", "model"}
VLLM_SPECULATIVE_METHODS = {"ngram", "medusa", "mlp_speculator", "draft_model", "suffix", "eagle", "eagle3", "mtp"}
VLLM_SPECULATIVE_METHODS |= {"dflash", "dspark", "ngram_gpu", "extract_hidden_states", "custom_class"}


def vllm_speculative_config(value: str, line: str) -> dict:  # type: ignore[type-arg]
    """The flag's value as vLLM reads it: a JSON object (the shell has removed the quotes) of known keys."""
    config = json.loads(value)
    assert isinstance(config, dict), f"{line}: --speculative-config is not a JSON object"
    assert set(config) <= VLLM_SPECULATIVE_KEYS, f"{line}: unknown keys {set(config) - VLLM_SPECULATIVE_KEYS}"
    assert config.get("method") in VLLM_SPECULATIVE_METHODS, f"{line}: method {config.get('method')!r}"
    tokens = config.get("num_speculative_tokens")
    assert isinstance(tokens, int) and not isinstance(tokens, bool) and tokens > 0, f"{line}: {tokens!r}"
    return config


def first_shard(path: str) -> None:
    """A split GGUF is loaded by its first shard (the engine finds the rest beside it)."""
    shard = re.search(r"-(\d{5})-of-(\d{5})\.gguf$", path)
    assert shard is None or shard.group(1) == "00001", f"{path} is not the first shard"


def replay(run: dict) -> str:  # type: ignore[type-arg]
    """Every line of a run block on a fresh disk; what its engine line loads."""
    steps = run["steps"]
    assert steps and steps[-1] == run["command"]
    if len(steps) > 1:
        assert run["download"] == steps[0]
    shell = Replay()
    for line in steps[:-1]:
        assert shell.run(line) is None, f"{line}: an engine line before the last"
    loaded = shell.run(steps[-1])
    assert loaded is not None
    return loaded


# ------------------------------------------------------------------------------------------------- corpus

CARDS = ["H100", "H200", "RTXPRO6000", "RTX4090", "RTX3090", "A100-80GB", "B200", "L40S", "RTX5090"]
CORPUS = [(f"{n}x{card}", "256GB") for card, n in itertools.product(CARDS, [1, 2, 4, 8])]
CORPUS += [("0", "768GB"), ("0", "192GB"), ("GB10", "128GB"), ("2xGB10", "256GB"), ("16xH100", "4TB")]
CORPUS += [("8xH200", "2TB"), ("1xRTXPRO6000", "64GB"), ("4xRTX3090", "256GB"), ("3xRTX3090", "128GB")]
CORPUS += [("M3-Ultra-512GB", "512GB"), ("M4-Max-128GB:wired=110GB", "128GB"), ("M5-Max-128GB", "128GB")]
CORPUS += [("M5-Ultra-512GB:wired=480GB", "512GB"), ("M2-Ultra-192GB", "192GB"), ("M5-Pro-64GB", "64GB")]
CORPUS += [("2x96GB", "512GB"), ("1xRTX4090,1xRTX3090", "128GB"), ("8xV100-32GB", "512GB")]
APPLE = [spec for spec, _ram in CORPUS if spec.startswith("M")]


def test_the_corpus_has_at_least_30_machines() -> None:
    assert len(set(CORPUS)) >= 30


@pytest.mark.parametrize(("gpus", "ram"), CORPUS)
@pytest.mark.parametrize("where", ["model-dir", "cache"])
def test_every_run_block_works_top_to_bottom_and_is_never_dominated(cli, write_inventory, gpus, ram, where) -> None:  # type: ignore[no-untyped-def]
    args = ["--gpus", gpus, "--ram", ram]
    if where == "model-dir":
        document = check(cli, write_inventory, *args, "--model-dir", "/models")
    else:
        document = check(cli, write_inventory, *args, disks=(HF_CACHE_DISK,))
    rec = document["recommendation"]
    for shown in (rec, document["stretch"], document["next_up"]):
        if shown is not None and shown.get("model") is not None:
            assert option(document, shown["model"], shown["quant"])["dominated_by"] is None, shown  # rule 10
    run = document["run"]
    if rec["kind"] == "api":
        assert run is None
        return
    assert run is not None and run["command"] is not None, run
    loaded = replay(run)
    if where == "model-dir":
        assert loaded.startswith("/models/") or run["engine_id"] in ("vllm", "sglang", "mlx-vlm"), loaded
    if run["engine_id"] in ("vllm", "sglang", "ds4") or "-m" in shlex.split(run["command"]):
        assert run["loads"]["path"] == loaded  # the JSON names what the engine line loads
    # the run block is the recommendation's own plan: its engine and the file it was judged on
    chosen = option(document, rec["model"], rec["quant"])
    assert run["engine_id"] == chosen["engine"] == rec["engine"]
    assert run["loads"]["bytes"] == chosen["reference_download"]["bytes"]
    assert chosen["need_bytes"] == rec["need_bytes"]


def test_a_conversion_is_printed_as_commands_and_replays(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    # the Base models' GGUFs are nobody's download: the block converts the checkpoint (rule 11)
    document = check(cli, write_inventory, "--gpus", "4xH100", "--ram", "1TB", "--base", "--model-dir", "/models")
    run = document["run"]
    assert (document["recommendation"]["model"], run["engine_id"]) == ("deepseek-v4-flash-base", "llama.cpp")
    assert any("convert_hf_to_gguf.py" in step for step in run["steps"])
    assert replay(run).startswith("/models/DeepSeek-V4-Flash-Base-")
    download = option(document, document["recommendation"]["model"], document["recommendation"]["quant"])
    assert download["reference_download"]["basis"] == "computed" and download["reference_download"]["conversion"]


@pytest.mark.parametrize("gpus", APPLE)
def test_no_apple_machine_is_told_to_run_vllm_or_sglang(cli, write_inventory, gpus) -> None:  # type: ignore[no-untyped-def]
    ram = gpus.split(":")[0].rsplit("-", 1)[-1]
    for extra in ((), ("--base",)):
        document = check(cli, write_inventory, "--gpus", gpus, "--ram", ram, *extra)
        assert all(o["engine"] not in ("vllm", "sglang") for o in document["options"])
        run = document["run"]
        if run is not None:
            text = " ".join(run["steps"])
            assert "vllm" not in text and "sglang" not in text
    for model, quant in itertools.product(("deepseek-v4-flash", "deepseek-v4-pro"), ("fp8", "q4", "q2")):
        doc = cli(["estimate", model, "--quant", quant, "--gpus", gpus, "--ram", ram, "--json"]).json()
        assert doc["run"] is None or doc["run"]["engine_id"] not in ("vllm", "sglang"), (model, quant)


# -------------------------------------------------------------------------------------- the machines


@pytest.mark.parametrize(
    ("gpus", "ram"),
    [("GB10", "128GB"), ("1xRTXPRO6000", "64GB"), ("4xRTX3090", "256GB"), ("M4-Max-128GB:wired=110GB", "128GB")],
)
def test_the_0731_flash_q2_fits_the_gpu_memory_of_the_machines_people_run_it_on(
    cli, write_inventory, gpus, ram
) -> None:  # type: ignore[no-untyped-def]
    document = check(cli, write_inventory, "--gpus", gpus, "--ram", ram)
    q2 = option(document, "deepseek-v4-flash", "q2")
    assert document["releases"]["deepseek-v4-flash"]["release"] == "0731"
    assert q2["fit"] in ("comfortable", "minimum") and q2["placement"] in ("gpu", "unified")
    assert q2["need_bytes"] < 100 * units.GIB
    assert q2["reference_download"]["basis"] == "published" and q2["reference_download"]["bytes"] < 100 * 10**9
    if gpus.startswith(("GB10", "M4")):  # no separate RAM to offload into: the experimental option is the answer
        rec = document["recommendation"]
        assert rec["kind"] == "local" and rec["experimental"] is True and rec["model"] == "deepseek-v4-flash"
        assert "quality risk" in rec["reason"] and document["run"]["command"]


def test_a_mac_runs_the_antirez_q2_on_ds4() -> None:  # the engine the file is made for, first on Metal
    catalog = default_catalog()
    order = [engine.id for engine in catalog.engines.order(_platform("apple"))]
    assert order[:2] == ["ds4", "llama.cpp"] and "vllm" not in order and "sglang" not in order


def _platform(vendor: str):  # type: ignore[no-untyped-def]
    from vram_advisor.catalog.engines import platform_of
    from vram_advisor.inventory.model import Gpu

    return platform_of([Gpu(name="x", memory_total_bytes=1, vendor=vendor)])


def test_eight_h200_run_flash_fp8_and_stretch_to_native_pro_on_vllm(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    # Rule 10's example: the Pro Q4 GGUF is not the answer on 8xH200 + 2 TB. The Q4 people run is unsloth's
    # UD-Q4_K_XL (849.7 GB): the checkpoint's own FP4 experts with the rest at Q8_0, i.e. the checkpoint's weights;
    # where the checkpoint runs (at its minimum here), it is passed over. Native Pro FP8 (vLLM) is the stretch.
    document = check(cli, write_inventory, "--gpus", "8xH200", "--ram", "2TB", "--model-dir", "/models")
    rec, stretch = document["recommendation"], document["stretch"]
    assert (rec["model"], rec["quant"], rec["fit"], rec["engine"]) == (
        "deepseek-v4-flash",
        "fp8",
        "comfortable",
        "vllm",
    )
    assert (stretch["model"], stretch["quant"], stretch["fit"]) == ("deepseek-v4-pro", "fp8", "minimum")
    pro = option(document, "deepseek-v4-pro", "fp8")
    assert pro["engine"] == "vllm" and pro["reference_download"]["repo"] == "deepseek-ai/DeepSeek-V4-Pro-0813"
    q4 = option(document, "deepseek-v4-pro", "q4")
    assert q4["reference_download"]["bytes"] == 849_683_927_055 and q4["fit"] == "comfortable"
    assert q4["dominated_by"] == {"model": "deepseek-v4-pro", "quant": "fp8", "why": "same weights"}
    # rule 10: the Q6 and Q5 GGUFs (nobody publishes them; made from the checkpoint) need more than the checkpoint
    for model in ("deepseek-v4-pro", "deepseek-v4-flash"):
        for quant in ("q6", "q5"):
            expected = {"model": model, "quant": "fp8", "why": "need"}
            assert option(document, model, quant)["dominated_by"] == expected, (model, quant)


def test_the_same_weights_are_not_passed_over_where_the_checkpoint_does_not_run(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    # 6xH200 (842 GiB): Pro FP8 meets nothing (its table minimum is 1 TB), so unsloth's Pro UD-Q4_K_XL is the Pro
    # that runs here, not dominated; 2xH100: Flash FP8 (192 GiB) does not fit, Flash's UD-Q4_K_XL is the answer
    six = check(cli, write_inventory, "--gpus", "6xH200", "--ram", "2TB")
    assert option(six, "deepseek-v4-pro", "fp8")["fit"] in ("none", "offload")
    assert option(six, "deepseek-v4-pro", "q4")["dominated_by"] is None
    assert (six["stretch"]["model"], six["stretch"]["quant"]) == ("deepseek-v4-pro", "q4")  # Flash FP8 comfortable
    two = check(cli, write_inventory, "--gpus", "2xH100", "--ram", "512GB")
    assert (two["recommendation"]["model"], two["recommendation"]["quant"]) == ("deepseek-v4-flash", "q4")
    assert option(two, "deepseek-v4-flash", "q4")["dominated_by"] is None


def test_pro_q4_made_by_hand_would_be_dominated() -> None:
    # without unsloth's file, Pro Q4 is a Q4_K_M made from the checkpoint: larger than it, so dominated (rule 10)
    from dataclasses import replace

    from vram_advisor.catalog.engines import platform_of
    from vram_advisor.inventory import whatif
    from vram_advisor.inventory.model import Inventory, Ram
    from vram_advisor.plan import estimate as est
    from vram_advisor.plan.realfit import judge_for
    from vram_advisor.plan.rules import evaluate, machine_of

    catalog = default_catalog()
    pro = catalog.model("deepseek-v4-pro")
    bare = replace(pro, quants=tuple(replace(row, published=()) if row.id == "q4" else row for row in pro.quants))
    catalog = replace(catalog, models=tuple(bare if m.id == pro.id else m for m in catalog.models))
    inventory = whatif.apply(Inventory(ram=Ram(total_bytes=2048 * units.GIB)), gpus="8xH200")
    judge, _made = judge_for(inventory, machine_of(inventory), catalog.engines, 32768)
    options = {o.key: o for o in evaluate(catalog, machine_of(inventory), judge=judge)}
    q4 = options[("deepseek-v4-pro", "q4")]
    assert q4.choice is not None and q4.choice.download.computed
    assert q4.dominated_by is not None and q4.dominated_by.key == ("deepseek-v4-pro", "fp8")
    assert platform_of(est.machine_view(inventory).gpus).kind == "cuda"


def test_the_grid_marks_dominated_options(cli) -> None:  # type: ignore[no-untyped-def]
    out = cli(["check", "--gpus", "8xH100", "--ram", "1TB"], env={"COLUMNS": "120"}).out
    assert "↑FP8" in out and "↑X: X needs no more, or is the same weights and runs here" in " ".join(out.split())
    narrow = cli(["check", "--gpus", "8xH100", "--ram", "1TB"], env={"COLUMNS": "80"}).out
    assert "↑X: prefer X" in narrow


# ------------------------------------------------------------------------------------------- the disk, units


def test_a_disk_too_small_for_the_download_is_on_the_first_screen_and_the_gate_says_no(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    small = {"path": "/models", "kind": "nvme", "total_bytes": 100 * 10**9, "free_bytes": 50 * 10**9}
    path = write_inventory(inventory_dict([], ram_gib=2048, disks=[small]))
    args = ["check", "--inventory", path, "--gpus", "8xH100", "--model-dir", "/models"]
    out = cli(args, env={"COLUMNS": "100"}).out
    screen = " ".join(out.split("--details")[0].split())
    assert "Disk The download does not fit: 166.9 GB for official checkpoint 0731, /models has 50.0 GB free" in screen
    document = cli([*args, "--json"]).json()
    assert document["recommendation"]["kind"] == "local"  # the disk never changes the recommendation
    assert document["disk"]["fits"] is False and document["disk"]["need_bytes"] == 166_886_535_336
    gate = cli([*args, "--require", "deepseek-v4-flash:fp8", "--quiet"])
    assert gate.code == 1
    assert gate.out == (
        "no: deepseek-v4-flash fp8 needs 166.9 GB of disk for official checkpoint 0731, 50.0 GB free under /models\n"
    )


def test_files_already_there_need_no_free_space(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cache = tmp_path / "hub"
    snapshot = cache / "models--unsloth--DeepSeek-V4-Flash-0731-GGUF" / "snapshots" / "0123abcd" / "UD-IQ3_XXS"
    snapshot.mkdir(parents=True)
    for shard in range(1, 5):
        (snapshot / f"DeepSeek-V4-Flash-0731-UD-IQ3_XXS-{shard:05d}-of-00004.gguf").write_bytes(b"GGUF")
    env = {"HF_HUB_CACHE": str(cache)}
    document = cli(["check", "--gpus", "GB10", "--ram", "128GB", "--json"], env=env).json()
    assert document["recommendation"]["quant"] == "q3"
    assert document["disk"]["present"] is True and document["disk"]["fits"] is True and document["disk"]["line"] is None
    assert len(document["inventory"]["local_files"]) == 4
    # one shard missing: the download is not there, the free space counts again
    next(snapshot.iterdir()).unlink()
    document = cli(["check", "--gpus", "GB10", "--ram", "128GB", "--json"], env=env).json()
    assert document["disk"]["present"] is False


@pytest.mark.parametrize(("gpus", "quant"), [("2xH100", "fp8"), ("8xH100", "fp8"), ("GB10", "q2"), ("1xH100", "q4")])
def test_what_an_option_needs_is_one_number_in_the_grid_the_verdict_and_the_gate(
    cli, write_inventory, gpus, quant
) -> None:  # type: ignore[no-untyped-def]
    document = check(cli, write_inventory, "--gpus", gpus, "--ram", "512GB")
    entry = option(document, "deepseek-v4-flash", quant)
    judged = units.format_gib(entry["judged_min_bytes"])
    assert entry["judged_min_bytes"] == max(entry["need_bytes"], units.table_vram_bytes(f"{entry['min_vram_gb']}GB"))
    assert entry["real"]["min_vram_gb"] == pytest.approx(entry["judged_min_bytes"] / units.GIB, abs=0.005)
    path = write_inventory(inventory_dict([], ram_gib=512, disks=[BIG_DISK]))
    gate = cli(["check", "--inventory", path, "--gpus", gpus, "--require", f"deepseek-v4-flash:{quant}", "--json"])
    vram = next(c["detail"] for c in gate.json()["required"]["checks"] if c["check"] == "vram")
    assert vram.startswith(f"needs {judged}")  # the gate: the judged minimum in GiB, never need / 0.98
    if entry["table_floor_governs"]:  # the download's own need beside the article's floor
        assert f"the download needs {units.format_gib(entry['need_bytes'])}" in vram
    grid = cli(["check", "--inventory", path, "--gpus", gpus], env={"COLUMNS": "120"}).out
    assert judged in grid


def test_unknown_release_and_a_repo_without_weights_are_one_line_and_exit_2(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    path = write_inventory(inventory_dict([], ram_gib=64, disks=[BIG_DISK]))
    bad = cli(["check", "--inventory", path, "--release", "0999"])
    assert bad.code == 2 and bad.err.count("\n") == 1 and "--release '0999'" in bad.err


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, tmp_path):  # type: ignore[no-untyped-def]
    from hubserver import serve_recorded_hub

    yield from serve_recorded_hub(monkeypatch, tmp_path)


def test_a_repo_whose_files_no_engine_loads_is_one_line_and_exit_2(cli, write_inventory, fake_hub) -> None:  # type: ignore[no-untyped-def]
    from hubserver import FakeFile, FakeRepo

    exl3 = FakeRepo(
        "turboderp/DeepSeek-V4-Flash-0731-exl3",
        [FakeFile("config.json", b"{}"), FakeFile("model.exl3", size=74_487_254_345, lfs=True)],
    )
    fake_hub.repos[exl3.repo_id] = exl3
    path = write_inventory(inventory_dict([], ram_gib=64, disks=[BIG_DISK]))
    result = cli(["check", "--inventory", path, "--gpus", "2xH100", "--repo", exl3.repo_id, "--model-dir", "/models"])
    assert result.code == 2 and result.err.count("\n") == 1 and "Traceback" not in result.err
    assert "--repo turboderp/DeepSeek-V4-Flash-0731-exl3: no engine here loads its files (.exl3, .json)" in result.err


def test_a_user_download_without_a_size_is_one_line_and_exit_2(cli, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import json

    from vram_advisor.catalog.profiles import packaged_dir

    data = json.loads((packaged_dir() / "deepseek-v4.json").read_text())
    row = data["models"][1]["quants"][5]  # V4-Flash Q2
    row["published"][0].pop("bytes")
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "mine.json").write_text(json.dumps(data))
    monkeypatch.setenv("VRAM_ADVISOR_PROFILES", str(folder))
    result = cli(["check", "--gpus", "GB10"])
    assert result.code == 2 and result.err.count("\n") == 1
    assert result.err.startswith("vram-advisor: error: user profile ")
    assert "mine.json: models[1].quants[5].published[0].bytes: a download needs its size" in result.err


def test_with_repo_the_live_listing_replaces_the_packaged_download(cli, write_inventory, fake_hub) -> None:  # type: ignore[no-untyped-def]
    from hubserver import GGUF_Q2_SHARDS

    args = ("--gpus", "2xH100", "--ram", "256GB", "--model-dir", "/models", "--require", "deepseek-v4-flash:q2")
    packaged = check(cli, write_inventory, *args)["required"]
    repo = ("--repo", "unsloth/DeepSeek-V4-Flash-GGUF", "--include", "UD-Q2_K_XL/*")
    live = check(cli, write_inventory, *args, *repo)["required"]
    # the gate's need follows the files the Hub lists (86.8 GB), not the packaged UD-IQ2_XXS (90.9 GB)
    assert packaged["need_bytes"] - live["need_bytes"] == 90_860_736_928 - sum(GGUF_Q2_SHARDS)
    assert live["fits"] is True and live["fit"] in ("comfortable", "minimum")


def printed_block(out: str) -> list[str]:
    """The run block as a shell reads it when pasted: the lines under "Run it", `` \\``-newline joined."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Run it"))
    block: list[str] = []
    for line in lines[start + 1 :]:
        if not line.startswith("  "):
            break
        block.append(line)
    pasted = [command.strip() for command in "\n".join(block).replace("\\\n", "").split("\n")]
    return [command for command in pasted if shlex.split(command, comments=True)]  # what bash runs: no comments


@pytest.mark.parametrize("columns", ["60", "80", "100"])
@pytest.mark.parametrize("gpus", ["2xH100", "8xH100", "M4-Max-128GB:wired=110GB", "4xH100"])
@pytest.mark.parametrize("folder", ["/Volumes/External SSD/my models", "~/my models"])
def test_the_printed_block_pasted_is_the_json_block_even_with_spaces_in_the_path(  # type: ignore[no-untyped-def]
    cli, write_inventory, monkeypatch, gpus, columns, folder
) -> None:
    # a wrapped line never breaks inside a quoted path: '/Volumes/External SSD' is one word to the shell; a tilde
    # stays outside the quotes, where the shell expands it
    extra = ["--base"] if gpus == "4xH100" else []  # a conversion: git clone, pip, convert, quantize
    path = write_inventory(inventory_dict([], ram_gib=512, disks=[BIG_DISK]))
    args = ["check", "--inventory", path, "--gpus", gpus, "--ram", "512GB", "--model-dir", folder, *extra]
    steps = cli([*args, "--json"]).json()["run"]["steps"]
    monkeypatch.setenv("COLUMNS", columns)
    out = cli(args).out
    printed = printed_block(out)
    assert [shlex.split(line) for line in printed] == [shlex.split(step) for step in steps]
    assert any(folder in word for step in steps for word in shlex.split(step))
    if folder.startswith("~/"):
        assert all("'~" not in step and '"~' not in step for step in steps)  # never a quoted tilde
    replay({"steps": printed, "command": printed[-1], "download": printed[0] if len(printed) > 1 else None})
    if gpus == "4xH100":  # the caveat under a conversion is printed as shell comments, harmless when pasted
        assert "  # nobody publishes this GGUF" in out
