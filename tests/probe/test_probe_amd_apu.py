"""AMD APUs (issue 21 item 5): the probe reads the GTT from a sysfs folder tree and plans the APU as unified memory;
discrete cards with a GTT file stay discrete; an iGPU beside a discrete GPU is not counted; the what-ifs."""

from __future__ import annotations

import sys
import types

import pytest
from fake_machine import GIB, link, machine, write

from vram_advisor.inventory import apu, whatif
from vram_advisor.inventory.model import Inventory, Ram, dumps
from vram_advisor.plan.rules import machine_of
from vram_advisor.probe import collect_inventory
from vram_advisor.probe.accelerators.amd import AmdBackend
from vram_advisor.probe.context import ProbeContext
from vram_advisor.probe.trace import Trace

MIB = 1024**2
#: Strix Halo set to the BIOS's 512 MiB carve-out with a 96 GiB GTT: ROCm/hip #3892 reads mem_info_gtt_total
#: 103079215104 on a 128 GB Ryzen AI Max+ 395 (vLLM PR #54776: 512 MiB carve-out, ~94 GiB of GTT).
CARVE_OUT = 512 * MIB
GTT_96 = 103079215104
#: MemTotal of a 128 GB machine with a 512 MiB carve-out, less the firmware's share (kB): about 124.5 GiB.
STRIX_MEMTOTAL_KB = 130_560_000


def amd_card(root, card: str, bus: str, device: str, files: dict[str, str], gc: tuple[int, int, int] | None = None):
    """/sys/class/drm/cardN -> an amdgpu PCI device with ``files`` and, when given, its IP-discovery GC version."""
    pci = f"/sys/devices/pci0000:00/0000:00:08.1/{bus}"
    link(root, f"/sys/class/drm/{card}", f"{pci}/drm/{card}")
    link(root, f"{pci}/drm/{card}/device", pci)
    link(root, f"{pci}/driver", "/sys/bus/pci/drivers/amdgpu")
    link(root, f"/sys/bus/pci/devices/{bus}", pci)
    files = {"vendor": "0x1002", "device": device, "class": "0x038000", **files}
    for name, text in files.items():
        write(root, f"{pci}/{name}", text)
    if gc is not None:
        gc_dir = f"{pci}/ip_discovery/die/0/11/0"  # GC_HWID = 11, with the "GC" link beside it (amdgpu_discovery.c)
        for name, value in zip(("major", "minor", "revision"), gc, strict=True):
            write(root, f"{gc_dir}/{name}", f"{value}\n")
        link(root, f"{pci}/ip_discovery/die/0/GC", f"{pci}/ip_discovery/die/0/11")
    return pci


def nvidia_card(root, bus: str = "0000:01:00.0") -> None:
    """An NVIDIA card on the PCI bus only (no nvidia-drm, so no /sys/class/drm entry)."""
    pci = f"/sys/devices/pci0000:00/0000:00:01.1/{bus}"
    link(root, f"/sys/bus/pci/devices/{bus}", pci)
    write(root, f"{pci}/vendor", "0x10de")
    write(root, f"{pci}/class", "0x030000")
    write(root, f"{pci}/device", "0x2684")


def strix_halo(root, gtt: int = GTT_96, **kwargs) -> None:
    amd_card(
        root,
        "card1",
        "0000:c5:00.0",
        "0x1586",
        {"mem_info_vram_total": str(CARVE_OUT), "mem_info_vram_used": str(100 * MIB), "mem_info_gtt_total": str(gtt)},
        gc=(11, 5, 1),
        **kwargs,
    )


def probe(root, monkeypatch) -> Inventory:
    monkeypatch.setitem(sys.modules, "amdsmi", None)  # import amdsmi raises ImportError: the sysfs path
    return collect_inventory("/", root=root, platform="linux", environ={}, backends=(AmdBackend(),))


