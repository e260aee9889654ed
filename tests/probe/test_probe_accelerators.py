"""AMD, Intel and Apple backends, the backend guard, and the interconnect, on fake sysfs trees and sysctl readers."""

from __future__ import annotations

import sys
import types

import pytest
from fake_machine import GIB, link, machine, write

from vram_advisor.inventory.model import Gpu
from vram_advisor.plan.rules import machine_of
from vram_advisor.probe import collect_inventory, interconnect
from vram_advisor.probe.accelerators.amd import AmdBackend
from vram_advisor.probe.accelerators.apple import AppleBackend
from vram_advisor.probe.accelerators.intel import IntelBackend
from vram_advisor.probe.backend import AcceleratorReading
from vram_advisor.probe.context import ProbeContext
from vram_advisor.probe.trace import Trace

MI300X_VRAM = 206141652992  # rocm-smi "VRAM Total Memory (B)", = 196592 MiB


def context(root, platform: str = "linux", ram: int | None = None) -> ProbeContext:
    return ProbeContext(root=root, environ={}, platform=platform, trace=Trace(enabled=True), ram_effective_bytes=ram)


def drm_card(root, card: str, bus: str, vendor: str, device: str, files: dict[str, str], driver: str) -> str:
    pci = f"/sys/devices/pci0000:00/0000:00:01.0/{bus}"
    link(root, f"/sys/class/drm/{card}", f"{pci}/drm/{card}")
    link(root, f"/sys/devices/pci0000:00/0000:00:01.0/{bus}/drm/{card}/device", pci)
    link(root, f"{pci}/driver", f"/sys/bus/pci/drivers/{driver}")
    write(root, f"{pci}/vendor", vendor)
    write(root, f"{pci}/device", device)
    for name, text in files.items():
        write(root, f"{pci}/{name}", text)
    return pci


def no_amdsmi(monkeypatch):
    monkeypatch.setitem(sys.modules, "amdsmi", None)  # import amdsmi raises ImportError


# ------------------------------------------------------------------------------------------------------ AMD


def test_amd_mi300x_from_sysfs(tmp_path, monkeypatch):
    no_amdsmi(monkeypatch)
    for i, bus in enumerate(("0000:05:00.0", "0000:26:00.0")):
        drm_card(
            tmp_path,
            f"card{i}",
            bus,
            "0x1002",
            "0x74a1",
            {"mem_info_vram_total": str(MI300X_VRAM), "mem_info_vram_used": str(GIB)},
            "amdgpu",
        )
    link(tmp_path, "/sys/class/drm/card0-DP-1", "/sys/devices/virtual/drm/card0-DP-1")
    link(tmp_path, "/sys/class/drm/renderD128", "/sys/devices/virtual/drm/renderD128")
    reading = AmdBackend().read(context(tmp_path))
    assert reading.status == "ok"
    assert [g.memory_total_bytes for g in reading.gpus] == [MI300X_VRAM, MI300X_VRAM]
    assert [g.pci_bus_id for g in reading.gpus] == ["0000:05:00.0", "0000:26:00.0"]
    first = reading.gpus[0]
    assert first.vendor == "amd" and first.memory_free_bytes == MI300X_VRAM - GIB
    assert first.name == "AMD GPU [1002:74a1]"
    assert any("mem_info_vram_total" in n and "amdsmi not usable" in n for n in first.notes)


def test_amd_apu_without_vram_size_is_not_counted(tmp_path, monkeypatch):
    no_amdsmi(monkeypatch)
    drm_card(tmp_path, "card0", "0000:02:00.0", "0x1002", "0x74a0", {}, "amdgpu")
    reading = AmdBackend().read(context(tmp_path))
    assert reading.gpus == ()
    assert any("reports no VRAM size" in n for n in reading.notes)


