"""``check --require`` as install pipelines use it: one line, a trustworthy exit code, each check with its figure, and
``--repo`` judging the real download (against the fake Hub on 127.0.0.1, tests/hubserver.py)."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import huggingface_hub
import pytest

from conftest import GIB, gpu, inventory_dict
from hubserver import GGUF_Q2_SHARDS, GGUF_Q4_SHARDS, VALID_TOKEN, FakeHub, serve_recorded_hub
from vram_advisor.catalog.profiles import packaged_catalog
from vram_advisor.core import units

H100 = ("NVIDIA H100 80GB HBM3", 81559, 480)  # 79.2 GiB usable (k8s-test-infra qx-h100.xml)
GGUF = "unsloth/DeepSeek-V4-Flash-GGUF"


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    yield from serve_recorded_hub(monkeypatch, tmp_path)


def gpus_of(usable_mib: int, count: int = 2) -> list[dict[str, object]]:
    return [gpu("NVIDIA Test GPU", usable_mib, 0) for _ in range(count)]


def disk(path: str, free_gb: float) -> dict[str, object]:
    return {"path": path, "kind": "nvme", "total_bytes": 4 * 10**12, "free_bytes": int(free_gb * 10**9)}


def check(cli, write_inventory, gpus, *args, ram_gib=64, disks=(), hostname="pipeline-node", env=None):  # type: ignore[no-untyped-def]
    path = write_inventory(inventory_dict(gpus, ram_gib=ram_gib, disks=list(disks), hostname=hostname))
    return cli(["check", "--inventory", path, "--sizes", "table", *args], env=env)


# ----------------------------------------------------------------------------------------- the one line


def test_the_ok_line(cli, write_inventory):
    result = check(cli, write_inventory, gpus_of(71895), "--require", "deepseek-v4-flash:q4", "--quiet")
    assert (result.code, result.out, result.err) == (
        0,
        "ok: deepseek-v4-flash q4 fits comfortably: 140.4 GiB usable, it needs 96.0 GiB, safer figure 128.0 GiB\n",
        "",
    )


def test_the_no_line(cli, write_inventory):
    result = check(cli, write_inventory, [gpu(*H100)], "--require", "deepseek-v4-flash:q4", "--quiet")
    assert (result.code, result.out, result.err) == (
        1,
        "no: deepseek-v4-flash q4 needs 96.0 GiB, this machine has 79.2 GiB usable\n",
        "",
    )


def test_the_minimum_and_offload_lines(cli, write_inventory):
    minimum = check(cli, write_inventory, gpus_of(51200), "--require", "deepseek-v4-flash:q4", "-q")
    assert minimum.code == 0
    assert (
        minimum.out
        == "ok: deepseek-v4-flash q4 fits at the minimum: 100.0 GiB usable, it needs 96.0 GiB, safer 128.0 GiB\n"
    )
    args = ("--require", "deepseek-v4-flash:q4", "-q")
    refused = check(cli, write_inventory, [gpu("NVIDIA GeForce RTX 4090", 24564, 0)], *args, ram_gib=256)
    assert refused.code == 1
    assert refused.out == "no: deepseek-v4-flash q4 needs 96.0 GiB, this machine has 24.0 GiB usable\n"
    offload = check(
        cli, write_inventory, [gpu("NVIDIA GeForce RTX 4090", 24564, 0)], *args, "--allow-offload", ram_gib=256
    )
    assert offload.code == 0
    assert offload.out == (
        "ok: deepseek-v4-flash q4 fits with offload: 24.0 GiB usable VRAM plus 230.4 GiB spare RAM cover its need of "
        "96.0 GiB\n"
    )


def test_free_memory_is_named_as_such(cli, write_inventory):
    busy = [gpu("NVIDIA H100 80GB HBM3", 81559, 480, memory_free_bytes=40 * GIB)] * 2
    result = check(cli, write_inventory, busy, "--require", "deepseek-v4-flash:q4", "--free", "--quiet")
    assert (result.code, result.out) == (1, "no: deepseek-v4-flash q4 needs 96.0 GiB, this machine has 80.0 GiB free\n")


def test_the_disk_line_names_the_need_and_the_room(cli, write_inventory):
    args = ("--require", "deepseek-v4-flash:q4", "--model-dir", "/models/hub", "--quiet")
    result = check(cli, write_inventory, gpus_of(71895), *args, disks=[disk("/models", 50)])
    assert (result.code, result.out) == (
        1,
        "no: deepseek-v4-flash q4 needs 80.0 GB of disk for its weights, 50.0 GB free under /models/hub\n",
    )


# -------------------------------------------------------------------------------------- every check, figured


def checks_of(result) -> dict[str, tuple[bool | None, str]]:  # type: ignore[no-untyped-def]
    return {c["check"]: (c["ok"], c["detail"]) for c in result.json()["required"]["checks"]}


def test_each_check_carries_its_figure(cli, write_inventory):
    args = ("--require", "deepseek-v4-flash:q4", "--allow-offload", "--model-dir", "/models", "--json")
    result = check(cli, write_inventory, [gpu(*H100)], *args, ram_gib=128, disks=[disk("/models", 900)])
    assert result.code == 0
    assert checks_of(result) == {
        "vram": (False, "needs 96.0 GiB (safer 128.0 GiB); 79.2 GiB usable"),
        "ram": (True, "needs 96.0 GiB; 79.2 GiB usable VRAM + 115.2 GiB spare RAM = 194.4 GiB"),
        "disk": (True, "80.0 GB for its weights; 900.0 GB free under /models"),
    }


def test_the_human_view_lists_the_checks(cli, write_inventory):
    args = ("--require", "deepseek-v4-flash:q4", "--model-dir", "/models")
    result = check(cli, write_inventory, gpus_of(71895), *args, disks=[disk("/models", 50)])
    assert result.code == 1
    assert "✓ vram: needs 96.0 GiB (safer 128.0 GiB); 140.4 GiB usable" in result.out
    assert "✗ disk: 80.0 GB for its weights; 50.0 GB free under /models" in result.out


# ------------------------------------------------------------------------------------------------- --repo


def repo_json(result):  # type: ignore[no-untyped-def]
    assert result.code in (0, 1), result.err
    return result.json()


def test_repo_alone_is_a_requirement_with_a_derived_need(cli, write_inventory, fake_hub):
    args = ("--repo", GGUF, "--include", "UD-Q2_K_XL/*", "--model-dir", "/models", "--json")
    document = repo_json(check(cli, write_inventory, gpus_of(71895), *args, disks=[disk("/models", 500)]))
    total = sum(GGUF_Q2_SHARDS)
    row = packaged_catalog().model("deepseek-v4-flash").quant("q2")  # the repo's own profile, files named Q2
    derived = document["required"]["derived"]
    assert derived["weights_bytes"] == total
    assert derived["reference"] == {"model": "deepseek-v4-flash", "quant": "q2"}
    assert derived["min_vram_bytes"] == -(-total * row.min_vram_bytes // row.weights_bytes)
    assert derived["safer_vram_bytes"] == -(-total * row.safer_vram_bytes // row.weights_bytes)
    assert document["required"]["model"] == GGUF and document["required"]["quant"] == "q2"
    assert document["download"]["total_bytes"] == total
    assert document["download"]["files"][0]["path"].startswith("UD-Q2_K_XL/")
    assert fake_hub.weights_fetched() == []


def test_repo_quiet_lines_state_the_derivation(cli, write_inventory, fake_hub):
    args = ("--repo", GGUF, "--include", "UD-Q2_K_XL/*", "--model-dir", "/models", "-q")
    ok = check(cli, write_inventory, gpus_of(71895), *args, disks=[disk("/models", 500)])
    need = units.table_text(-(-sum(GGUF_Q2_SHARDS) * 64 * GIB // (40 * 10**9)))  # flash q2: 64 GB safer / 40 GB
    minimum = units.table_text(-(-sum(GGUF_Q2_SHARDS) * 48 * GIB // (40 * 10**9)))  # and 48 GB minimum
    assert ok.code == 0
    assert ok.out == (
        f"ok: {GGUF} q2 fits comfortably: 140.4 GiB usable, it needs {minimum.replace('GB', ' GiB')}, safer figure "
        f"{need.replace('GB', ' GiB')} "
        f"(derived: 86.8 GB of files x the deepseek-v4-flash q2 ratios)\n"
    )
    no = check(cli, write_inventory, [gpu(*H100)], *args, disks=[disk("/models", 500)])
    assert no.code == 1
    assert re.fullmatch(
        rf"no: {GGUF} q2 needs 104\.2 GiB, this machine has 79\.2 GiB usable \(derived: 86\.8 GB of files x the "
        r"deepseek-v4-flash q2 ratios\)\n",
        no.out,
    )


def test_repo_with_require_keeps_the_table_vram_and_checks_the_download(cli, write_inventory, fake_hub):
    args = ("--require", "deepseek-v4-flash:q4", "--repo", GGUF, "--include", "UD-Q4_K_XL/*", "--model-dir", "/models")
    small = check(cli, write_inventory, gpus_of(71895), *args, "-q", disks=[disk("/models", 100)])
    assert (small.code, small.out) == (
        1,
        "no: deepseek-v4-flash q4 needs 155.0 GB of disk for its download, 100.0 GB free under /models\n",
    )
    big = check(cli, write_inventory, gpus_of(71895), *args, "--json", disks=[disk("/models", 200)])
    assert big.code == 0
    required = big.json()["required"]
    assert (
        required["reason"]
        == "deepseek-v4-flash q4 fits comfortably: 140.4 GiB usable, it needs 96.0 GiB, safer figure 128.0 GiB"
    )
    assert "derived" not in required
    ok, detail = checks_of(big)["disk"]
    assert ok is True
    assert detail.startswith(f"155.0 GB to download (4 files of {GGUF}@")
    assert detail.endswith(
        "155.0 GB; this disk's copies not consulted (another machine's inventory); no scratch beyond the files); "
        "200.0 GB free under /models"
    )
    assert big.json()["download"]["total_bytes"] == sum(GGUF_Q4_SHARDS)


def test_the_xet_chunk_cache_is_added_to_the_disk_need(cli, write_inventory, fake_hub, monkeypatch):
    monkeypatch.setenv("HF_XET_CHUNK_CACHE_SIZE_BYTES", str(10 * 10**9))
    args = ("--require", "deepseek-v4-flash:q4", "--repo", GGUF, "--include", "UD-Q4_K_XL/*", "--model-dir", "/m")
    result = check(cli, write_inventory, gpus_of(71895), *args, "-q", disks=[disk("/m", 160)])
    assert result.out == "no: deepseek-v4-flash q4 needs 165.0 GB of disk for its download, 160.0 GB free under /m\n"


def test_files_in_this_machines_cache_do_not_count_again(cli, write_inventory, fake_hub, tmp_path):
    cache = tmp_path / "hf-cache"
    huggingface_hub.hf_hub_download(
        "tiny/Tiny-GGUF", "Q4_K_M/tiny-Q4_K_M-00001-of-00002.gguf", cache_dir=str(cache), endpoint=fake_hub.url
    )
    room = [{"path": str(cache), "kind": "nvme", "total_bytes": 10**6, "free_bytes": 5000}]
    args = ("--repo", "tiny/Tiny-GGUF", "--include", "Q4_K_M/*", "--json")
    here = check(cli, write_inventory, gpus_of(71895), *args, disks=room, hostname=socket.gethostname())
    assert here.code == 0
    assert here.json()["download"]["download_bytes"] == 2048  # 6144 bytes in all, 4096 of them cached here
    elsewhere = check(cli, write_inventory, gpus_of(71895), *args, disks=room, hostname="another-node")
    assert elsewhere.code == 1  # 6144 bytes do not fit in 5000: that node's cache is not this one
    assert elsewhere.json()["download"]["local_consulted"] is False


def test_a_gated_repo_uses_the_users_token(cli, write_inventory, fake_hub):
    args = ("--repo", "acme/Gated-32B", "--quiet")
    refused = check(cli, write_inventory, gpus_of(71895), *args)
    assert refused.code == 2 and refused.out == ""
    assert refused.err.count("\n") == 1 and "acme/Gated-32B is gated" in refused.err
    allowed = check(cli, write_inventory, gpus_of(71895), *args, env={"HF_TOKEN": VALID_TOKEN})
    assert allowed.code == 0 and allowed.out.startswith("ok: acme/Gated-32B ")


@pytest.mark.parametrize(
    ("args", "env", "fragment"),
    [
        (["--repo", "nobody/nothing"], {}, "nobody/nothing was not found on http://127.0.0.1:"),
        (["--repo", "not-a-repo"], {}, "--repo 'not-a-repo': expected ORG/NAME"),
        (["--repo", GGUF, "--revision", "v9"], {}, f"{GGUF} has no revision 'v9'"),
        (["--repo", GGUF, "--include", "Q9/*"], {}, "no file matches --include 'Q9/*'"),
        (["--repo", "acme/Slow-32B"], {"VRAM_ADVISOR_HUB_TIMEOUT": "1"}, "did not answer within 1 s"),
        (["--repo", GGUF], {"HF_HUB_OFFLINE": "1"}, "HF_HUB_OFFLINE=1 and the local Hugging Face cache"),
        (["--include", "UD-Q2_K_XL/*"], {}, "--revision and --include need --repo ORG/NAME"),
        (["--model", "deepseek-v4-flash", "--base"], {}, "--model and --base cannot be combined"),
        (["--model", "deepseek-v9"], {}, "unknown model 'deepseek-v9'"),
    ],
)
def test_hub_and_usage_errors_are_one_line_exit_2(cli, write_inventory, fake_hub, args, env, fragment):
    for mode in ("--quiet", "--json"):
        result = check(cli, write_inventory, gpus_of(71895), *args, mode, env=env)
        assert result.code == 2, result
        assert result.out == ""
        lines = result.err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("vram-advisor: error: ") and "Traceback" not in result.err
        assert fragment in lines[0]


# ------------------------------------------------------------------------------------------------ spinner


TERMINAL = {"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1"}


def test_the_spinner_is_on_stderr_and_only_in_the_human_view(cli, write_inventory, fake_hub):
    args = ("--repo", GGUF, "--include", "UD-Q2_K_XL/*")
    human = check(cli, write_inventory, gpus_of(71895), *args, env=TERMINAL)
    assert human.code == 0
    assert f"asking {fake_hub.url} about {GGUF}" in human.err
    assert "asking" not in human.out
    for quiet_mode in ("--json", "--quiet"):
        result = check(cli, write_inventory, gpus_of(71895), *args, quiet_mode, env=TERMINAL)
        assert result.code == 0
        assert result.err == ""
        assert "asking" not in result.out
    assert json.loads(check(cli, write_inventory, gpus_of(71895), *args, "--json", env=TERMINAL).out)["download"]


def test_no_spinner_when_stderr_is_not_a_terminal(cli, write_inventory, fake_hub):
    result = check(cli, write_inventory, gpus_of(71895), "--repo", GGUF, "--include", "UD-Q2_K_XL/*")
    assert result.code == 0 and result.err == ""
