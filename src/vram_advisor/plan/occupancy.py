"""GPU memory that other processes hold right now: ``check --free`` grading and the "would not load now" warning.

Plans grade on capacity (total less reserved, contract rule 2): what the machine can run once its GPUs are idle.
On a shared node other processes may hold part of that memory; NVML's ``free`` (the v2 call's ``free`` excludes
reserved memory) says how much is left at probe time. Pure functions over an inventory whose ``visible`` flags are
set; nothing here reads the machine.
"""

from __future__ import annotations

from vram_advisor.core import units
from vram_advisor.inventory.model import Gpu, Inventory
from vram_advisor.plan.rules import Plan, need_text

#: Memory held below this on a GPU is the driver's and the desktop's, not worth naming.
HELD_NOTICE_BYTES = 256 * units.MIB


def _visible(inventory: Inventory) -> list[tuple[int, Gpu]]:
    return [(position, gpu) for position, gpu in enumerate(inventory.gpus) if gpu.visible is not False]


def _label(position: int, gpu: Gpu) -> str:
    return f"GPU {gpu.index if gpu.index is not None else position}"


def held_bytes(gpu: Gpu) -> int | None:
    """Memory in use on ``gpu`` (capacity less free), or None when free memory is unknown."""
    if gpu.memory_free_bytes is None:
        return None
    return max(0, gpu.capacity_bytes - gpu.memory_free_bytes)


def free_vram_bytes(inventory: Inventory) -> int:
    """Free memory over the visible GPUs (a GPU whose free memory is unknown counts its capacity)."""
    total = 0
    for _, gpu in _visible(inventory):
        held = held_bytes(gpu)
        total += gpu.capacity_bytes - (held or 0)
    return total


def unknown_free_notes(inventory: Inventory) -> list[str]:
    """For ``--free``: the visible GPUs graded on capacity because their free memory is unknown."""
    return [
        f"{_label(position, gpu)}: free memory unknown, graded on its capacity ({units.format_gib(gpu.capacity_bytes)})"
        for position, gpu in _visible(inventory)
        if gpu.memory_free_bytes is None and gpu.capacity_bytes > 0
    ]


def load_warning(plan: Plan, inventory: Inventory) -> str | None:
    """A warning when the recommendation fits the GPUs' capacity but not the memory free right now."""
    option = plan.recommendation.option
    if option is None or plan.recommendation.kind not in ("local", "offload"):
        return None
    free = free_vram_bytes(inventory)
    spare = plan.machine.spare_ram_bytes if plan.recommendation.kind == "offload" else 0
    if free + spare >= option.quant.min_threshold_bytes:
        return None
    holders = []
    for position, gpu in _visible(inventory):
        held = held_bytes(gpu)
        if held is not None and held >= HELD_NOTICE_BYTES:
            holders.append(
                f"{_label(position, gpu)} {units.format_gib(held)} of {units.format_gib(gpu.capacity_bytes)}"
            )
    if not holders:
        return None
    held_total = sum(held_bytes(gpu) or 0 for _, gpu in _visible(inventory))
    where = "GPU memory" if not spare else "GPU memory (with the spare RAM)"
    return (
        f"other processes hold {units.format_gib(held_total)} of GPU memory right now ({', '.join(holders)}): "
        f"{option.model.id} {option.quant.id} needs {need_text(option.quant)} but only "
        f"{units.format_gib(free + spare)} of {where} is free, so it would not load until they exit "
        "(check --free grades on free memory)"
    )