def reading(root, monkeypatch, ram: int | None = None):
    monkeypatch.setitem(sys.modules, "amdsmi", None)
    context = ProbeContext(root=root, environ={}, platform="linux", trace=Trace(enabled=True), ram_effective_bytes=ram)
    return AmdBackend().read(context)


# ---------------------------------------------------------------------------------------------------- probe


def test_strix_halo_from_sysfs_is_unified_with_its_gtt(tmp_path, monkeypatch):
    machine(tmp_path, total_kb=STRIX_MEMTOTAL_KB, available_kb=STRIX_MEMTOTAL_KB - 4_000_000)
    strix_halo(tmp_path)
    inventory = probe(tmp_path, monkeypatch)
    (gpu,) = inventory.gpus
    assert gpu.unified and gpu.vendor == "amd"
    assert gpu.memory_total_bytes == GTT_96  # 96 GiB, not the 0.5 GiB carve-out
    assert "Strix Halo" in gpu.name  # the engines table matches it (ds4's make strix-halo)
    assert any("GC 11.5.1" in n and "96.0 GiB GTT" in n for n in gpu.notes)
    planned = machine_of(inventory)
    assert planned.unified and planned.usable_vram_bytes == GTT_96
    assert planned.spare_ram_bytes == 0  # the GTT is that RAM: never counted twice


def test_a_gtt_above_the_ram_is_capped_at_the_ram_less_the_os_reserve(tmp_path, monkeypatch):
    ram = 124 * GIB
    strix_halo(tmp_path, gtt=124 * GIB)  # ttm.pages_limit raised to the whole RAM
    (gpu,) = reading(tmp_path, monkeypatch, ram=ram).gpus
    assert gpu.memory_total_bytes == ram - int(ram * 0.10)  # policy: max(8 GiB, 10%)
    assert any("capped" in n for n in gpu.notes)


def test_a_large_bios_carve_out_is_the_budget_when_it_is_the_larger_pool(tmp_path, monkeypatch):
    # BIOS set to 96 GiB of VRAM: the GTT is half the RAM left; ROCm then allocates in VRAM (no apu_prefer_gtt)
    amd_card(
        tmp_path,
        "card0",
        "0000:c5:00.0",
        "0x1586",
        {"mem_info_vram_total": str(96 * GIB), "mem_info_gtt_total": str(15 * GIB)},
        gc=(11, 5, 1),
    )
    (gpu,) = reading(tmp_path, monkeypatch, ram=31 * GIB).gpus
    assert gpu.unified and gpu.memory_total_bytes == 96 * GIB


@pytest.mark.parametrize(
    ("device", "gc", "vram"),
    [
        ("0x1586", None, 4 * GIB),  # known PCI id, no IP-discovery folder (older kernel)
        ("0x150e", (11, 5, 0), 4 * GIB),  # Strix Point by its GC version alone
        ("0x9999", None, CARVE_OUT),  # an unknown APU: the 512 MiB carve-out beside a larger GTT
    ],
)
def test_each_apu_signal_alone_makes_it_unified(tmp_path, monkeypatch, device, gc, vram):
    amd_card(
        tmp_path,
        "card0",
        "0000:c5:00.0",
        device,
        {"mem_info_vram_total": str(vram), "mem_info_gtt_total": str(GTT_96)},
        gc,
    )
    (gpu,) = reading(tmp_path, monkeypatch).gpus
    assert gpu.unified and gpu.memory_total_bytes == GTT_96


def test_a_discrete_card_with_a_gtt_file_stays_discrete(tmp_path, monkeypatch):
    # RX 7900 XTX (GC 11.0.0): its GTT (half the RAM) is host memory it may map, not memory of its own
    vram = 24 * GIB
    amd_card(
        tmp_path,
        "card0",
        "0000:03:00.0",
        "0x744c",
        {"mem_info_vram_total": str(vram), "mem_info_vram_used": str(GIB), "mem_info_gtt_total": str(62 * GIB)},
        gc=(11, 0, 0),
    )
    (gpu,) = reading(tmp_path, monkeypatch).gpus
    assert not gpu.unified and gpu.memory_total_bytes == vram and gpu.memory_free_bytes == vram - GIB


