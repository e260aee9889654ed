"""A new model is a data change: a packaged model copied under a new id into the user profile folder
(``$XDG_CONFIG_HOME/vram-advisor/profiles``) is planned exactly like the original. ``check --model NEWID --json``
and ``estimate NEWID --json`` equal the original's documents with the id replaced, on machines where the answers
differ (all on the GPUs, offload, nothing fits). Nothing in ``src/`` spells a model id (the profiles name them)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from conftest import gpu, inventory_dict
from vram_advisor.catalog import profiles

SRC = Path(__file__).resolve().parents[1] / "src" / "vram_advisor"

#: (GPUs as (name, MiB) x count, RAM GiB): all on the GPUs, with offload, and nothing that fits.
MACHINES = {
    "8xH100": ([("NVIDIA H100 80GB HBM3", 81559)] * 8, 2048),
    "2x48GB": ([("NVIDIA RTX 6000 Ada Generation", 49140)] * 2, 512),
    "1x24GB": ([("NVIDIA GeForce RTX 4090", 24564)], 32),
}


def packaged_model(model_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the file's top level without its models, the raw model object) of a packaged model."""
    for path in sorted(profiles.packaged_dir().glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for model in data.get("models", []) if data.get("schema") == profiles.FAMILY_SCHEMA else []:
            if model["id"] == model_id:
                return data, model
    raise AssertionError(f"no packaged model {model_id}")


def copy_into_user_folder(config_home: Path, model_id: str, new_id: str) -> Path:
    """The packaged ``model_id`` as ``new_id`` in a family file of the user profile folder."""
    data, model = packaged_model(model_id)
    folder = config_home / "vram-advisor" / "profiles"
    folder.mkdir(parents=True)
    path = folder / f"{new_id}.json"
    family = {
        "schema": data["schema"],
        "family": "copied",
        "sources": data["sources"],
        "models": [{**model, "id": new_id}],
    }
    path.write_text(json.dumps(family), encoding="utf-8")
    return path


def renamed(document: Any, old: str, new: str) -> Any:
    """``document`` with every whole-word ``old`` id replaced by ``new`` (in keys and strings)."""
    pattern = re.compile(rf"(?<![\w.-]){re.escape(old)}(?![\w-])")
    return json.loads(pattern.sub(new, json.dumps(document)))


@pytest.fixture
def user_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("VRAM_ADVISOR_PROFILES", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config"


def machine(write_inventory, name: str) -> str:  # type: ignore[no-untyped-def]
    gpus, ram = MACHINES[name]
    return write_inventory(inventory_dict([gpu(model, mib, 0) for model, mib in gpus], ram_gib=ram))


@pytest.mark.parametrize("model_id", ["deepseek-v4-flash", "deepseek-v4-pro", "deepseek-v4.1-flash"])
def test_a_copied_profile_is_planned_like_the_original(cli, user_folder, write_inventory, model_id):
    new_id = "my-copied-model"
    copy_into_user_folder(user_folder, model_id, new_id)
    assert new_id in cli(["models", "--json"]).out
    verdicts = set()
    for name in MACHINES:
        path = machine(write_inventory, name)
        original = cli(["check", "--inventory", path, "--model", model_id, "--json"])
        copied = cli(["check", "--inventory", path, "--model", new_id, "--json"])
        assert original.code == copied.code and original.err == copied.err == "", (name, copied.err)
        expected, got = original.json(), copied.json()
        # the API block names the API's own models (some share a spelling with ours): the same, unrenamed
        assert expected["alternatives"].pop("api") == got["alternatives"].pop("api")
        assert renamed(expected, model_id, new_id) == got, name
        assert copied.json() != original.json()  # the id really is in the document
        verdicts.add(original.json()["recommendation"]["kind"])
        for quant in ("fp8", "q4", "q2"):
            args = ["--quant", quant, "--inventory", path, "--json", "--context", "128k"]
            first = cli(["estimate", model_id, *args])
            second = cli(["estimate", new_id, *args])
            assert first.code == second.code == 0, second.err
            assert renamed(first.json(), model_id, new_id) == second.json(), (name, quant)
    assert len(verdicts) > 1  # the machines reach different answers


def test_a_copied_successor_needs_its_profile_fields_not_its_id(cli, user_folder, write_inventory):
    """The V4.1 line's engine flags come with the copy (``engine_flags``), so its run lines are the original's (an id
    of the same length, so that the human view wraps the same)."""
    assert len("my-successor-copy-1") == len("deepseek-v4.1-flash")
    copy_into_user_folder(user_folder, "deepseek-v4.1-flash", "my-successor-copy-1")
    path = machine(write_inventory, "8xH100")
    original = cli(["check", "--inventory", path, "--model", "deepseek-v4.1-flash", "--details"])
    copied = cli(["check", "--inventory", path, "--model", "my-successor-copy-1", "--details"])
    assert "--tokenizer-mode" in original.out
    assert copied.out == original.out.replace("deepseek-v4.1-flash", "my-successor-copy-1")


#: Help texts that still give the packaged ids as examples (front ends: the option table, typer, MCP).


def test_no_model_id_is_spelled_in_the_source():
    """Model ids live in profiles/*.json: neither code nor its docstrings name one of the packaged ids (beyond the
    examples of a few help texts)."""
    ids = {model.id for model in profiles.packaged_catalog().models} | {
        "deepseek_v4",
        "deepseek_v41",
    }  # config.json model types too
    found = [
        f"{path.relative_to(SRC)}: {model_id}"
        for path in sorted(SRC.rglob("*.py"))
        for model_id in ids
        if re.search(rf"(?<![\w/.-]){re.escape(model_id)}(?![\w-])", path.read_text(encoding="utf-8"))
    ]
    assert found == [], found
