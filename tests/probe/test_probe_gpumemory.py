"""``verify``'s GPU memory reading (``probe.gpumemory``) through nvidia-ml-py's real wrappers and a fake driver."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fake_nvml import MIB, eight_h100, install, install_without_library

from vram_advisor.probe.gpumemory import used_bytes


def test_each_gpus_memory_in_use_is_read_in_device_order(monkeypatch: pytest.MonkeyPatch) -> None:
    driver = eight_h100()
    driver.gpus = [replace(gpu, used_mib=1000 * index) for index, gpu in enumerate(driver.gpus)]
    install(monkeypatch, driver)
    found = used_bytes()
    assert found is not None and len(found) == 8
    # NVML's v1 "used" counts the driver's reserved memory too
    assert [value - found[0] for value in found] == [1000 * index * MIB for index in range(8)]


def test_no_driver_or_a_lost_gpu_is_no_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    install_without_library(monkeypatch)
    assert used_bytes() is None
    driver = eight_h100()
    driver.gpus[3] = replace(driver.gpus[3], lost="handle")
    install(monkeypatch, driver)
    assert used_bytes() is None
