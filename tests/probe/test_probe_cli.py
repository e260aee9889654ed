"""End to end: ``probe --json``, ``check --json`` and ``doctor`` on fake drivers and fake machine trees.

nvidia-ml-py's real wrappers run against ``fake_nvml``; /proc and /sys come from a folder tree (``fake_machine``)
that ``vram_advisor.probe.DEFAULT_ROOT`` points at, so RAM and the container limit are known exactly.
"""

from __future__ import annotations

import json

import pytest
from fake_machine import GIB, machine, nvme_disk, write
from fake_nvml import (
    A100_MIG_INSTANCES,
    DRIVER_NOT_LOADED,
    GB10_MEMAVAILABLE_KB,
    GB10_MEMTOTAL_KB,
    LIB_RM_VERSION_MISMATCH,
    MIB,
    NO_PERMISSION,
    UNKNOWN,
    a100_mig,
    eight_h100,
    gb10,
    h100,
    install,
    install_without_library,
    lost_gpu,
    old_driver_a100,
    rtx4090_beside_3090,
)

import vram_advisor.probe
from vram_advisor.core.policy import os_reserve_bytes

H100_CAPACITY = (81559 - 480) * MIB


@pytest.fixture
def root(tmp_path, monkeypatch):
    """A host with 512 GiB of RAM, no container limit, / on NVMe."""
    machine(tmp_path)
    nvme_disk(tmp_path)
    monkeypatch.setattr(vram_advisor.probe, "DEFAULT_ROOT", tmp_path)
    return tmp_path


def held_warnings(document: dict) -> list[str]:
    """The "other processes hold GPU memory" warnings (the estimates add warnings of their own)."""
    return [w for w in document["warnings"] if w.startswith("other processes hold")]


def check(cli, *args: str, env: dict[str, str | None] | None = None) -> dict:
    result = cli(["check", "--json", *args], env=env)
    assert result.code == 0, result.err
    return result.json()


# ---------------------------------------------------------------------------------------------------- probe


def test_probe_json_eight_h100(cli, monkeypatch, root):
    driver = install(monkeypatch, eight_h100())
    result = cli(["probe", "--json"])
    assert result.code == 0, result.err
    document = result.json()
    assert document["probe"]["nvml"] == "ok"
    assert document["probe"]["driver_version"] == "580.105.08"
    assert document["probe"]["cuda_driver_version"] == "13.0"
    assert [g["uuid"] for g in document["gpus"]] == [g.uuid for g in driver.gpus]
    first = document["gpus"][0]
    assert first["memory_total_bytes"] == 81559 * MIB and first["memory_reserved_bytes"] == 480 * MIB
    assert first["compute_capability"] == "9.0" and first["nvlink"] is True and first["visible"] is True
    assert document["interconnect"] == ["nvlink"]
    assert document["ram"]["total_bytes"] == 512 * GIB
    assert document["disks"][0]["kind"] == "nvme" and document["disks"][0]["model_dir"] is True
    assert driver.calls.count("nvmlInitWithFlags") == 1 and driver.calls.count("nvmlShutdown") == 1


def test_probe_lists_every_gpu_and_marks_the_visible_ones(cli, monkeypatch, root):
    install(monkeypatch, eight_h100())
    gpus = cli(["probe", "--json"], env={"CUDA_VISIBLE_DEVICES": "2,5"}).json()["gpus"]
    assert len(gpus) == 8
    assert [g["index"] for g in gpus if g["visible"]] == [2, 5]
    gpus = cli(["probe", "--json", "--all-gpus"], env={"CUDA_VISIBLE_DEVICES": "2,5"}).json()["gpus"]
    assert all(g["visible"] for g in gpus)


