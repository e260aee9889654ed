"""Graphics cards as Linux lists them in /sys/class/drm (shared by the AMD and Intel sysfs readers)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from vram_advisor.core.records import Record, dataclass
from vram_advisor.probe.context import ProbeContext

_CARD = re.compile(r"^card\d+$")


@dataclass(frozen=True, repr=False)
class Card(Record):
    """One ``/sys/class/drm/cardN``: its PCI device folder, vendor and device ids, kernel driver and bus id."""

    name: str
    card_dir: Path
    device_dir: Path
    vendor: str
    device: str | None
    driver: str | None
    pci_bus_id: str | None


def cards(context: ProbeContext, source: str, vendor: str) -> list[Card]:
    """The cards whose PCI vendor id is ``vendor`` (``0x1002`` AMD, ``0x8086`` Intel), in card order."""
    base = context.path("/sys/class/drm")
    if not base.is_dir():
        return []
    found = []
    for entry in sorted(base.iterdir(), key=lambda p: int(p.name[4:]) if _CARD.match(p.name) else -1):
        if not _CARD.match(entry.name):
            continue
        device_dir = entry / "device"
        vendor_id = context.read_text(device_dir / "vendor", source)
        if vendor_id is None or vendor_id.lower() != vendor:
            continue
        real = Path(os.path.realpath(device_dir))
        driver_link = device_dir / "driver"
        driver = Path(os.path.realpath(driver_link)).name if driver_link.exists() else None
        bus = real.name if re.match(r"^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.\d$", real.name) else None
        found.append(
            Card(
                name=entry.name,
                card_dir=entry,
                device_dir=device_dir,
                vendor=vendor_id.lower(),
                device=context.read_text(device_dir / "device", source, quiet_missing=True),
                driver=driver,
                pci_bus_id=bus,
            )
        )
    return found


def read_int(context: ProbeContext, path: Path, source: str) -> int | None:
    text = context.read_text(path, source, quiet_missing=True)
    if text is None:
        return None
    try:
        return int(text.split()[0], 0)
    except (ValueError, IndexError):
        return None


def gc_version(context: ProbeContext, card: Card, source: str) -> tuple[int, int, int] | None:
    """The card's graphics-core version from amdgpu's IP-discovery sysfs (``device/ip_discovery/die/0/GC/0/major``,
    ``minor``, ``revision``: amdgpu_discovery.c), or None where the kernel has no such folder."""
    base = card.device_dir / "ip_discovery" / "die" / "0" / "GC" / "0"
    parts = [read_int(context, base / name, source) for name in ("major", "minor", "revision")]
    if any(part is None for part in parts):
        return None
    major, minor, revision = (int(part or 0) for part in parts)
    return major, minor, revision


#: PCI vendors whose display devices are GPUs a runtime could use beside an AMD APU: NVIDIA, AMD, Intel (an AMD APU
#: machine has no Intel iGPU, so an Intel display device there is a discrete card). BMC graphics (ASPEED 0x1a03,
#: Matrox 0x102b) are not GPUs anyone runs models on.
GPU_VENDORS = ("0x10de", "0x1002", "0x8086")


def display_devices(context: ProbeContext, source: str) -> list[tuple[str, str, str | None]]:
    """Every PCI display-class device (class 0x03xxxx: VGA, 3D, display controller) of a GPU vendor, as (bus id,
    vendor, device), from ``/sys/bus/pci/devices``: NVIDIA cards show there even without the nvidia-drm module."""
    base = context.path("/sys/bus/pci/devices")
    if not base.is_dir():
        return []
    found = []
    for entry in sorted(base.iterdir()):
        klass = context.read_text(entry / "class", source, quiet_missing=True)
        vendor = context.read_text(entry / "vendor", source, quiet_missing=True)
        if klass is None or vendor is None or not klass.lower().startswith("0x03"):
            continue
        if vendor.lower() in GPU_VENDORS:
            found.append((entry.name, vendor.lower(), context.read_text(entry / "device", source, quiet_missing=True)))
    return found