def test_mi300a_without_vram_files_is_unified_with_its_gtt(tmp_path, monkeypatch):
    # the kernel hides mem_info_vram_* where no VRAM manager is in use (MI300A); the GTT is the HBM it shares
    gtt = 128 * GIB
    amd_card(tmp_path, "card0", "0000:02:00.0", "0x74a0", {"mem_info_gtt_total": str(gtt)}, gc=(9, 4, 3))
    (gpu,) = reading(tmp_path, monkeypatch, ram=256 * GIB).gpus
    assert gpu.unified and gpu.memory_total_bytes == gtt and gpu.name == "AMD Instinct MI300A"


def test_an_igpu_beside_an_nvidia_card_is_not_counted(tmp_path, monkeypatch):
    # a Ryzen desktop's Raphael iGPU (GC 10.3.6) beside an RTX 4090 that nvidia-drm does not list in /sys/class/drm
    amd_card(
        tmp_path,
        "card0",
        "0000:13:00.0",
        "0x164e",
        {"mem_info_vram_total": str(CARVE_OUT), "mem_info_gtt_total": str(31 * GIB)},
        gc=(10, 3, 6),
    )
    nvidia_card(tmp_path)
    result = reading(tmp_path, monkeypatch)
    assert result.gpus == ()
    assert any("beside a discrete GPU: not counted" in n for n in result.notes)


def test_an_igpu_beside_a_discrete_amd_card_leaves_only_the_card(tmp_path, monkeypatch):
    amd_card(
        tmp_path,
        "card0",
        "0000:03:00.0",
        "0x744c",
        {"mem_info_vram_total": str(24 * GIB), "mem_info_gtt_total": str(31 * GIB)},
        gc=(11, 0, 0),
    )
    amd_card(
        tmp_path,
        "card1",
        "0000:13:00.0",
        "0x164e",
        {"mem_info_vram_total": str(CARVE_OUT), "mem_info_gtt_total": str(31 * GIB)},
        gc=(10, 3, 6),
    )
    result = reading(tmp_path, monkeypatch)
    assert [(g.memory_total_bytes, g.unified) for g in result.gpus] == [(24 * GIB, False)]


def test_amdsmi_gtt_figure_is_used_for_an_apu(tmp_path, monkeypatch):
    amd_card(tmp_path, "card0", "0000:c5:00.0", "0x1586", {"mem_info_vram_total": str(CARVE_OUT)}, gc=(11, 5, 1))
    vram_type, gtt_type = 0, 2

    def total(handle, kind):
        return {vram_type: CARVE_OUT, gtt_type: GTT_96}[kind]

    fake = types.SimpleNamespace(
        AmdSmiInitFlags=types.SimpleNamespace(INIT_AMD_GPUS=2),
        AmdSmiMemoryType=types.SimpleNamespace(VRAM=vram_type, GTT=gtt_type),
        amdsmi_init=lambda *a: None,
        amdsmi_shut_down=lambda *a: None,
        amdsmi_get_processor_handles=lambda: ["h0"],
        amdsmi_get_gpu_memory_total=total,
        amdsmi_get_gpu_memory_usage=lambda *a: 100 * MIB,
        amdsmi_get_gpu_asic_info=lambda *a: {"market_name": "AMD Radeon Graphics"},
        amdsmi_get_gpu_device_bdf=lambda *a: "0000:c5:00.0",
        amdsmi_get_gpu_device_uuid=lambda *a: "GPU-apu",
    )
    monkeypatch.setitem(sys.modules, "amdsmi", fake)
    context = ProbeContext(root=tmp_path, environ={}, platform="linux", trace=Trace(enabled=True))
    (gpu,) = AmdBackend().read(context).gpus
    assert gpu.unified and gpu.memory_total_bytes == GTT_96 and gpu.notes[0] == "read through amdsmi"