def test_probe_human_view(cli, monkeypatch, root):
    install(monkeypatch, rtx4090_beside_3090())
    result = cli(["probe"], env={"CUDA_VISIBLE_DEVICES": "0", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"})
    assert result.code == 0, result.err
    text = " ".join(result.out.split())  # the table wraps long names
    assert "RTX 3090" in text and "RTX 4090" in text
    assert "planning on 1 of 2 NVIDIA GPUs (GPU 0)" in text


def test_probe_output_loads_back_into_check(cli, monkeypatch, root, tmp_path):
    install(monkeypatch, a100_mig(second_gpu=True))
    saved = tmp_path / "node.json"
    saved.write_text(cli(["probe", "--json"]).out)
    install_without_library(monkeypatch)  # check reads the file, not the machine
    document = check(cli, "--inventory", str(saved))
    assert document["usable_vram_bytes"] == A100_MIG_INSTANCES[0].total_mib * MIB
    other = check(cli, "--inventory", str(saved), env={"CUDA_VISIBLE_DEVICES": A100_MIG_INSTANCES[2].uuid})
    assert other["usable_vram_bytes"] == A100_MIG_INSTANCES[2].total_mib * MIB


# ---------------------------------------------------------------------------------------------------- check


def test_check_eight_h100_agrees_with_the_what_if_card(cli, monkeypatch, root):
    install(monkeypatch, eight_h100())
    probed = check(cli)
    assert probed["usable_vram_bytes"] == 8 * H100_CAPACITY
    what_if = check(cli, "--gpus", "8xH100-80GB")
    assert probed["usable_vram_bytes"] == what_if["usable_vram_bytes"]
    probed_speed = probed["recommendation"].pop("decode_tokens_per_s")
    what_if_speed = what_if["recommendation"].pop("decode_tokens_per_s")
    assert probed["recommendation"] == what_if["recommendation"]
    # NVML's bus width x clock and the card index's rated bandwidth differ by a hair; the estimate does not
    assert probed_speed["estimate"] == pytest.approx(what_if_speed["estimate"], rel=0.01)
    assert probed["tier"] == what_if["tier"]
    assert probed["graded_on"] == "capacity" and held_warnings(probed) == []


def test_check_respects_cuda_visible_devices(cli, monkeypatch, root):
    install(monkeypatch, eight_h100())
    document = check(cli, env={"CUDA_VISIBLE_DEVICES": "0,1"})
    assert document["usable_vram_bytes"] == 2 * H100_CAPACITY
    assert document["visible_gpus"] == [0, 1]
    assert any("planning on 2 of 8 NVIDIA GPUs" in note for note in document["notes"])
    assert check(cli, env={"CUDA_VISIBLE_DEVICES": ""})["usable_vram_bytes"] == 0


def test_check_4090_beside_3090_ordinals(cli, monkeypatch, root):
    install(monkeypatch, rtx4090_beside_3090())
    fastest = check(cli, env={"CUDA_VISIBLE_DEVICES": "0"})
    assert fastest["usable_vram_bytes"] == 24564 * MIB  # CUDA 0 is the 4090 by default
    assert any("CUDA_DEVICE_ORDER is not PCI_BUS_ID" in note for note in fastest["notes"])
    pci = check(cli, env={"CUDA_VISIBLE_DEVICES": "0", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"})
    assert pci["usable_vram_bytes"] == 24576 * MIB
    both = check(cli, env={"CUDA_VISIBLE_DEVICES": None, "CUDA_DEVICE_ORDER": None})
    assert both["usable_vram_bytes"] == (24576 + 24564) * MIB


def test_check_old_driver(cli, monkeypatch, root):
    install(monkeypatch, old_driver_a100())
    document = check(cli)
    assert document["usable_vram_bytes"] == 40536 * MIB
    assert any("lacks nvmlDeviceGetMemoryInfo_v2" in note for note in document["notes"])


def test_check_mig(cli, monkeypatch, root):
    install(monkeypatch, a100_mig(second_gpu=True))
    document = check(cli)
    assert document["usable_vram_bytes"] == 19968 * MIB
    assert document["visible_gpus"] == [0]
    assert any("sees one MIG device" in note for note in document["notes"])
    chosen = check(cli, env={"CUDA_VISIBLE_DEVICES": A100_MIG_INSTANCES[1].uuid})
    assert chosen["usable_vram_bytes"] == 9856 * MIB
    plain = check(cli, env={"CUDA_VISIBLE_DEVICES": "0"})  # CUDA 0 is the A100 that is not in MIG mode
    assert plain["usable_vram_bytes"] == (40960 - 518) * MIB


def test_check_gb10_counts_the_shared_ram_once(cli, monkeypatch, tmp_path):
    machine(tmp_path, total_kb=GB10_MEMTOTAL_KB, available_kb=GB10_MEMAVAILABLE_KB)
    monkeypatch.setattr(vram_advisor.probe, "DEFAULT_ROOT", tmp_path)
    install(monkeypatch, gb10())
    document = check(cli)
    ram = GB10_MEMTOTAL_KB * 1024
    assert document["usable_vram_bytes"] == ram - os_reserve_bytes(ram)
    assert document["spare_ram_bytes"] == 0
    (gpu,) = document["inventory"]["gpus"]
    assert gpu["unified"] is True and gpu["name"] == "NVIDIA GB10"


def test_check_gb10_in_a_container_uses_the_limit(cli, monkeypatch, tmp_path):
    machine(tmp_path, total_kb=GB10_MEMTOTAL_KB, available_kb=GB10_MEMAVAILABLE_KB)
    write(tmp_path, "/sys/fs/cgroup/memory.max", str(64 * GIB))
    monkeypatch.setattr(vram_advisor.probe, "DEFAULT_ROOT", tmp_path)
    install(monkeypatch, gb10())
    document = check(cli)
    assert document["usable_vram_bytes"] == 64 * GIB - os_reserve_bytes(64 * GIB)
    assert document["inventory"]["ram"]["limit_bytes"] == 64 * GIB


def test_check_with_a_lost_gpu(cli, monkeypatch, root):
    install(monkeypatch, lost_gpu())
    document = check(cli)
    assert document["usable_vram_bytes"] == (46068 - 609) * MIB
    assert any("GPU 1: GPU is lost" in note for note in document["notes"])


@pytest.mark.parametrize("code", [DRIVER_NOT_LOADED, LIB_RM_VERSION_MISMATCH, NO_PERMISSION, UNKNOWN, None])
def test_check_answers_after_each_start_failure(cli, monkeypatch, root, code):
    if code is None:
        install_without_library(monkeypatch)
    else:
        install(monkeypatch, eight_h100(init_error=code))
    result = cli(["check", "--json"])
    assert result.code == 0, result.err
    document = result.json()
    assert document["inventory"]["gpus"] == [] and document["usable_vram_bytes"] == 0
    assert any(note.startswith("NVML: ") and "no NVIDIA GPU is counted" in note for note in document["notes"])
    assert document["recommendation"]["kind"] in ("offload", "api")
    human = cli(["check"])
    assert human.code == 0 and "Traceback" not in human.err


def test_check_container_limit_bounds_offload(cli, monkeypatch, tmp_path):
    machine(tmp_path, total_kb=1024 * 1024 * 1024, available_kb=1000 * 1024 * 1024)
    write(tmp_path, "/sys/fs/cgroup/memory.max", str(32 * GIB))
    monkeypatch.setattr(vram_advisor.probe, "DEFAULT_ROOT", tmp_path)
    install_without_library(monkeypatch)
    document = check(cli)
    assert document["inventory"]["ram"]["limit_bytes"] == 32 * GIB
    assert document["spare_ram_bytes"] == 32 * GIB - os_reserve_bytes(32 * GIB)


# --------------------------------------------------------------------------------------------- free memory


def busy_h100s(used_mib: int = 60000, busy: int = 3):
    return (
        eight_h100()
        if busy == 0
        else type(eight_h100())([h100(i, used_mib=used_mib if i < busy else 0) for i in range(8)])
    )


def test_other_processes_holding_memory_are_named(cli, monkeypatch, root):
    install(monkeypatch, busy_h100s())
    document = check(cli, "--sizes", "table")
    assert document["usable_vram_bytes"] == 8 * H100_CAPACITY  # graded on capacity
    (warning,) = held_warnings(document)
    assert "GPU 0 58.6 GiB" in warning and "GPU 2 58.6 GiB" in warning and "GPU 3" not in warning
    assert document["recommendation"]["model"] in warning
    human = cli(["check", "--sizes", "table", "--details"])
    assert "warning: other processes hold" in human.out


def test_idle_gpus_give_no_warning(cli, monkeypatch, root):
    install(monkeypatch, busy_h100s(used_mib=900, busy=8))  # a little held everywhere: it still loads
    assert held_warnings(check(cli)) == []


def test_free_grades_on_free_memory(cli, monkeypatch, root):
    install(monkeypatch, busy_h100s())
    capacity = check(cli)
    free = check(cli, "--free")
    assert free["graded_on"] == "free_memory"
    assert free["usable_vram_bytes"] == 8 * H100_CAPACITY - 3 * 60000 * MIB
    assert held_warnings(free) == []
    assert free["recommendation"] != capacity["recommendation"]
    assert any(note.startswith("graded on free memory") for note in free["notes"])


def test_free_with_unknown_free_memory_falls_back_to_capacity(cli, write_inventory):
    from conftest import gpu, inventory_dict

    data = inventory_dict([gpu("NVIDIA H100 80GB HBM3", 81559, 480), gpu("NVIDIA H100 80GB HBM3", 81559, 480)])
    data["gpus"][0]["memory_free_bytes"] = 1000 * MIB
    document = check(cli, "--inventory", write_inventory(data), "--free")
    assert document["usable_vram_bytes"] == 1000 * MIB + H100_CAPACITY
    assert any("GPU 1: free memory unknown, graded on its capacity" in n for n in document["notes"])


def test_free_with_require_names_free_memory(cli, monkeypatch, root):
    install(monkeypatch, busy_h100s())
    result = cli(["check", "--json", "--free", "--require", "deepseek-v4-pro:q4"])
    assert result.code == 1
    assert "free" in result.json()["required"]["reason"]


# -------------------------------------------------------------------------------------------------- doctor


SECRETS = {
    "HF_TOKEN": "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "DB_PASSWORD": "correct-horse-battery",
    "HF_ENDPOINT": "https://alice:s3cr3t-pass@hub.example.com/api",
    "HUGGING_FACE_HUB_TOKEN": "hf_ZyXwVuTsRqPoNmLkJiHgFeDcBa9876543210",
}


def test_doctor_shows_the_raw_readings_and_no_secret(cli, monkeypatch, root):
    install(monkeypatch, eight_h100())
    write(root, "/sys/fs/cgroup/memory.max", str(64 * GIB))
    result = cli(["doctor"], env={**SECRETS, "CUDA_VISIBLE_DEVICES": "0,1"})
    assert result.code == 0, result.err
    text = result.out
    for value in ("hf_AbCdEf", "wJalrXUtnFEMI", "correct-horse", "s3cr3t-pass", "alice:", "hf_ZyXwVu"):
        assert value not in text
    assert "HF_TOKEN=<redacted>" in text and "DB_PASSWORD" not in text  # not relevant: not listed at all
    assert "HF_ENDPOINT=https://<redacted>@hub.example.com/api" in text
    assert "CUDA_VISIBLE_DEVICES=0,1" in text and "CUDA_DEVICE_ORDER=(not set)" in text
    assert "nvmlDeviceGetMemoryInfo_v2(gpu 7) -> " in text
    assert "nvmlSystemGetDriverVersion() -> 580.105.08" in text
    assert "read /sys/fs/cgroup/memory.max -> 68719476736" in text
    assert "[inventory: what check plans on]" in text


def test_doctor_json(cli, monkeypatch, root):
    install(monkeypatch, FakeErrors.h100_without_bus_width())
    result = cli(["doctor", "--json"], env=SECRETS)
    assert result.code == 0, result.err
    report = result.json()
    assert report["schema"] == "vram-advisor/doctor/v1"
    flat = json.dumps(report)
    for value in SECRETS.values():
        assert value not in flat
    errors = [c for c in report["calls"] if c["source"] == "nvml" and "error" in c]
    assert any(c["call"] == "nvmlDeviceGetMemoryBusWidth(gpu 0)" and "NotSupported" in c["error"] for c in errors)
    assert report["environment"]["HF_TOKEN"] == "<redacted>"
    assert len(report["inventory"]["gpus"]) == 1


def test_doctor_after_a_start_failure(cli, monkeypatch, root):
    install(monkeypatch, eight_h100(init_error=LIB_RM_VERSION_MISMATCH))
    result = cli(["doctor"])
    assert result.code == 0
    assert "nvmlInit() -> error NVMLError_LibRmVersionMismatch" in result.out
    assert "reboot" in result.out


class FakeErrors:
    @staticmethod
    def h100_without_bus_width():
        from fake_nvml import NOT_SUPPORTED, FakeDriver

        return FakeDriver([h100(0, errors={"nvmlDeviceGetMemoryBusWidth": NOT_SUPPORTED})])
