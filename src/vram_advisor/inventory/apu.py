"""AMD APUs: the chips whose GPU shares the machine's memory, how the probe tells one from a discrete card, and the
GPU budget of a what-if (``--gpus AI-Max-395-128GB``). Pure: the probe (probe/accelerators/amd.py) reads the files.

**What the GPU may use.** amdgpu reports two pools (``/sys/class/drm/cardN/device/``): ``mem_info_vram_total``, on an
APU only the firmware's carve-out of system RAM (512 MiB by default on Strix Halo, more when the BIOS sets it), and
``mem_info_gtt_total``, the system RAM the GPU may map (GTT). Tools that read only the first see a 0.5 GiB GPU on a
128 GB Ryzen AI Max+ 395 (gpustack #4848, lmstudio-bug-tracker #1480, vLLM PR #40963, ollama #12062). On an APU whose
GTT is larger than its carve-out the kernel places ROCm's allocations in GTT (``apu_prefer_gtt``, torvalds/linux
759e764f7d58, as ROCm/rocm-systems PR #5596 explains it), so the budget is the larger pool: ``max(VRAM, GTT)``, not
their sum (summing over-counts: ROCm/legacy-rocm-build #6004). A Strix Halo set to 512 MiB with a 96 GiB GTT reads
``mem_info_gtt_total`` 103079215104 (ROCm/hip #3892). The GTT is system RAM: the probe caps it at the machine's RAM
less the OS reserve (``policy.os_reserve_bytes``, the GB10 rule of probe/unified.py), and the GPU is marked
``unified``, so the planner counts that RAM once, as VRAM, and never again for offload.

**Telling an APU from a discrete card** (a discrete card has a GTT file too, and its GTT is also system RAM that
the GPU may map, not memory of its own). In order:

1. the GC (graphics core) version in amdgpu's IP-discovery sysfs (``ip_discovery/die/0/GC/0/major|minor|revision``)
   is one the kernel flags ``AMD_IS_APU`` (``amdgpu_discovery_set_ip_blocks`` in amdgpu_discovery.c: GC 9.1.0, 9.2.2,
   9.3.0, 10.1.3, 10.1.4, 10.3.1, 10.3.3, 10.3.6, 10.3.7, 11.0.1, 11.0.4, 11.5.0-11.5.4, 11.5.6, 11.7.0, 11.7.1;
   Strix Halo is GC 11.5.1, gfx1151);
2. the PCI device id is a known APU: ``0x1586`` Strix Halo (``lspci`` "[1002:1586]", danbev/learning-ai
   notes/gmktec.md), ``0x74a0`` MI300A (rocminfo "Chip ID: 29856(0x74a0)", ROCm/amdgpu #186);
3. the card has GTT but no VRAM of its own (the kernel hides ``mem_info_vram_*`` where no VRAM manager is in use,
   as on MI300A: "drm/amdgpu: hide VRAM sysfs attributes on GPUs without VRAM");
4. a carve-out of at most 1 GiB beside a larger GTT (the BIOS default is 512 MiB: SikamikanikoBG/homelab-monitor
   PR #237 and mostlygeek/llama-swap PR #884 use the same test; no discrete card ROCm runs on has 1 GiB).

KFD's topology is not used: its ``cpu_cores_count`` reads 0 on some APUs (ROCm/rocm-systems #8190).

**What-ifs.** The Ryzen AI Max (Strix Halo) parts: 256-bit LPDDR5X-8000, 256 GB/s, up to 128 GB (Framework's Ryzen
AI Max deep dive, 2025-03-13; AMD). A what-if cannot read the GTT, so it takes AMD's Variable Graphics Memory limit:
3/4 of the memory, "96GB of Variable Graphics Memory" on the 128 GB Ryzen AI Max+ 395 (AMD blog "FAQs: AMD Variable
Graphics Memory", 2025-07-29); Linux's GTT can be set higher (``amd-ttm``, ``ttm.pages_limit``), which
``AI-Max-395-128GB:gtt=110GB`` states.
"""

from __future__ import annotations

import re

from vram_advisor.core import units
from vram_advisor.core.records import Record, dataclass

#: GC versions amdgpu flags AMD_IS_APU (amdgpu_discovery.c, amdgpu_discovery_set_ip_blocks).
APU_GC_VERSIONS: frozenset[tuple[int, int, int]] = frozenset(
    {
        (9, 1, 0),
        (9, 2, 2),
        (9, 3, 0),
        (10, 1, 3),
        (10, 1, 4),
        (10, 3, 1),
        (10, 3, 3),
        (10, 3, 6),
        (10, 3, 7),
        (11, 0, 1),
        (11, 0, 4),
        (11, 5, 0),
        (11, 5, 1),
        (11, 5, 2),
        (11, 5, 3),
        (11, 5, 4),
        (11, 5, 6),
        (11, 7, 0),
        (11, 7, 1),
    }
)
#: PCI device ids of APUs, with the name the probe gives them (see the module's docstring for the sources).
APU_PCI_IDS: dict[str, str] = {"0x1586": "AMD Radeon 8060S / 8050S (Strix Halo)", "0x74a0": "AMD Instinct MI300A"}
#: The GC version of Strix Halo (gfx1151), named like its PCI id.
STRIX_HALO_GC = (11, 5, 1)
#: A VRAM size at most this beside a larger GTT is an APU's carve-out (the BIOS default is 512 MiB).
CARVE_OUT_MAX_BYTES = units.GIB
#: AMD's Variable Graphics Memory limit: 3/4 of the memory (96 GB of 128 GB on the Ryzen AI Max+ 395).
VGM_SHARE = (3, 4)
STRIX_HALO_BANDWIDTH_GB_S = 256.0
BANDWIDTH_SOURCE = "Strix Halo: 256-bit LPDDR5X-8000, 256 GB/s (Framework's Ryzen AI Max deep dive; AMD)"


