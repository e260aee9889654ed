"""Intel discrete GPUs (Arc, Data Center GPU Max) from sysfs: VRAM is what the kernel driver reports.

``xe`` driver: the sum of ``device/tileN/physical_vram_size_bytes``; ``i915``: ``cardN/lmem_total_bytes``
(AlexsJones/llmfit#733). Level Zero and OpenCL report less "global memory" than the physical VRAM
(intel/compute-runtime#586), so sysfs is preferred. A card with neither is an integrated GPU that shares system
memory and is not counted.
"""

from __future__ import annotations

from vram_advisor.inventory.model import Gpu
from vram_advisor.probe.accelerators import drm
from vram_advisor.probe.backend import ABSENT, OK, AcceleratorReading
from vram_advisor.probe.context import ProbeContext

SOURCE = "intel"
VENDOR_ID = "0x8086"


class IntelBackend:
    name = "intel"

    def read(self, context: ProbeContext) -> AcceleratorReading:
        if not context.platform.startswith("linux"):
            return AcceleratorReading("intel", ABSENT)
        gpus: list[Gpu] = []
        for card in drm.cards(context, SOURCE, VENDOR_ID):
            total, how = _vram(context, card)
            if total is None:
                context.trace.record(SOURCE, f"{card.name}", "integrated GPU (no local memory): not counted")
                continue
            gpus.append(
                Gpu(
                    name=f"Intel GPU [8086:{(card.device or '????').removeprefix('0x')}]",
                    memory_total_bytes=total,
                    index=len(gpus),
                    vendor="intel",
                    pci_bus_id=card.pci_bus_id,
                    notes=(f"read from sysfs ({how}, driver {card.driver or 'unknown'})",),
                )
            )
        return AcceleratorReading("intel", OK if gpus else ABSENT, tuple(gpus))


def _vram(context: ProbeContext, card: drm.Card) -> tuple[int | None, str]:
    tiles = sorted(card.device_dir.glob("tile*/physical_vram_size_bytes")) if card.device_dir.is_dir() else []
    sizes = [size for size in (drm.read_int(context, tile, SOURCE) for tile in tiles) if size]
    if sizes:
        return sum(sizes), f"{len(sizes)} tile(s) physical_vram_size_bytes"
    lmem = drm.read_int(context, card.card_dir / "lmem_total_bytes", SOURCE)
    if lmem:
        return lmem, "lmem_total_bytes"
    return None, ""
