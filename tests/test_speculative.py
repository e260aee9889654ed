"""Issue 21 item 3: speculative decoding. Where the release ships a draft module and the chosen engine drafts with it
here, the recommendation's decode speed carries ``speculative`` (a range above the plain one, with the acceptance
assumed and its source) and the vLLM line the flag; elsewhere no figure and a note that says why. The draft and the
engine's support are profile fields, validated like the others."""

from __future__ import annotations

import json
import shlex
from dataclasses import replace

import pytest

from conftest import inventory_dict
from test_plans_run_as_printed import BIG_DISK, replay, vllm_speculative_config
from vram_advisor.catalog import profiles
from vram_advisor.catalog.userprofiles import default_catalog
from vram_advisor.core.errors import ProfileError
from vram_advisor.inventory import model as inv
from vram_advisor.inventory import whatif
from vram_advisor.plan import estimate as est
from vram_advisor.plan.estimate.speculative import speculative_for, with_speculative


def check(cli, write_inventory, *args: str):  # type: ignore[no-untyped-def]
    path = write_inventory(inventory_dict([], ram_gib=64, disks=[BIG_DISK]))
    result = cli(["check", "--json", "--inventory", path, *args])
    assert result.code in (0, 1), result.err
    return result.json()


def test_eight_h100_get_a_speculative_speed_above_the_plain_one_and_the_flag(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    document = check(cli, write_inventory, "--gpus", "8xH100-80GB", "--ram", "1TB")
    rec = document["recommendation"]
    assert (rec["model"], rec["engine"]) == ("deepseek-v4-flash", "vllm")
    speed = rec["decode_tokens_per_s"]
    drafted = speed["speculative"]
    assert drafted["estimate"] > speed["estimate"] and drafted["low"] > speed["low"] and drafted["high"] > speed["high"]
    assert drafted["low"] < drafted["estimate"] < drafted["high"]
    assert drafted["method"] == "dspark" and "acceptance length" in drafted["acceptance"]
    assert drafted["source"] in default_catalog().engines.engines["vllm"].speculative[0].source
    assert drafted["text"].startswith("≈") and "DSpark" in drafted["text"]
    # the draft's memory is counted where the flag is printed
    assert 0 < drafted["draft_bytes"] < 2**30 and drafted["need_bytes"] == rec["need_bytes"] + drafted["draft_bytes"]
    run = document["run"]
    words = shlex.split(run["command"])
    config = vllm_speculative_config(words[words.index("--speculative-config") + 1], run["command"])
    flash = default_catalog().model("deepseek-v4-flash")
    release = next(r for r in flash.releases if r.id == flash.release)
    assert release.draft is not None and config == {
        "method": "dspark",
        "num_speculative_tokens": release.draft.block_size,
    }
    assert words[words.index("--speculative-config") :][:2] == drafted["flag"]
    replay(run)  # the line still replays, flag validated as vLLM's parser reads it
    assert any(note.startswith("--speculative-config:") for note in run["notes"])


def test_the_human_verdict_shows_both_speeds(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    path = write_inventory(inventory_dict([], ram_gib=64, disks=[BIG_DISK]))
    args = ["check", "--inventory", path, "--gpus", "8xH100-80GB", "--ram", "1TB"]
    document = cli([*args, "--json"]).json()
    out = " ".join(cli(args).out.split())  # the verdict line wraps
    plain = document["recommendation"]["decode_tokens_per_s"]
    assert plain["text"] in out and "with DSpark" in out
    assert '\'{"method":"dspark","num_speculative_tokens":5}\'' in out  # pasted, the shell keeps it one word


def test_the_preview_release_with_an_mtp_head_gets_no_figure_and_says_why(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    document = check(cli, write_inventory, "--gpus", "8xH100-80GB", "--ram", "1TB", "--release", "preview")
    drafted = document["recommendation"]["decode_tokens_per_s"]["speculative"]
    assert drafted["method"] == "mtp"  # the preview ships an MTP head, no DSpark block
    assert drafted["estimate"] is None and drafted["text"] is None and drafted["flag"] is None
    assert "unknown" in drafted["note"] and "speed-up" in drafted["note"]
    assert "--speculative-config" not in document["run"]["command"]
    assert any(note.startswith("no speculative decoding: ") for note in document["run"]["notes"])


def test_a_release_without_a_draft_module_gets_no_figure() -> None:
    estimate, vllm = _flash_on("8xH100-80GB", "1TB")
    model = estimate.model
    bare = replace(model, releases=tuple(replace(r, draft=None) for r in model.releases))
    found = speculative_for(replace(estimate, model=bare), estimate.gpu, vllm, "deepseek-ai/DeepSeek-V4-Flash-0731")
    assert found is not None and found.method is None and found.tokens_per_s is None
    assert "no draft module" in found.note
    words, notes = with_speculative(["vllm", "serve", "m"], [], replace(estimate, model=bare), estimate.gpu, vllm, None)
    assert words == ["vllm", "serve", "m"] and notes == []


def test_an_engine_without_known_support_gets_no_figure_and_a_note(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    document = check(cli, write_inventory, "--gpus", "2xH100-80GB", "--ram", "512GB")
    rec = document["recommendation"]
    assert rec["engine"] == "llama.cpp"
    drafted = rec["decode_tokens_per_s"]["speculative"]
    assert drafted["estimate"] is None and "unknown" in drafted["note"] and "llama.cpp" in drafted["note"]
    assert "--speculative-config" not in document["run"]["command"]


def _flash_on(gpus: str, ram: str):  # type: ignore[no-untyped-def]
    """The 0731 Flash FP8 estimate on a what-if machine, and the vLLM engine."""
    catalog = default_catalog()
    model = catalog.model("deepseek-v4-flash")
    inventory = whatif.apply(inv.from_dict(inventory_dict([], ram_gib=64)), gpus=gpus, ram=ram)
    estimate = est.estimate_option(model, model.quant("fp8"), 32768, est.machine_view(inventory), "fp8", "published")
    return estimate, catalog.engines.engines["vllm"]


def test_the_engine_entry_decides(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    estimate, vllm = _flash_on("8xH100-80GB", "1TB")
    repo = "deepseek-ai/DeepSeek-V4-Flash-0731"
    gpu = estimate.gpu
    assert gpu is not None and speculative_for(estimate, gpu, vllm, repo).applies  # type: ignore[union-attr]
    silent = speculative_for(estimate, gpu, replace(vllm, speculative=()), repo)
    assert silent is not None and not silent.applies and "unknown" in silent.note and not silent.flag
    unknown = replace(vllm.speculative[0], status="unknown", note="nobody has shown it")
    said = speculative_for(estimate, gpu, replace(vllm, speculative=(unknown,)), repo)
    assert said is not None and said.tokens_per_s is None and "nobody has shown it" in said.note
    other_file = speculative_for(estimate, gpu, vllm, "nvidia/DeepSeek-V4-Flash-NVFP4")
    assert other_file is not None and not other_file.applies and "ships the draft" in other_file.note


def test_a_platform_the_entry_does_not_name_gets_no_figure() -> None:
    estimate, vllm = _flash_on("8xH100-80GB", "1TB")
    hopper_only = replace(vllm.speculative[0], platforms=vllm.speculative[0].platforms[2:])  # ROCm only
    found = speculative_for(
        estimate, estimate.gpu, replace(vllm, speculative=(hopper_only,)), "deepseek-ai/DeepSeek-V4-Flash-0731"
    )
    assert found is not None and not found.applies and "NVIDIA CUDA" in found.note


ENGINES = "engines.json"
MODELS = "deepseek-v4.json"


def _engine(data, engine_id):  # type: ignore[no-untyped-def]
    return next(e for e in data["engines"] if e["id"] == engine_id)


def _release(data, model_id, release_id):  # type: ignore[no-untyped-def]
    model = next(m for m in data["models"] if m["id"] == model_id)
    return next(r for r in model["releases"] if r["id"] == release_id)


@pytest.mark.parametrize(
    ("file", "mutate", "where"),
    [
        (MODELS, lambda d: _release(d, "deepseek-v4-flash", "0731")["draft"].update(block_size=0), "draft.block_size"),
        (MODELS, lambda d: _release(d, "deepseek-v4-flash", "0731")["draft"].update(method="magic"), "draft.method"),
        (MODELS, lambda d: _release(d, "deepseek-v4-flash", "0731")["draft"].update(source="nowhere"), "draft.source"),
        (MODELS, lambda d: _release(d, "deepseek-v4-flash", "0731")["draft"].update(stages=99), "draft.stages"),
        (ENGINES, lambda d: _engine(d, "vllm")["speculative"][0]["speedup"].update(low=3), "speculative[0].speedup"),
        (ENGINES, lambda d: _engine(d, "vllm")["speculative"][0].update(status="maybe"), "speculative[0].status"),
        (ENGINES, lambda d: _engine(d, "vllm")["speculative"][0].pop("acceptance"), "speculative[0].acceptance"),
        (ENGINES, lambda d: _engine(d, "vllm")["speculative"][0].update(flag="speculative"), "speculative[0].flag"),
        (ENGINES, lambda d: _engine(d, "sglang")["speculative"][0].pop("note"), "speculative[0].note"),
        (
            ENGINES,
            lambda d: _engine(d, "vllm")["speculative"][1].update(method="dspark"),
            "speculative[1].method",
        ),
        (
            ENGINES,
            lambda d: _engine(d, "vllm")["speculative"][0]["platforms"][0].update(min_compute_capability="new"),
            "speculative[0].platforms[0].min_compute_capability",
        ),
    ],
)
def test_a_broken_speculative_field_names_file_and_field(tmp_path, file, mutate, where) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "profiles"
    folder.mkdir()
    for name in (MODELS, ENGINES):
        data = json.loads((profiles.packaged_dir() / name).read_text())
        if name == file:
            mutate(data)
        (folder / name).write_text(json.dumps(data))
    with pytest.raises(ProfileError) as caught:
        profiles.load_catalog(folder)
    message = str(caught.value)
    assert message.startswith(f"profiles/{file}: ") and where in message.split(":")[1] and "\n" not in message
