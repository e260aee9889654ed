"""Which GPUs this process may use: CUDA_VISIBLE_DEVICES read the way CUDA reads it.

NVML ignores CUDA_VISIBLE_DEVICES, so the probe lists every GPU and ``check`` applies the variable itself
(contract rule 2). CUDA semantics (CUDA Programming Guide, "CUDA Environment Variables"; hardware-probing.md §3):

* unset: every GPU; empty string: none;
* comma-separated entries, each an ordinal, a ``GPU-`` UUID or a unique prefix of one, or a ``MIG-`` UUID;
* the first invalid entry ends the list (``0,2,-1,1`` is devices 0 and 2); a repeated device makes the list
  invalid, so no device is visible (PyTorch's reading);
* ordinals count in CUDA's order: ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` is NVML's (PCI) order; the default
  ``FASTEST_FIRST`` puts higher compute capability first, then PCI order;
* a process sees at most one MIG device.

The result is the inventory with ``visible`` set on every GPU, and a note saying what was applied.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from vram_advisor.inventory import Gpu, Inventory

_ORDINAL = re.compile(r"^\d+")


@dataclass(frozen=True)
class Selection:
    """GPUs picked from an inventory: their positions in ``inventory.gpus`` and an optional MIG instance."""

    positions: tuple[int, ...]
    mig_uuid: str | None
    note: str | None


def _cuda_order(gpus: tuple[Gpu, ...], device_order: str | None) -> tuple[list[int], str | None]:
    def pci_position(i: int) -> int:
        index = gpus[i].index
        return i if index is None else index

    pci_order = sorted(range(len(gpus)), key=pci_position)
    if (device_order or "").strip().upper() == "PCI_BUS_ID":
        return pci_order, None
    names = {gpus[i].name for i in pci_order}
    if len(names) <= 1:
        return pci_order, None
    capabilities = [gpus[i].compute_capability for i in pci_order]
    if any(cc is None for cc in capabilities):
        return pci_order, (
            "CUDA_DEVICE_ORDER is not PCI_BUS_ID and the GPUs differ: ordinals were read in PCI order, "
            "which may not be CUDA's; set CUDA_DEVICE_ORDER=PCI_BUS_ID or use GPU UUIDs"
        )

    def speed(i: int) -> tuple[int, ...]:
        major, _, minor = (gpus[i].compute_capability or "0.0").partition(".")
        return (-int(major or 0), -int(minor or 0))

    return sorted(pci_order, key=speed), None


def select(gpus: tuple[Gpu, ...], value: str | None, device_order: str | None = None) -> Selection:
    """Parse CUDA_VISIBLE_DEVICES (``value``) against ``gpus``."""
    if value is None:
        return Selection(tuple(range(len(gpus))), None, None)
    if not value.strip():
        return Selection((), None, "CUDA_VISIBLE_DEVICES is empty: no GPU is visible to CUDA")
    order, order_note = _cuda_order(gpus, device_order)
    chosen: list[int] = []
    stop_note: str | None = None
    for raw in value.split(","):
        entry = raw.strip()
        position: int | None = None
        if entry.upper().startswith("MIG-"):
            for i, gpu in enumerate(gpus):
                if any(m.uuid == entry for m in gpu.mig_devices):
                    return Selection((i,), entry, f"CUDA_VISIBLE_DEVICES={value}: MIG instance {entry}")
            stop_note = f"{entry!r} matches no MIG instance"
            break
        if entry.upper().startswith("GPU-"):
            matches = [i for i, gpu in enumerate(gpus) if gpu.uuid and gpu.uuid.lower().startswith(entry.lower())]
            if len(matches) == 1:
                position = matches[0]
            else:
                stop_note = f"{entry!r} matches {'no' if not matches else 'more than one'} GPU"
                break
        else:
            digits = _ORDINAL.match(entry)
            if digits is None or int(digits.group()) >= len(order):
                stop_note = f"{entry!r} is not a visible device ordinal"
                break
            position = order[int(digits.group())]
        if position in chosen:
            return Selection((), None, f"CUDA_VISIBLE_DEVICES={value} names a device twice: CUDA sees no device")
        chosen.append(position)
    notes = [f"CUDA_VISIBLE_DEVICES={value}: planning on {len(chosen)} of {len(gpus)} GPUs"]
    if stop_note:
        notes.append(f"the list ends at the first invalid entry ({stop_note})")
    if order_note:
        notes.append(order_note)
    return Selection(tuple(chosen), None, "; ".join(notes))


def apply(inventory: Inventory, environ: Mapping[str, str], ignore: bool = False) -> Inventory:
    """The inventory with ``visible`` set on each GPU from ``environ`` (``ignore``: every GPU is visible)."""
    if ignore:
        selection = Selection(tuple(range(len(inventory.gpus))), None, None)
    else:
        selection = select(inventory.gpus, environ.get("CUDA_VISIBLE_DEVICES"), environ.get("CUDA_DEVICE_ORDER"))
    gpus = []
    for i, gpu in enumerate(inventory.gpus):
        visible = i in selection.positions
        if visible and selection.mig_uuid is not None:
            mig = next(m for m in gpu.mig_devices if m.uuid == selection.mig_uuid)
            total = mig.memory_total_bytes if mig.memory_total_bytes is not None else gpu.memory_total_bytes
            gpu = replace(
                gpu,
                memory_total_bytes=total,
                memory_reserved_bytes=0,
                memory_free_bytes=mig.memory_free_bytes,
                notes=(*gpu.notes, f"planning on MIG instance {mig.uuid} only"),
            )
        gpus.append(replace(gpu, visible=visible))
    notes = inventory.notes if selection.note is None else (*inventory.notes, selection.note)
    return inventory.replace(gpus=tuple(gpus), notes=notes)
