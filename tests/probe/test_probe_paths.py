"""The default model dir is huggingface_hub's cache dir, computed without importing the hub."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from fake_machine import machine

from vram_advisor.probe import collect_inventory
from vram_advisor.probe.paths import default_model_dir

CASES = [
    {"HF_HUB_CACHE": "/a/hub-cache", "HF_HOME": "/b"},
    {"HUGGINGFACE_HUB_CACHE": "/c/legacy"},
    {"HF_HOME": "/d/hf"},
    {"XDG_CACHE_HOME": "/e/xdg"},
    {},
]


@pytest.mark.parametrize("env", CASES)
def test_matches_huggingface_hub(env, tmp_path):
    clean = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    code = "import json; from huggingface_hub import constants; print(json.dumps(constants.HF_HUB_CACHE))"
    out = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True, check=True)
    expected = json.loads(out.stdout)
    assert default_model_dir({**clean, **env}).replace(str(tmp_path), "~") == expected.replace(str(tmp_path), "~")


def test_the_probe_measures_the_default_model_dir(tmp_path):
    machine(tmp_path)
    (tmp_path / "srv/hf/hub").mkdir(parents=True)
    inventory = collect_inventory(root=tmp_path, environ={"HF_HOME": "/srv/hf"}, platform="linux", backends=())
    (disk,) = [d for d in inventory.disks if d.model_dir]
    assert disk.path == "/srv/hf/hub" and disk.mountpoint == "/"