def test_amdsmi_is_used_when_it_imports(tmp_path, monkeypatch):
    drm_card(tmp_path, "card0", "0000:05:00.0", "0x1002", "0x74a1", {"mem_info_vram_total": "1"}, "amdgpu")
    calls: list[str] = []

    def record(name, value):
        def function(*args):
            calls.append(name)
            return value

        return function

    fake = types.SimpleNamespace(
        AmdSmiInitFlags=types.SimpleNamespace(INIT_AMD_GPUS=2),
        AmdSmiMemoryType=types.SimpleNamespace(VRAM=0),
        amdsmi_init=record("init", None),
        amdsmi_shut_down=record("shut_down", None),
        amdsmi_get_processor_handles=record("handles", ["h0"]),
        amdsmi_get_gpu_memory_total=record("total", MI300X_VRAM),
        amdsmi_get_gpu_memory_usage=record("usage", 2 * GIB),
        amdsmi_get_gpu_asic_info=record("asic", {"market_name": "AMD Instinct MI300X"}),
        amdsmi_get_gpu_device_bdf=record("bdf", "0000:05:00.0"),
        amdsmi_get_gpu_device_uuid=record("uuid", "GPU-amd-0"),
    )
    monkeypatch.setitem(sys.modules, "amdsmi", fake)
    (gpu,) = AmdBackend().read(context(tmp_path)).gpus
    assert (gpu.name, gpu.memory_total_bytes, gpu.memory_free_bytes) == (
        "AMD Instinct MI300X",
        MI300X_VRAM,
        MI300X_VRAM - 2 * GIB,
    )
    assert calls[0] == "init" and calls[-1] == "shut_down"


def test_amdsmi_that_prints_and_raises_on_import_falls_back_to_sysfs(tmp_path, monkeypatch, capsys):
    drm_card(tmp_path, "card0", "0000:05:00.0", "0x1002", "0x74a1", {"mem_info_vram_total": str(MI300X_VRAM)}, "amdgpu")
    # without libamd_smi.so, importing amdsmi prints to stdout and raises KeyError (hardware-probing.md §6)
    monkeypatch.setattr("builtins.__import__", _importer_raising("amdsmi", KeyError("libamd_smi.so")))
    (gpu,) = AmdBackend().read(context(tmp_path)).gpus
    assert gpu.memory_total_bytes == MI300X_VRAM
    assert "KeyError" in gpu.notes[0]
    assert capsys.readouterr().out == ""  # stdout carries only results


def _importer_raising(target: str, error: Exception):
    real = __import__

    def importer(name, *args, **kwargs):
        if name == target:
            print("amdsmi: Failed to load libamd_smi.so")
            raise error
        return real(name, *args, **kwargs)

    return importer


def test_no_amd_gpu_is_absent_and_never_imports_amdsmi(tmp_path, monkeypatch):
    drm_card(tmp_path, "card0", "0000:00:02.0", "0x8086", "0x46a6", {}, "i915")
    monkeypatch.setattr("builtins.__import__", _importer_raising("amdsmi", AssertionError("imported amdsmi")))
    assert AmdBackend().read(context(tmp_path)).status == "absent"


# ---------------------------------------------------------------------------------------------------- Intel


def test_intel_xe_tiles_are_summed_and_the_igpu_skipped(tmp_path):
    drm_card(tmp_path, "card0", "0000:00:02.0", "0x8086", "0xa7a0", {}, "i915")  # integrated
    drm_card(
        tmp_path,
        "card1",
        "0000:3a:00.0",
        "0x8086",
        "0x0bd5",
        {"tile0/physical_vram_size_bytes": str(64 * GIB), "tile1/physical_vram_size_bytes": str(64 * GIB)},
        "xe",
    )
    (gpu,) = IntelBackend().read(context(tmp_path)).gpus
    assert gpu.memory_total_bytes == 128 * GIB and gpu.vendor == "intel" and gpu.pci_bus_id == "0000:3a:00.0"
    assert "2 tile(s)" in gpu.notes[0] and "driver xe" in gpu.notes[0]


def test_intel_i915_local_memory(tmp_path):
    pci = drm_card(tmp_path, "card0", "0000:03:00.0", "0x8086", "0x56a0", {}, "i915")
    write(tmp_path, f"{pci}/drm/card0/lmem_total_bytes", str(16 * GIB))
    (gpu,) = IntelBackend().read(context(tmp_path)).gpus
    assert gpu.memory_total_bytes == 16 * GIB and "lmem_total_bytes" in gpu.notes[0]


# ---------------------------------------------------------------------------------------------------- Apple


def apple(values: dict[str, str], metal: int | None = None) -> AppleBackend:
    return AppleBackend(sysctl=values.get, metal=lambda: metal)