# ---------------------------------------------------------------------------------------------------- what-ifs


@pytest.mark.parametrize(
    ("spec", "memory_gb", "budget_gib"),
    [
        ("AI-Max-395-128GB", 128, 96),  # AMD: "96GB of Variable Graphics Memory" on the 128 GB part
        ("Ryzen-AI-Max+-395-64GB", 64, 48),
        ("Strix-Halo-32GB", 32, 24),
        ("AI-Max-395-128GB:gtt=110GB", 128, 110),
    ],
)
def test_apu_whatif_is_one_unified_gpu_and_the_chip_is_the_ram(spec, memory_gb, budget_gib):
    empty = Inventory(ram=Ram(total_bytes=16 * GIB))
    machine_inventory = whatif.apply(empty, gpus=spec)
    (gpu,) = machine_inventory.gpus
    assert gpu.unified and gpu.vendor == "amd" and gpu.memory_total_bytes == budget_gib * GIB
    assert machine_inventory.ram.total_bytes == memory_gb * GIB
    assert machine_of(machine_inventory).spare_ram_bytes == 0


def test_apu_whatif_bandwidth_is_strix_halos():
    from vram_advisor.inventory.bandwidth import gpu_bandwidth

    (gpu,) = whatif.parse_gpus("AI-Max-395-128GB")
    assert gpu_bandwidth(gpu).bytes_per_s == 256 * 10**9


def test_apu_reason_needs_a_signal():
    assert apu.apu_reason((11, 0, 0), "0x744c", 24 * GIB, 62 * GIB) is None
    assert apu.apu_reason(None, None, 2 * GIB, 62 * GIB) is None  # 2 GiB could be a small discrete card


# ---------------------------------------------------------------------------------------------------- CLI


def test_cli_check_apu_whatif_json(cli):
    result = cli(["check", "--gpus", "AI-Max-395-128GB", "--json"])
    assert result.code == 0, result.err
    data = result.json()
    (gpu,) = data["inventory"]["gpus"]
    assert gpu["unified"] is True and gpu["vendor"] == "amd"
    assert data["usable_vram_bytes"] == 96 * GIB and data["spare_ram_bytes"] == 0
    assert data["inventory"]["ram"]["total_bytes"] == 128 * GIB


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("AI-Max-395", "AI-Max-395-32GB, AI-Max-395-64GB, AI-Max-395-128GB"),
        ("AI-Max-395-256GB", "say the memory of the Ryzen AI Max+ 395"),
        ("2xAI-Max-395-128GB", "an AMD APU's GPU is the whole machine's memory"),
        ("AI-Max-395-128GB,RTX3090", "an AMD APU's GPU is the whole machine's memory"),
        ("AI-Max-395-128GB:gtt=127GB", "leave the OS at least 8.0 GiB"),
        ("AI-Max-395-128GB:wired=100GB", "is not gtt=SIZE"),
    ],
)
def test_cli_bad_apu_whatif_is_one_line_and_exit_2(cli, spec, words):
    result = cli(["check", "--gpus", spec])
    assert result.code == 2 and result.out == ""
    assert len(result.err.strip().splitlines()) == 1 and words in result.err


def test_cli_check_of_a_strix_halo_probed_from_sysfs(tmp_path, monkeypatch, cli):
    machine(tmp_path, total_kb=STRIX_MEMTOTAL_KB, available_kb=STRIX_MEMTOTAL_KB - 4_000_000)
    strix_halo(tmp_path)
    saved = tmp_path / "strix.json"
    saved.write_text(dumps(probe(tmp_path, monkeypatch)), encoding="utf-8")
    result = cli(["check", "--inventory", str(saved), "--json"])
    assert result.code == 0, result.err
    data = result.json()
    assert data["usable_vram_bytes"] == GTT_96 and data["spare_ram_bytes"] == 0
    assert data["recommendation"]["placement"] == "unified"
