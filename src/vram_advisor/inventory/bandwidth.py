"""Bandwidths of the memory tiers, for the decode-speed bounds: each figure with where it came from.

* GPU: the inventory's ``memory_bandwidth_bytes_per_s``; else NVML's bus width x max memory clock x 2 (checked
  against real readings: NVIDIA/k8s-test-infra's nvidia-smi captures, NVIDIA/nvbench#207); else a known card's
  figure below.
* RAM: ``--ram-bw`` (a rate or a memory setup such as ``12xDDR5-4800``); else the copy bandwidth ``probe --measure``
  measured on this machine (the inventory's ``ram.bandwidth``); else, on a unified-memory machine, the GPU's own
  bandwidth (the same memory); else assumed from the machine's class (``RAM_CLASSES``, by its RAM size: a 2 TB server
  is not two DDR4 channels), marked ``assumed``; ``DEFAULT_RAM_BANDWIDTH`` only when the RAM size is unknown.
  Nothing is measured here: a measurement touches the machine, and only ``probe/`` does that (``probe.measure``).
* Disk: ``--disk-bw``; else the sequential read ``probe --measure`` measured on the disk (its ``read_bandwidth``);
  else the interface limit of the disk's kind (``DISK_BANDWIDTH``); unknown kinds get no figure.

A what-if (``--gpus``, ``--ram``) plans another machine: ``inventory.whatif`` drops the measured figures, so the
class defaults apply there.

Pure: reads an ``Inventory`` and strings, never the machine.
"""

from __future__ import annotations

from vram_advisor.core import units
from vram_advisor.core.errors import UsageError
from vram_advisor.core.records import Record, dataclass
from vram_advisor.inventory.model import BandwidthReading, Disk, Gpu


@dataclass(frozen=True, eq=False, repr=False)
class Bandwidth(Record):
    """A bandwidth in bytes per second (None when unknown) and where the figure comes from."""

    bytes_per_s: int | None
    source: str
    #: True when the figure is assumed (a machine class), not given (--ram-bw) or read from the hardware.
    assumed: bool = False

    def text(self) -> str:
        return f"{units.format_bandwidth(self.bytes_per_s)} ({self.source})"


#: Memory bandwidth of known cards (GB/s), keyed by ``cards.Card.key``, for GPUs the inventory gives no figure for
#: (what-if GPUs, older probes). NVML-derived figures are bus width x max memory clock x 2 from real readings:
#: NVIDIA/k8s-test-infra ``tests/e2e/go/assertions/nvidiasmi/testdata/hardware/qx-*.xml`` (nvidia-smi -q -x captures),
#: NVIDIA/nvbench#207 (RTX 4090) and NVIDIA/open-gpu-kernel-modules#1266 (RTX 5090).
CARD_BANDWIDTH_GB_S: dict[str, tuple[float, str]] = {
    "H100-80GB": (3352, "NVIDIA/k8s-test-infra qx-h100.xml: 2619 MHz x 5120 bit x 2"),
    "B200": (8184, "NVIDIA/k8s-test-infra qx-b200.xml: 3996 MHz x 8192 bit x 2"),
    "A100-40GB": (1555, "NVIDIA/k8s-test-infra qx-a100.xml: 1215 MHz x 5120 bit x 2"),
    "L40S": (864, "NVIDIA/k8s-test-infra qx-l40s.xml: 9001 MHz x 384 bit x 2"),
    "T4": (320, "NVIDIA/k8s-test-infra qx-t4.xml: 5001 MHz x 256 bit x 2"),
    "RTX4090": (1008, "NVIDIA/nvbench#207: 10501 MHz x 384 bit x 2"),
    "RTX5090": (1792, "NVIDIA/open-gpu-kernel-modules#1266: 14001 MHz x 512 bit x 2"),
    "RTXPRO6000": (1792, "NVIDIA RTX PRO 6000 Blackwell spec: 512-bit GDDR7 at 28 Gbps (VideoCardz via gpu.name)"),
    "H200": (4800, "NVIDIA H200 spec 4.8 TB/s; llmfit's GPU table (AlexsJones/llmfit llmfit-core/src/hardware.rs)"),
    "H100-NVL": (3900, "NVIDIA H100 NVL datasheet: 3.9 TB/s"),
    "A100-80GB": (2039, "NVIDIA A100 80GB SXM datasheet: 2,039 GB/s"),
    "RTX3090": (936, "NVIDIA GeForce RTX 3090 spec: 936 GB/s (384-bit GDDR6X at 19.5 Gbps)"),
    "RTX3090TI": (1008, "NVIDIA GeForce RTX 3090 Ti spec: 1,008 GB/s"),
    "RTX5070": (672, "NVIDIA GeForce RTX 5070 spec: 672 GB/s (192-bit GDDR7 at 28 Gbps)"),
    "RTX6000ADA": (960, "NVIDIA RTX 6000 Ada datasheet: 960 GB/s"),
    "L40": (864, "NVIDIA L40 datasheet: 864 GB/s (as L40S)"),
    "B300": (8000, "NVIDIA HGX B300 spec: 8 TB/s per GPU (aiconfigurator b300_sxm.yaml: 7.75 TB/s)"),
    "GB200": (8000, "NVIDIA GB200 NVL72 spec: 8 TB/s per GPU"),
    "GB300": (8000, "NVIDIA GB300 NVL72 spec: 8 TB/s per GPU"),
    "GB10": (273, "NVIDIA DGX Spark spec: 128 GB LPDDR5X at 273 GB/s"),
    "V100-16GB": (900, "NVIDIA V100 SXM2 datasheet: 900 GB/s"),
    "V100-32GB": (900, "NVIDIA V100 SXM2 datasheet: 900 GB/s"),
    "MI300X": (5300, "AMD Instinct MI300X datasheet: 5.3 TB/s"),
}

