"""Bandwidths of the memory tiers, for the decode-speed bounds: each figure with where it came from.

* GPU: the inventory's ``memory_bandwidth_bytes_per_s``; else NVML's bus width x max memory clock x 2
  (shared/reference/hardware-probing.md §2, checked there against real readings); else a known card's figure below.
* RAM: ``--ram-bw`` (a rate or a memory setup such as ``12xDDR5-4800``); else ``DEFAULT_RAM_BANDWIDTH``. Nothing is
  measured here: a measurement would touch the machine, and only ``probe/`` does that.
* Disk: ``--disk-bw``; else the interface limit of the disk's kind (``DISK_BANDWIDTH``); unknown kinds get no figure.

Pure: reads an ``Inventory`` and strings, never the machine.
"""

from __future__ import annotations

from dataclasses import dataclass

from vram_advisor.core import units
from vram_advisor.core.errors import UsageError
from vram_advisor.core.records import Record
from vram_advisor.inventory.model import Disk, Gpu


@dataclass(frozen=True, eq=False, repr=False)
class Bandwidth(Record):
    """A bandwidth in bytes per second (None when unknown) and where the figure comes from."""

    bytes_per_s: int | None
    source: str

    def text(self) -> str:
        return f"{units.format_bandwidth(self.bytes_per_s)} ({self.source})"


#: Memory bandwidth of known cards (GB/s), keyed by ``cards.Card.key``, for GPUs the inventory gives no figure for
#: (what-if GPUs, older probes). NVML-derived figures are hardware-probing.md §2's checks of bus width x clock x 2.
CARD_BANDWIDTH_GB_S: dict[str, tuple[float, str]] = {
    "H100-80GB": (3352, "hardware-probing.md §2: 2619 MHz x 5120 bit x 2"),
    "B200": (8184, "hardware-probing.md §2: 3996 MHz x 8192 bit x 2"),
    "A100-40GB": (1555, "hardware-probing.md §2: 1215 MHz x 5120 bit x 2"),
    "L40S": (864, "hardware-probing.md §2: 9001 MHz x 384 bit x 2"),
    "T4": (320, "hardware-probing.md §2: 5001 MHz x 256 bit x 2"),
    "RTX4090": (1008, "hardware-probing.md §2: 10501 MHz x 384 bit x 2; NVIDIA/nvbench#207"),
    "RTX5090": (1792, "hardware-probing.md §2: 14001 MHz x 512 bit x 2"),
    "RTXPRO6000": (1792, "NVIDIA RTX PRO 6000 Blackwell spec: 512-bit GDDR7 at 28 Gbps (VideoCardz via gpu.name)"),
    "H200": (4800, "NVIDIA H200 spec 4.8 TB/s; llmfit's GPU table (anchor-tools.md §2)"),
}

#: RAM bandwidth assumed when ``--ram-bw`` is not given: two channels of DDR4-3200 (2 x 8 bytes x 3200 MT/s =
#: 51.2 GB/s), a common desktop; llmfit falls back to 50 GB/s when its measurement fails (anchor-tools.md §2).
#: Servers have far more (12 x DDR5-4800 = 460.8 GB/s): pass ``--ram-bw 12xDDR5-4800`` or a measured figure.
DEFAULT_RAM_SPEC = "2xDDR4-3200"
DEFAULT_RAM_BANDWIDTH = Bandwidth(
    units.parse_bandwidth(DEFAULT_RAM_SPEC),
    f"assumed {DEFAULT_RAM_SPEC}, a dual-channel desktop (llmfit falls back to 50 GB/s); pass --ram-bw",
)

#: Sequential read limits by disk kind (interface line rates, so upper bounds): NVMe as PCIe 4.0 x4
#: (16 GT/s x 4 lanes x 128/130 / 8 = 7.88 GB/s), a SATA SSD as SATA III (6 Gb/s with 8b/10b = 600 MB/s), a hard
#: disk at the ~200 MB/s a 7200 rpm drive sustains sequentially (e.g. HGST He8, 205 MB/s). mmap reads of scattered
#: experts are slower than sequential reads, most of all on hard disks.
DISK_BANDWIDTH: dict[str, tuple[int, str]] = {
    "nvme": (7_876_923_076, "NVMe taken as PCIe 4.0 x4: 7.88 GB/s line rate"),
    "ssd": (600_000_000, "SATA III line rate: 600 MB/s"),
    "hdd": (200_000_000, "7200 rpm hard disk, ~200 MB/s sequential (HGST He8: 205 MB/s)"),
}


def parse_user_bandwidth(text: str | None, option: str) -> int | None:
    """``--ram-bw`` / ``--disk-bw`` as bytes per second (None when not given); bad input is a UsageError."""
    if text is None:
        return None
    try:
        return units.parse_bandwidth(text)
    except units.SizeError as exc:
        raise UsageError(f"{option}: {exc}") from None


def memory_bandwidth_bytes_per_s(bus_width_bits: int | None, memory_clock_mhz: int | None) -> int | None:
    """Peak memory bandwidth from NVML's memory bus width and max memory clock: width x clock x 2 (double data rate)
    / 8 bits per byte (hardware-probing.md §2, checked there against real readings: H100 2619 MHz x 5120 bit =
    3352 GB/s). None when either is unknown or zero. The probe (probe/nvml.py) and ``gpu_bandwidth`` both use it."""
    if not bus_width_bits or not memory_clock_mhz:
        return None
    return bus_width_bits * memory_clock_mhz * 1_000_000 * 2 // 8


def gpu_bandwidth(gpu: Gpu) -> Bandwidth:
    """One GPU's memory bandwidth: the inventory's figure, NVML's bus width x clock x 2, or a known card's."""
    if gpu.memory_bandwidth_bytes_per_s:
        return Bandwidth(gpu.memory_bandwidth_bytes_per_s, "inventory (NVML)")
    rate = memory_bandwidth_bytes_per_s(gpu.memory_bus_width_bits, gpu.memory_clock_max_mhz)
    if rate is not None:
        return Bandwidth(
            rate, f"NVML {gpu.memory_clock_max_mhz} MHz x {gpu.memory_bus_width_bits} bit x 2 (hardware-probing.md §2)"
        )
    from vram_advisor.inventory import (
        cards,  # only when NVML gave no figure: keeps its alias index off check's start-up
    )

    card = cards.lookup(gpu.name)
    if card is not None and card.key in CARD_BANDWIDTH_GB_S:
        gb_s, source = CARD_BANDWIDTH_GB_S[card.key]
        return Bandwidth(int(gb_s * units.GB_DECIMAL), f"{card.key}: {source}")
    return Bandwidth(None, f"unknown for {gpu.name!r}")


def ram_bandwidth(ram_bw: int | None) -> Bandwidth:
    if ram_bw is not None:
        return Bandwidth(ram_bw, "--ram-bw")
    return DEFAULT_RAM_BANDWIDTH


def disk_bandwidth(disk: Disk | None, disk_bw: int | None) -> Bandwidth:
    if disk_bw is not None:
        return Bandwidth(disk_bw, "--disk-bw")
    if disk is None:
        return Bandwidth(None, "no disk in the inventory; pass --disk-bw")
    if disk.kind in DISK_BANDWIDTH:
        rate, source = DISK_BANDWIDTH[disk.kind]
        return Bandwidth(rate, source)
    return Bandwidth(None, f"the kind of the disk under {disk.path} is unknown; pass --disk-bw")