M2_ULTRA = {"hw.optional.arm64": "1", "machdep.cpu.brand_string": "Apple M2 Ultra", "hw.memsize": str(192 * GIB)}


def test_apple_wired_limit_sets_the_budget(tmp_path):
    backend = apple({**M2_ULTRA, "iogpu.wired_limit_mb": str(180 * 1024)})
    (gpu,) = backend.read(context(tmp_path, "darwin")).gpus
    assert gpu.unified is True and gpu.vendor == "apple" and gpu.name == "Apple M2 Ultra GPU"
    assert gpu.memory_total_bytes == 180 * GIB
    assert "iogpu.wired_limit_mb=184320" in gpu.notes[0]


def test_apple_metal_figure_wins(tmp_path):
    backend = apple({**M2_ULTRA, "iogpu.wired_limit_mb": "0"}, metal=int(107.52 * GIB))
    (gpu,) = backend.read(context(tmp_path, "darwin")).gpus
    assert gpu.memory_total_bytes == int(107.52 * GIB) and "recommendedMaxWorkingSetSize" in gpu.notes[0]


@pytest.mark.parametrize(("ram_gib", "share"), [(16, (2, 3)), (36, (2, 3)), (64, (3, 4)), (192, (3, 4))])
def test_apple_default_is_a_labelled_conservative_estimate(tmp_path, ram_gib, share):
    backend = apple({**M2_ULTRA, "hw.memsize": str(ram_gib * GIB), "iogpu.wired_limit_mb": "0"})
    (gpu,) = backend.read(context(tmp_path, "darwin")).gpus
    assert gpu.memory_total_bytes == ram_gib * GIB * share[0] // share[1]
    assert "is an estimate" in gpu.notes[0]


def test_intel_mac_and_linux_have_no_apple_gpu(tmp_path):
    assert apple({**M2_ULTRA, "hw.optional.arm64": "0"}).read(context(tmp_path, "darwin")).gpus == ()
    assert apple(M2_ULTRA).read(context(tmp_path, "linux")).status == "absent"


def test_apple_budget_is_never_counted_twice(tmp_path):
    inventory = collect_inventory(
        "/", root=tmp_path, platform="darwin", environ={}, backends=(apple({**M2_ULTRA, "iogpu.wired_limit_mb": "0"}),)
    )
    (gpu,) = inventory.gpus
    planned = machine_of(inventory)
    assert planned.usable_vram_bytes == gpu.memory_total_bytes and planned.spare_ram_bytes == 0


# ---------------------------------------------------------------------------------------------------- guard


class Exploding:
    name = "exploding"

    def read(self, context: ProbeContext) -> AcceleratorReading:
        raise RuntimeError("a bug in a backend")


class OneGpu:
    name = "fake"

    def read(self, context: ProbeContext) -> AcceleratorReading:
        return AcceleratorReading("fake", "ok", (Gpu(name="Fake GPU", memory_total_bytes=GIB, vendor="intel"),))


def test_a_backend_that_raises_becomes_a_note_and_the_others_report(tmp_path):
    machine(tmp_path)
    inventory = collect_inventory("/", root=tmp_path, environ={}, platform="linux", backends=(Exploding(), OneGpu()))
    assert [g.name for g in inventory.gpus] == ["Fake GPU"]
    assert any("exploding: the probe failed (RuntimeError: a bug in a backend)" in n for n in inventory.notes)


# ---------------------------------------------------------------------------------------------- interconnect


def test_active_rdma_ports_and_nvlink(tmp_path):
    for device, layer, state in (
        ("mlx5_0", "InfiniBand", "4: ACTIVE"),
        ("mlx5_1", "Ethernet", "4: ACTIVE"),
        ("mlx5_2", "InfiniBand", "1: DOWN"),
    ):
        write(tmp_path, f"/sys/class/infiniband/{device}/ports/1/link_layer", layer)
        write(tmp_path, f"/sys/class/infiniband/{device}/ports/1/state", state)
    gpus = [Gpu(name="x", memory_total_bytes=1, nvlink=True)]
    assert interconnect.read_interconnect(context(tmp_path), gpus) == ("nvlink", "infiniband:mlx5_0", "roce:mlx5_1")
    assert interconnect.read_interconnect(context(tmp_path / "none"), []) == ()
