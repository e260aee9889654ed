"""The smaller local models, planned like V4 (plan/alternatives.py): weights and KV from each model's geometry,
placements (all on the GPU, GPU + RAM with experts or layers split, CPU), the calibrated decode speed, the
llama.cpp command, and the ranking by usable speed then score (issue 21, item 6)."""

from __future__ import annotations

import json

import pytest

from vram_advisor.catalog import profiles
from vram_advisor.catalog.localmodels import AttentionLayers, Cited, LocalArchitecture, LocalModel, MoeLayers, Score
from vram_advisor.core.errors import ProfileError
from vram_advisor.inventory import bandwidth as bw
from vram_advisor.inventory.model import Gpu, Inventory, Ram
from vram_advisor.plan import alternatives as alt
from vram_advisor.plan.alternative_run import run_steps
from vram_advisor.plan.estimate import machine_view

GIB = 1024**3
SOURCE = Cited("test", "a test source", "https://example.org")


def rtx4090_view(ram_gib: int = 64):  # type: ignore[no-untyped-def]
    inventory = Inventory(
        ram=Ram(total_bytes=ram_gib * GIB),
        gpus=(Gpu(name="NVIDIA GeForce RTX 4090", memory_total_bytes=24564 * 1024**2, index=0),),
    )
    return machine_view(inventory)


def dense(name: str, size_gb: float, layers: int = 32, score: float | None = None) -> LocalModel:
    return LocalModel(
        name=name,
        family="test",
        params_total="8B",
        quant="Q4_K_M",
        size_gb=size_gb,
        source="test",
        architecture=LocalArchitecture(
            params_total=round(size_gb * 1.65e9),
            params_active=round(size_gb * 1.65e9),
            layers=layers,
            hidden_size=4096,
            max_context_tokens=131072,
            attention=(AttentionLayers(layers, 8, 128),),
            source=SOURCE,
        ),
        score=None if score is None else Score("GPQA Diamond", score, SOURCE, "2026-01-01"),
    )


# ------------------------------------------------------------------------------------- the done-when case


@pytest.fixture
def rtx4090_check(cli) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """``check --gpus 1xRTX4090 --ram 64GB --json``: the issue's done-when machine."""
    result = cli(["check", "--gpus", "1xRTX4090", "--ram", "64GB", "--json"])
    assert result.code in (0, 1), result.err
    return result.json()  # type: ignore[no-any-return]


def test_every_smaller_model_on_a_4090_has_a_speed_a_command_and_a_score_source(rtx4090_check):
    smaller = rtx4090_check["alternatives"]["smaller_models"]
    assert len(smaller) >= 10
    for model in smaller:
        speed = model["decode_tokens_per_s"]
        assert speed["estimate"] > 0 and speed["low"] < speed["estimate"] < speed["high"], model["name"]
        assert speed["text"].startswith("≈ ")
        (line,) = model["run"]["steps"]
        assert line.startswith("llama-server -hf ") and " -c 32768 " in line and "--host 127.0.0.1" in line
        assert model["fits"] is True and model["runs_on"] in ("gpu", "gpu+ram", "cpu")
        assert {"name", "quant", "size_gb", "params", "runs_on"} <= set(model)  # the older format's keys
        if model["score"] is not None:
            assert model["score"]["source"]["url"].startswith("https://")
            assert "shared" not in model["score"]["source"]["url"]
    assert smaller[0]["decode_tokens_per_s"]["estimate"] >= alt.USABLE_TOKENS_PER_S
    assert smaller[0]["score"] is not None
    assert rtx4090_check["alternatives"]["smaller_models_ranking"]["usable_tokens_per_s"] == 10


def test_the_4090_list_follows_the_ranking_rule(rtx4090_check):
    smaller = rtx4090_check["alternatives"]["smaller_models"]
    usable = [m["usable"] for m in smaller]
    assert usable == sorted(usable, reverse=True)  # every usable model before every slow one
    assert not smaller[-1]["usable"]  # the dense 70B models from RAM are listed, last
    for group in (True, False):
        scores = [m["score"]["value"] if m["score"] else -1 for m in smaller if m["usable"] is group]
        assert scores == sorted(scores, reverse=True)