#: RAM bandwidth assumed when neither ``--ram-bw`` nor the RAM size is known: two channels of DDR4-3200 (2 x 8 bytes
#: x 3200 MT/s = 51.2 GB/s), a common desktop; llmfit falls back to 50 GB/s when its measurement fails
#: (AlexsJones/llmfit ``llmfit-core/src/hardware.rs``, ``measure_ram_bandwidth_gbps``).
DEFAULT_RAM_SPEC = "2xDDR4-3200"
DEFAULT_RAM_BANDWIDTH = Bandwidth(
    units.parse_bandwidth(DEFAULT_RAM_SPEC),
    f"assumed {DEFAULT_RAM_SPEC}, a dual-channel desktop (llmfit falls back to 50 GB/s); pass --ram-bw",
    assumed=True,
)

#: RAM bandwidth assumed by machine class when ``--ram-bw`` is not given, the class read from the machine's RAM size
#: (its effective size): the size says how many memory channels a machine must have, and each class takes a common
#: configuration of that many (``units.parse_bandwidth``: channels x 8 bytes x MT/s). Upper bounds in GiB:
#:
#: * up to 192 GiB: a desktop or laptop, two channels (2 x DDR5-4800 = 76.8 GB/s: 1.5x a DDR4-3200 pair, 0.75x a
#:   DDR5-6400 pair);
#: * up to 640 GiB: a workstation or small single-socket server, eight channels (8 x DDR5-4800 = 307.2 GB/s; an EPYC
#:   Rome with 8 x DDR4-3200 has 204.8, a 12-channel EPYC Genoa 460.8);
#: * up to 1.5 TiB: a single-socket server with twelve channels (12 x DDR5-4800 = 460.8 GB/s, as ktransformers
#:   #2001's EPYC 9374F with 12 x 96 GB: row 1 of docs/speeds.md);
#: * above: a two-socket server (2 x 8 x DDR5-4800 = 614.4 GB/s, as a DGX H100/H200: 2 TB on two Xeon 8480C).
RAM_CLASSES: tuple[tuple[int, str, str], ...] = (
    (192 * units.GIB, "a desktop or laptop", "2xDDR5-4800"),
    (640 * units.GIB, "a workstation or small single-socket server", "8xDDR5-4800"),
    (1536 * units.GIB, "a single-socket server", "12xDDR5-4800"),
    (2**62, "a two-socket server", "16xDDR5-4800"),
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
    / 8 bits per byte (checked against real readings, e.g. NVIDIA/k8s-test-infra's qx-h100.xml capture: H100
    2619 MHz x 5120 bit = 3352 GB/s). None when either is unknown or zero. The probe (probe/nvml.py) and
    ``gpu_bandwidth`` both use it."""
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
            rate, f"NVML {gpu.memory_clock_max_mhz} MHz x {gpu.memory_bus_width_bits} bit x 2 (double data rate)"
        )
    from vram_advisor.inventory import cards  # only when NVML gave no figure: keeps the tables off check's start-up

    card = cards.lookup(gpu.name)
    if card is not None and card.key in CARD_BANDWIDTH_GB_S:
        gb_s, source = CARD_BANDWIDTH_GB_S[card.key]
        return Bandwidth(int(gb_s * units.GB_DECIMAL), f"{card.key}: {source}")
    from vram_advisor.inventory import apple, apu  # chips with unified memory, named by their chip

    chip = apple.bandwidth_of(gpu.name) or apu.bandwidth_of(gpu.name)
    if chip is not None:
        return Bandwidth(int(chip[0] * units.GB_DECIMAL), chip[1])
    return Bandwidth(None, f"unknown for {gpu.name!r}")


def ram_class(ram_bytes: int) -> tuple[str, str]:
    """The machine class a RAM size implies, and the memory configuration assumed for it."""
    return next((name, spec) for limit, name, spec in RAM_CLASSES if ram_bytes <= limit)


def measured_words(reading: BandwidthReading) -> str:
    """Where a measured figure comes from, and how it was measured."""
    how = [
        reading.method or "",
        f"{reading.threads} thread{'s' if reading.threads != 1 else ''}" if reading.threads else "",
    ]
    detail = "; ".join(part for part in how if part)
    return f"measured by probe --measure ({detail})" if detail else "measured by probe --measure"


def _with_aside(found: Bandwidth, reading: BandwidthReading | None) -> Bandwidth:
    """``found`` with the words of a measured figure a what-if set aside (a reading without a figure, whose
    ``method`` says why: ``whatif.set_aside``)."""
    if reading is None or reading.bytes_per_s or not reading.method:
        return found
    return Bandwidth(found.bytes_per_s, f"{found.source}; {reading.method}", assumed=found.assumed)


def _measured(reading: BandwidthReading | None) -> Bandwidth | None:
    """A reading of the inventory as a bandwidth (None without a figure); a figure not marked ``measured`` is the
    inventory's, stated by whoever wrote it."""
    if reading is None or not reading.bytes_per_s:
        return None
    if reading.measured:
        return Bandwidth(reading.bytes_per_s, measured_words(reading))
    return Bandwidth(reading.bytes_per_s, "the inventory's figure (not marked measured)")


def ram_bandwidth(
    ram_bw: int | None,
    ram_bytes: int | None = None,
    unified: Bandwidth | None = None,
    measured: BandwidthReading | None = None,
) -> Bandwidth:
    """System RAM's bandwidth: ``--ram-bw``; else what ``probe --measure`` measured (``measured``: the inventory's
    ``ram.bandwidth``); else, on a unified-memory machine, the GPU's (``unified``: the same memory); else assumed
    from the machine class of ``ram_bytes`` (``RAM_CLASSES``); else ``DEFAULT_RAM_BANDWIDTH``."""
    if ram_bw is not None:
        return Bandwidth(ram_bw, "--ram-bw")
    found = _measured(measured)
    if found is not None:
        return found
    if unified is not None and unified.bytes_per_s is not None:
        found = Bandwidth(unified.bytes_per_s, f"unified memory, as the GPU: {unified.source}")
    elif not ram_bytes:
        found = DEFAULT_RAM_BANDWIDTH
    else:
        name, spec = ram_class(ram_bytes)
        found = Bandwidth(
            units.parse_bandwidth(spec),
            f"assumed {spec}: {units.format_gib(ram_bytes)} of RAM is {name}; pass --ram-bw for yours",
            assumed=True,
        )
    return _with_aside(found, measured)


def disk_bandwidth(disk: Disk | None, disk_bw: int | None) -> Bandwidth:
    """The disk's sequential read: ``--disk-bw``; else what ``probe --measure`` measured on it; else its kind's."""
    if disk_bw is not None:
        return Bandwidth(disk_bw, "--disk-bw")
    if disk is None:
        return Bandwidth(None, "no disk in the inventory; pass --disk-bw")
    found = _measured(disk.read_bandwidth)
    if found is not None:
        return found
    if disk.kind in DISK_BANDWIDTH:
        rate, source = DISK_BANDWIDTH[disk.kind]
        found = Bandwidth(rate, source)
    else:
        found = Bandwidth(None, f"the kind of the disk under {disk.path} is unknown; pass --disk-bw")
    return _with_aside(found, disk.read_bandwidth)
