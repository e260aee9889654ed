"""User profiles (merged by id over the packaged ones, a corrupt one is a warning) and ``models import`` from the
fake Hub (tests/hubserver.py): an imported profile lists in ``models`` and plans with ``check --model`` like a
packaged one."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import gpu, inventory_dict
from hubserver import V3_TOTAL_SIZE, V4_FLASH_TOTAL_SIZE, VALID_TOKEN, FakeHub, serve_recorded_hub
from vram_advisor.catalog import profiles, userprofiles
from vram_advisor.catalog.derive import guess_quant
from vram_advisor.catalog.profiles import packaged_catalog
from vram_advisor.hub import importer
from vram_advisor.hub.settings import ModelFiles


@pytest.fixture
def user_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "user-profiles"
    folder.mkdir()
    monkeypatch.setenv("VRAM_ADVISOR_PROFILES", str(folder))
    return folder


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    yield from serve_recorded_hub(monkeypatch, tmp_path)


def packaged_family() -> dict[str, Any]:
    return json.loads((profiles.packaged_dir() / "deepseek-v4.json").read_text())


def flash_copy(model_id: str, q4_min: str = "90GB", q4_safer: str = "100GB") -> dict[str, Any]:
    """A user family file holding one model: the packaged flash with another id and other q4 figures."""
    family = packaged_family()
    flash = copy.deepcopy(next(m for m in family["models"] if m["id"] == "deepseek-v4-flash"))
    flash["id"] = model_id
    flash["name"] = f"My {model_id}"
    q4 = next(q for q in flash["quants"] if q["id"] == "q4")
    q4["min_vram"], q4["safer_vram"] = q4_min, q4_safer
    return {"schema": family["schema"], "sources": family["sources"], "models": [flash]}


def write(folder: Path, name: str, data: Any) -> Path:
    path = folder / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def inventory(write_inventory, usable_mib: int = 71895, count: int = 2) -> str:  # type: ignore[no-untyped-def]
    return write_inventory(inventory_dict([gpu("NVIDIA Test GPU", usable_mib, 0)] * count))


# ------------------------------------------------------------------------------------------------ merging


def test_a_user_profile_is_listed_and_planned(cli, user_dir, write_inventory):
    write(user_dir, "mine.json", flash_copy("my-flash"))
    listed = cli(["models", "--json"])
    assert listed.code == 0, listed.err
    ids = [m["id"] for m in listed.json()["models"]]
    assert ids[:4] == ["deepseek-v4-pro", "deepseek-v4-flash", "deepseek-v4-pro-base", "deepseek-v4-flash-base"]
    assert ids[-1] == "my-flash"
    assert next(m for m in listed.json()["models"] if m["id"] == "my-flash")["profile"] == "user-profiles/mine.json"
    planned = cli(
        ["check", "--sizes", "table", "--inventory", inventory(write_inventory), "--model", "my-flash", "--json"]
    )
    assert planned.code == 0, planned.err
    options = planned.json()["options"]
    assert {o["model"] for o in options} == {"my-flash"}
    assert [o["quant"] for o in options] == ["fp8", "q6", "q5", "q4", "q3", "q2"]
    q4 = next(o for o in options if o["quant"] == "q4")
    assert (q4["min_vram_gb"], q4["safer_vram_gb"]) == (90, 100)


def test_two_models_rank_like_rule_4(cli, write_inventory):
    args = ["check", "--inventory", inventory(write_inventory), "--json"]
    default = cli(args).json()["options"]
    explicit = cli([*args, "--model", "deepseek-v4-pro", "--model", "deepseek-v4-flash"]).json()["options"]
    assert [(o["model"], o["quant"]) for o in explicit] == [(o["model"], o["quant"]) for o in default]


def test_a_user_profile_replaces_a_packaged_one_of_the_same_id(cli, user_dir):
    write(user_dir, "override.json", flash_copy("deepseek-v4-flash", "100GB", "110GB"))
    models = cli(["models", "--json"]).json()["models"]
    flashes = [m for m in models if m["id"] == "deepseek-v4-flash"]
    assert len(flashes) == 1
    q4 = next(q for q in flashes[0]["quants"] if q["quant"] == "q4")
    assert (q4["min_vram_gb"], q4["safer_vram_gb"]) == (100, 110)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ({"schema": "vram-advisor/profile/v1", "sources": {}}, "models: required field is missing"),
        (None, "models[0].quants[3].min_vram"),
    ],
)
def test_a_corrupt_user_profile_is_a_warning_naming_the_file(cli, user_dir, write_inventory, content, fragment):
    if content is None:
        content = flash_copy("broken-flash", q4_min="lots")
    bad = write(user_dir, "bad.json", content)
    write(user_dir, "good.json", flash_copy("good-flash"))
    result = cli(["check", "--inventory", inventory(write_inventory), "--model", "good-flash", "--json"])
    assert result.code == 0
    assert json.loads(result.out)["options"][0]["model"] == "good-flash"
    warning = result.err.strip()
    assert warning.startswith(f"vram-advisor: warning: ignoring user profile {bad}: ")
    assert fragment in warning and warning.count("\n") == 0


def test_the_warning_comes_once_per_version_of_the_file(cli, user_dir):
    bad = write(user_dir, "bad.json", "[]")
    assert "ignoring user profile" in cli(["models"]).err
    assert cli(["models"]).err == ""
    bad.write_text("[1]")
    os.utime(bad, ns=(bad.stat().st_mtime_ns + 10**9,) * 2)
    assert "ignoring user profile" in cli(["models"]).err


def test_packaged_profile_errors_stay_fatal(cli, user_dir, tmp_path, monkeypatch):
    write(user_dir, "good.json", flash_copy("good-flash"))
    broken = tmp_path / "packaged"
    broken.mkdir()
    family = packaged_family()
    family["models"][0]["quants"][0]["weights"] = "heavy"
    write(broken, "deepseek-v4.json", family)
    monkeypatch.setattr(profiles, "packaged_dir", lambda: broken)
    userprofiles.default_catalog.cache_clear()
    try:
        result = cli(["models"])
    finally:
        userprofiles.default_catalog.cache_clear()
    assert result.code == 2 and result.err.count("\n") == 1
    assert "packaged/deepseek-v4.json: models[0].quants[0].weights: 'heavy'" in result.err


def test_several_user_folders_and_the_config_home_default(monkeypatch, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    monkeypatch.setenv("VRAM_ADVISOR_PROFILES", os.pathsep.join([str(first), str(second)]))
    assert profiles.user_dirs() == (first, second)
    assert userprofiles.user_profile_dir() == first
    write_dirs = [first, second]
    for folder, model_id in zip(write_dirs, ("in-a", "in-b"), strict=True):
        folder.mkdir()
        write(folder, f"{model_id}.json", flash_copy(model_id))
    ids = [m.id for m in userprofiles.default_catalog().models]
    assert ids[-2:] == ["in-a", "in-b"]
    monkeypatch.delenv("VRAM_ADVISOR_PROFILES")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert userprofiles.user_profile_dir() == tmp_path / "config" / "vram-advisor" / "profiles"


def test_without_user_profiles_the_packaged_catalogue_is_returned_as_is(user_dir):
    assert userprofiles.default_catalog() is packaged_catalog()


# ------------------------------------------------------------------------------------------------- import


def imported(user_dir: Path, model_id: str) -> dict[str, Any]:
    return json.loads((user_dir / f"{model_id}.json").read_text())


def test_import_writes_a_profile_that_lists_and_plans(cli, user_dir, write_inventory, fake_hub):
    result = cli(["models", "import", "deepseek-ai/DeepSeek-V4-Flash-0731"])
    assert result.code == 0, result.err
    model_id = "deepseek-ai-deepseek-v4-flash-0731"
    assert result.out.startswith(
        f"imported deepseek-ai/DeepSeek-V4-Flash-0731@{fake_hub.repos['deepseek-ai/DeepSeek-V4-Flash-0731'].sha[:12]} as {model_id}: wrote {user_dir / model_id}.json\n"
    )
    assert f"plan it with: vram-advisor check --model {model_id}" in result.out
    listed = cli(["models"])
    assert "DeepSeek-V4-Flash-0731" in listed.out and "q4 †" in listed.out
    planned = cli(
        ["check", "--inventory", inventory(write_inventory), "--model", model_id, "--require", f"{model_id}:q4", "-q"]
    )
    assert (planned.code, planned.out) == (
        0,
        f"ok: {model_id} q4 fits comfortably: 140.4 GiB usable, it needs 95.8 GiB, safer figure 127.7 GiB\n",
    )
    assert fake_hub.weights_fetched() == []


def test_derived_rows_follow_bit_width_and_the_family_ratios(cli, user_dir, fake_hub):
    assert cli(["models", "import", "deepseek-ai/DeepSeek-V4-Flash-0731", "--id", "flash-0731"]).code == 0
    profile = imported(user_dir, "flash-0731")
    model = profile["models"][0]
    rows = {q["id"]: q for q in model["quants"]}
    assert list(rows) == ["fp8", "q6", "q5", "q4", "q3", "q2"]
    assert all(q["derived"] is True and q["source"] == "hub-derived" for q in rows.values())
    assert rows["fp8"]["weights"] == "159.61GB"  # the index's total_size, as published
    assert rows["q4"]["weights"] == "79.81GB"  # x 4/8, rounded up
    table_q4 = packaged_catalog().model("deepseek-v4-flash").quant("q4")  # named in the repo: its profile's ratio
    q4_bytes = -(-V4_FLASH_TOTAL_SIZE * 4 // 8)
    expected_min = -(-q4_bytes * table_q4.min_vram_bytes // table_q4.weights_bytes)
    assert userprofiles.default_catalog().model("flash-0731").quant("q4").min_vram_bytes >= expected_min
    assert rows["q4"]["min_vram"] == "95.8GB"
    assert rows["q3"]["experimental"] and rows["q2"]["experimental"] and not rows["q4"]["experimental"]
    commit = fake_hub.repos["deepseek-ai/DeepSeek-V4-Flash-0731"].sha
    source = profile["sources"]["hub-derived"]
    assert source["title"].startswith(f"Derived from deepseek-ai/DeepSeek-V4-Flash-0731@{commit[:12]}")
    assert source["url"].endswith(f"/deepseek-ai/DeepSeek-V4-Flash-0731/tree/{commit}")
    assert profile["imported"]["commit"] == commit and profile["imported"]["revision"] == "main"
    listed = next(m for m in cli(["models", "--json"]).json()["models"] if m["id"] == "flash-0731")
    assert all(q["derived"] for q in listed["quants"])


def test_v4_geometry_gets_the_packaged_architecture_and_kv_estimate(cli, user_dir, fake_hub):
    assert cli(["models", "import", "deepseek-ai/DeepSeek-V4-Flash-0731", "--id", "flash-0731"]).code == 0
    model = imported(user_dir, "flash-0731")["models"][0]
    packaged_flash = next(m for m in packaged_family()["models"] if m["id"] == "deepseek-v4-flash")
    assert model["architecture"] == packaged_flash["architecture"]
    assert model["hub_config"]["csa_layers"] == 21 and model["hub_config"]["hca_layers"] == 20
    assert model["hub_config"]["kv_bf16_bytes_per_token"] == 6880  # Flash BF16 (r/LocalLLaMA: 6.72 GiB at 1M tokens)
    assert userprofiles.default_catalog().model("flash-0731").architecture is not None


def test_mla_and_dense_geometries(cli, user_dir, fake_hub):
    assert cli(["models", "import", "deepseek-ai/DeepSeek-V3", "--id", "v3"]).code == 0
    v3 = imported(user_dir, "v3")["models"][0]
    assert v3["hub_config"]["kv_bf16_bytes_per_token"] == 70272  # V3/R1 MLA at BF16: 61 x (512 + 64) x 2
    assert "architecture" not in v3
    assert v3["official_weights"]["size"] == f"{-(-V3_TOTAL_SIZE // 10**7) / 100:g}GB"
    assert cli(["models", "import", "acme/Gated-32B", "--id", "dense"], env={"HF_TOKEN": VALID_TOKEN}).code == 0
    dense = imported(user_dir, "dense")["models"][0]
    assert dense["hub_config"]["kv_bf16_bytes_per_token"] == 2 * 64 * 8 * 128 * 2
    assert [q["id"] for q in dense["quants"]] == ["fp8", "q6", "q5", "q4", "q3", "q2"]
    assert dense["quants"][0]["weights"] == "32.77GB"  # a BF16 checkpoint: FP8 is half of it


def test_import_json_output(cli, user_dir, fake_hub):
    result = cli(["models", "import", "deepseek-ai/DeepSeek-V3", "--id", "v3", "--json"])
    assert result.code == 0 and result.err == ""
    document = result.json()
    assert document["schema"] == "vram-advisor/import/v1"
    assert (document["id"], document["path"], document["replaced"]) == ("v3", str(user_dir / "v3.json"), False)
    assert document["imported"]["weights_bytes"] == V3_TOTAL_SIZE
    again = cli(["models", "import", "deepseek-ai/DeepSeek-V3", "--id", "v3", "--json"])
    assert again.json()["replaced"] is True


@pytest.mark.parametrize(
    ("args", "env", "fragment"),
    [
        (["unsloth/DeepSeek-V4-Flash-GGUF"], {}, "has no config.json"),
        (["acme/Gated-32B"], {}, "acme/Gated-32B is gated"),
        (["nobody/nothing"], {}, "nobody/nothing was not found"),
        (["deepseek-ai/DeepSeek-V3", "--id", "Bad Id"], {}, "--id 'Bad Id': use lower-case letters"),
        (["deepseek-ai/DeepSeek-V3", "--id", "deepseek-v4-pro"], {}, "is a packaged profile"),
        (["deepseek-ai/DeepSeek-V3"], {"HF_HUB_OFFLINE": "1"}, "HF_HUB_OFFLINE=1"),
        (["deepseek-ai/DeepSeek-V3", "--revision", "nope"], {}, "has no revision 'nope'"),
    ],
)
def test_import_errors_are_one_line_and_write_nothing(cli, user_dir, fake_hub, args, env, fragment):
    result = cli(["models", "import", *args], env=env)
    assert result.code == 2 and result.out == ""
    assert result.err.count("\n") == 1 and fragment in result.err
    assert list(user_dir.iterdir()) == []


def test_force_allows_replacing_a_packaged_id(cli, user_dir, fake_hub):
    result = cli(["models", "import", "deepseek-ai/DeepSeek-V4-Flash", "--id", "deepseek-v4-flash", "--force"])
    assert result.code == 0, result.err
    assert userprofiles.default_catalog().model("deepseek-v4-flash").quants[0].derived is True


def test_import_offline_after_an_online_import_uses_the_cache(cli, user_dir, fake_hub):
    assert cli(["models", "import", "deepseek-ai/DeepSeek-V3", "--id", "v3"]).code == 0
    before = len(fake_hub.requests)
    offline = cli(
        ["models", "import", "deepseek-ai/DeepSeek-V3", "--id", "v3-offline", "--json"], env={"HF_HUB_OFFLINE": "1"}
    )
    assert offline.code == 0, offline.err
    assert len(fake_hub.requests) == before
    assert offline.json()["imported"]["from"] == "cache"
    assert offline.json()["imported"]["weights_bytes"] == V3_TOTAL_SIZE


# ------------------------------------------------------------------------------------------- pure helpers


@pytest.mark.parametrize(
    ("config", "bits"),
    [
        ({"torch_dtype": "bfloat16"}, 16),
        ({"dtype": "float16"}, 16),
        ({"torch_dtype": "float32"}, 32),
        ({"quantization_config": {"quant_method": "fp8"}}, 8),
        ({"quantization_config": {"quant_method": "gptq", "bits": 4}}, 4),
        ({"quantization_config": {"quant_method": "mxfp4"}}, 4.25),
        ({"quantization_config": {"load_in_4bit": True}}, 4),
        ({}, 16),
    ],
)
def test_checkpoint_bits(config, bits):
    assert importer.checkpoint_bits(config)[0] == bits


def test_a_4bit_checkpoint_has_no_wider_rows():
    files = ModelFiles(
        repo_id="org/Model-GPTQ",
        revision="main",
        commit="a" * 40,
        endpoint="https://huggingface.co",
        config={"quantization_config": {"quant_method": "gptq", "bits": 4}, "num_hidden_layers": 2},
        index_total_size=20 * 10**9,
        safetensors_bytes=None,
        safetensors_files=0,
        source="hub",
    )
    profile = importer.build_profile(files, packaged_catalog(), userprofiles.packaged_raw_models(), "gptq-model")
    rows = profile["models"][0]["quants"]
    assert [q["id"] for q in rows] == ["q4", "q3", "q2"]
    assert rows[0]["weights"] == "20GB" and "as published" in rows[0]["label"]


@pytest.mark.parametrize(
    ("names", "quant"),
    [
        (["UD-Q2_K_XL/DeepSeek-V4-Flash-UD-Q2_K_XL-00001-of-00002.gguf"], "q2"),
        (["model-Q4_K_M.gguf"], "q4"),
        (["x-IQ2_XXS.gguf"], "q2"),
        (["x-IQ1_M.gguf"], "q2"),
        (["Q8_0/x-Q8_0.gguf"], "fp8"),
        (["DeepSeek-V4-Flash-FP8/model.safetensors"], "fp8"),
        (["x-Q5_K_S.gguf", "x-Q5_K_S-2.gguf", "README.md"], "q5"),
        (["model-00001-of-00046.safetensors"], None),
        (["x-BF16.gguf"], None),
    ],
)
def test_guess_quant_from_file_names(names, quant):
    assert guess_quant(names) == quant


def test_default_model_ids():
    assert importer.default_model_id("deepseek-ai/DeepSeek-V4-Flash-0731") == "deepseek-ai-deepseek-v4-flash-0731"
    assert importer.default_model_id("Org_X/Model.V2") == "org_x-model.v2"