def test_a_moe_model_splits_its_experts_between_the_gpu_and_ram(rtx4090_check):
    oss = next(m for m in rtx4090_check["alternatives"]["smaller_models"] if m["name"] == "gpt-oss-120b")
    assert oss["runs_on"] == "gpu+ram" and oss["moe"] is True
    n = oss["placement"]["n_cpu_moe"]
    assert 0 < n < 36  # some of the 36 MoE layers keep their experts on the GPU
    assert f"-ngl 99 --n-cpu-moe {n} " in oss["run"]["steps"][0]
    assert oss["placement"]["gpu_bytes"] <= rtx4090_check["usable_vram_bytes"]
    assert 30 * GIB < oss["placement"]["ram_bytes"] < oss["weights_bytes"]  # the experts of n layers, in RAM
    assert oss["decode_tokens_per_s"]["bottleneck"] == "ram"


def test_a_dense_model_too_big_for_the_gpu_offloads_layers(rtx4090_check):
    llama = next(m for m in rtx4090_check["alternatives"]["smaller_models"] if m["name"] == "Llama 3.1 70B")
    layers = llama["placement"]["gpu_layers"]
    assert 0 < layers < 80 and f" -ngl {layers} " in llama["run"]["steps"][0]
    assert "--n-cpu-moe" not in llama["run"]["steps"][0]
    assert llama["decode_tokens_per_s"]["estimate"] < 3  # a dense 70B read mostly from RAM


def test_the_human_view_shows_speed_and_the_first_command(cli):
    result = cli(["check", "--gpus", "1xRTX4090", "--ram", "64GB"], env={"COLUMNS": "400"})
    assert "tok/s" in result.out and "GPQA Diamond" in result.out
    assert "run Qwen3.6-35B-A3B:" not in result.out  # one screen: the command is under --details
    details = cli(["check", "--gpus", "1xRTX4090", "--ram", "64GB", "--details"], env={"COLUMNS": "400"})
    assert "run Qwen3.6-35B-A3B: llama-server -hf " in details.out


# --------------------------------------------------------------------------------------------- the planner


def test_ranking_puts_usable_speed_before_score_and_unscored_last():
    view = rtx4090_view()
    fast_low = dense("fast", 4.0, score=40.0)
    fast_high = dense("fast-better", 5.0, score=60.0)
    fast_none = dense("fast-unscored", 4.5)
    slow_best = dense("slow", 60.0, layers=80, score=90.0)
    ranked = alt.plan_alternatives([slow_best, fast_none, fast_low, fast_high], view, 8192)
    assert [a.model.name for a in ranked] == ["fast-better", "fast", "fast-unscored", "slow"]
    assert ranked[0].usable and not ranked[-1].usable
    assert ranked[-1].chosen is not None and ranked[-1].chosen.kind == "gpu+ram"


def test_a_model_that_fits_nowhere_is_left_out():
    huge = dense("huge", 500.0, layers=120)
    assert alt.plan_alternatives([huge], rtx4090_view(), 8192) == ()


def test_sliding_window_and_linear_attention_layers_keep_less_kv():
    full = LocalArchitecture(
        params_total=31 * 10**9,
        params_active=31 * 10**9,
        layers=60,
        hidden_size=5376,
        max_context_tokens=262144,
        attention=(AttentionLayers(60, 16, 256),),
        source=SOURCE,
    )
    gemma = LocalArchitecture(  # Gemma 4 31B: 50 sliding layers (window 1024) and 10 global ones
        params_total=31 * 10**9,
        params_active=31 * 10**9,
        layers=60,
        hidden_size=5376,
        max_context_tokens=262144,
        attention=(AttentionLayers(50, 16, 256, window=1024), AttentionLayers(10, 4, 512)),
        source=SOURCE,
    )
    context = 32768
    assert alt.kv_bytes(full, context) == 60 * 2 * 16 * 256 * 2 * context
    assert alt.kv_bytes(gemma, context) == 50 * 2 * 16 * 256 * 2 * 1024 + 10 * 2 * 4 * 512 * 2 * context
    assert alt.kv_bytes(gemma, context) < alt.kv_bytes(full, context) / 5