def apu_reason(
    gc_version: tuple[int, int, int] | None, pci_device: str | None, vram_bytes: int | None, gtt_bytes: int | None
) -> str | None:
    """Why a card is an APU (the first signal of the docstring's four that holds), or None for a discrete card."""
    if gc_version is not None and gc_version in APU_GC_VERSIONS:
        return f"GC {'.'.join(map(str, gc_version))}, which amdgpu flags AMD_IS_APU"
    device = (pci_device or "").lower()
    if device in APU_PCI_IDS:
        return f"PCI device {device} is an APU ({APU_PCI_IDS[device]})"
    if vram_bytes is None and gtt_bytes:
        return "no VRAM of its own, only GTT (system memory)"
    if vram_bytes is not None and gtt_bytes and vram_bytes <= CARVE_OUT_MAX_BYTES < gtt_bytes:
        return f"a {units.format_gib(vram_bytes)} VRAM carve-out beside {units.format_gib(gtt_bytes)} of GTT"
    return None


def driver_budget(vram_bytes: int | None, gtt_bytes: int | None, ram_cap_bytes: int | None) -> int:
    """An APU's GPU budget: the larger of its carve-out and its GTT, the GTT capped at ``ram_cap_bytes`` (the RAM
    less the OS reserve) where known."""
    gtt = gtt_bytes or 0
    if ram_cap_bytes is not None:
        gtt = min(gtt, max(0, ram_cap_bytes))
    return max(vram_bytes or 0, gtt)


def probe_name(gc_version: tuple[int, int, int] | None, pci_device: str | None) -> str | None:
    """The name of an APU without a product name in sysfs, from its PCI id or its GC version (None when unknown)."""
    known = APU_PCI_IDS.get((pci_device or "").lower())
    if known is not None:
        return known
    if gc_version == STRIX_HALO_GC:
        return APU_PCI_IDS["0x1586"]
    return None


# ---------------------------------------------------------------------------------------------------- what-ifs


@dataclass(frozen=True, eq=False, repr=False)
class Chip(Record):
    """An AMD APU people run models on: its model number, GPU, memory sizes (GB, as sold: GiB) and bandwidth."""

    number: str
    name: str
    gpu: str
    memory_gb: tuple[int, ...]
    bandwidth_gb_s: float


CHIPS: tuple[Chip, ...] = (
    Chip("395", "Ryzen AI Max+ 395", "Radeon 8060S", (32, 64, 128), STRIX_HALO_BANDWIDTH_GB_S),
    Chip("390", "Ryzen AI Max 390", "Radeon 8050S", (32, 64, 128), STRIX_HALO_BANDWIDTH_GB_S),
    Chip("385", "Ryzen AI Max 385", "Radeon 8050S", (32, 64, 128), STRIX_HALO_BANDWIDTH_GB_S),
)

_TOKEN = re.compile(
    r"^(?:amd[-_ ]?)?(?:ryzen[-_ ]?)?(?:ai[-_ ]?max\+?(?:[-_ ]?pro)?|strix[-_ ]?halo)[-_ ]?(395|390|385)?"
    r"(?:[-_ ]?(\d+)\s*gi?b)?$",
    re.IGNORECASE,
)


def parse_token(token: str) -> tuple[Chip, int | None] | None:
    """``AI-Max-395-128GB`` -> (the Ryzen AI Max+ 395, 128); ``AI-Max-395`` -> (it, None); ``Strix-Halo-128GB`` is
    the 395; None when the token names no AMD APU."""
    match = _TOKEN.match(token.strip())
    if match is None:
        return None
    strix = "strix" in token.lower()
    number = match.group(1) or ("395" if strix else None)
    if number is None:
        return None
    chip = next(chip for chip in CHIPS if chip.number == number)
    return chip, int(match.group(2)) if match.group(2) else None


def sizes(chip: Chip) -> str:
    return ", ".join(f"AI-Max-{chip.number}-{gb}GB" for gb in chip.memory_gb)


def default_budget(memory_bytes: int) -> int:
    """The GPU budget of a what-if APU: AMD's Variable Graphics Memory limit, 3/4 of the memory."""
    numerator, denominator = VGM_SHARE
    return memory_bytes * numerator // denominator


def gpu_name(chip: Chip, memory_gb: int) -> str:
    """The what-if GPU's name: chip, GPU, "Strix Halo" (which the engines table matches) and the memory size."""
    return f"AMD {chip.name} / {chip.gpu} (Strix Halo, {memory_gb} GB unified memory)"


def bandwidth_of(name: str) -> tuple[float, str] | None:
    """The memory bandwidth (GB/s) and its source for a GPU named after a Strix Halo part, or None."""
    lowered = name.lower()
    if "strix halo" in lowered or "8060s" in lowered or "8050s" in lowered or "gfx1151" in lowered:
        return STRIX_HALO_BANDWIDTH_GB_S, BANDWIDTH_SOURCE
    return None


def known_names() -> str:
    return ", ".join(f"AI-Max-{chip.number}-{chip.memory_gb[-1]}GB" for chip in CHIPS)
