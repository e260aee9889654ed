"""The real probe on a real NVIDIA driver (``-m gpu``); skipped where NVML does not start."""

from __future__ import annotations

import pytest

pynvml = pytest.importorskip("pynvml")


def _nvml_works() -> bool:
    try:
        pynvml.nvmlInit()
    except Exception:
        return False
    pynvml.nvmlShutdown()
    return True


pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not _nvml_works(), reason="no working NVIDIA driver (NVML does not start)"),
]


def test_real_probe_matches_nvml():
    from vram_advisor.probe import collect_inventory

    pynvml.nvmlInit()
    try:
        count = pynvml.nvmlDeviceGetCount()
        totals = []
        for i in range(count):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            try:
                totals.append(int(pynvml.nvmlDeviceGetMemoryInfo(handle).total))
            except pynvml.NVMLError:
                totals.append(None)
    finally:
        pynvml.nvmlShutdown()
    inventory = collect_inventory()
    assert inventory.probe is not None and inventory.probe.nvml == "ok"
    assert inventory.probe.driver_version
    nvidia = [g for g in inventory.gpus if g.vendor == "nvidia"]
    assert len(nvidia) == count
    for gpu, total in zip(nvidia, totals, strict=True):
        assert gpu.uuid and gpu.uuid.startswith("GPU-")
        assert gpu.compute_capability
        if total is not None and not gpu.unified:
            assert gpu.memory_total_bytes == total
            assert gpu.memory_reserved_bytes is None or gpu.memory_reserved_bytes < gpu.memory_total_bytes
        else:
            assert gpu.unified and gpu.memory_total_bytes > 0


def test_real_check_answers(cli):
    result = cli(["check", "--json"])
    assert result.code == 0, result.err
    assert result.json()["usable_vram_bytes"] > 0