def test_the_moe_split_reads_only_the_active_experts():
    arch = LocalArchitecture(
        params_total=30 * 10**9,
        params_active=3 * 10**9,
        layers=48,
        hidden_size=2048,
        max_context_tokens=32768,
        attention=(AttentionLayers(48, 4, 128),),
        source=SOURCE,
        moe=MoeLayers(layers=48, experts=128, experts_per_token=8, expert_intermediate=768),
    )
    routed, other = alt.active_read_bytes(arch, 18 * 10**9)
    assert routed + other == pytest.approx(18 * 10**9 * 3 / 30, rel=1e-6)
    assert alt.routed_bytes(arch, 18 * 10**9) == round(18e9 * arch.routed_params / arch.params_total)


def test_the_command_of_a_cpu_only_machine_keeps_every_layer_off_the_gpu():
    inventory = Inventory(ram=Ram(total_bytes=64 * GIB), gpus=())
    view = machine_view(inventory, ram_bw=bw.DEFAULT_RAM_BANDWIDTH.bytes_per_s)
    model = LocalModel(
        name="small",
        family="test",
        params_total="8B",
        quant="Q4_K_M",
        size_gb=4.9,
        source="test",
        gguf=profiles.load_catalog().local_models[0].gguf,
        architecture=dense("x", 4.9).architecture,
    )
    (planned,) = alt.plan_alternatives([model], view, 4096)
    assert planned.chosen is not None and planned.chosen.kind == "cpu"
    (line,) = run_steps(planned, view)
    assert " -ngl 0 " in line and " -c 4096 " in line


# ------------------------------------------------------------------------------------------- the catalogue


def test_every_packaged_smaller_model_can_be_planned():
    models = profiles.load_catalog().local_models
    assert len(models) >= 16
    assert all(m.architecture is not None and m.gguf is not None for m in models)
    scored = [m.score for m in models if m.score is not None]
    assert len(scored) >= 10 and {s.benchmark for s in scored} == {"GPQA Diamond"}
    assert any(m.name.startswith("Qwen3.6") for m in models)


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda m: m["architecture"].update(layers="many"), "models[0].architecture.layers"),
        (
            lambda m: m["architecture"]["attention"][0].update(kv_heads=0),
            "models[0].architecture.attention[0].kv_heads",
        ),
        (lambda m: m["architecture"].update(attention=[]), "models[0].architecture.attention"),
        (
            lambda m: m["architecture"]["moe"].update(experts_per_token=999),
            "models[0].architecture.moe.experts_per_token",
        ),
        (lambda m: m["gguf"].update(repo="not a repo"), "models[0].gguf.repo"),
        (lambda m: m["gguf"].update(tag="Q4:K"), "models[0].gguf.tag"),
        (lambda m: m["score"].update(value=140), "models[0].score.value"),
        (lambda m: m["score"].update(date="April 2026"), "models[0].score.date"),
        (lambda m: m["score"].update(source="nowhere"), "models[0].score.source"),
    ],
)
def test_a_broken_new_field_names_the_file_and_the_field(tmp_path, mutate, where):
    data = json.loads((profiles.packaged_dir() / "local-models.json").read_text())
    mutate(data["models"][0])
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "deepseek-v4.json").write_text((profiles.packaged_dir() / "deepseek-v4.json").read_text())
    (folder / "local-models.json").write_text(json.dumps(data))
    with pytest.raises(ProfileError) as caught:
        profiles.load_catalog(folder)
    message = str(caught.value)
    assert message.startswith(f"profiles/local-models.json: {where}") and "\n" not in message


def test_a_broken_user_catalogue_is_one_line_naming_file_and_field(cli, tmp_path):
    """A user's local-models file with a broken field is skipped with one line (as every user profile is); the
    packaged list still answers."""
    data = json.loads((profiles.packaged_dir() / "local-models.json").read_text())
    data["models"][0]["architecture"]["hidden_size"] = -1
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "local-models.json").write_text(json.dumps(data))
    result = cli(["check", "--gpus", "1xRTX4090", "--json"], env={"VRAM_ADVISOR_PROFILES": str(folder)})
    assert result.err.count("\n") == 1 and "Traceback" not in result.err
    assert "local-models.json: models[0].architecture.hidden_size: -1 must be larger than zero" in result.err
    assert result.json()["alternatives"]["smaller_models"]
