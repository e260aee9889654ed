"""The words of a verdict and the machine it is given for: the four fits (contract rule 3 and the offload case of
rule 5) and what the planner knows of a machine, in bytes: usable VRAM (rule 2) and the RAM it can spare. Pure."""

from __future__ import annotations

from typing import Final, Literal

from vram_advisor.core.policy import os_reserve_bytes
from vram_advisor.core.records import Record, dataclass
from vram_advisor.inventory.model import Inventory

#: An option's fit on a machine (contract rule 3, and rule 5's offload): the same strings in JSON and every view.
Fit = Literal["comfortable", "minimum", "offload", "none"]
COMFORTABLE: Final = "comfortable"
MINIMUM: Final = "minimum"
OFFLOAD: Final = "offload"
NONE: Final = "none"
FITS: tuple[Fit, ...] = (COMFORTABLE, MINIMUM, OFFLOAD, NONE)
#: Where an option that fits runs: in GPU memory, in the unified memory of one chip, split over GPU and RAM, on CPU.
RunsOn = Literal["gpu", "unified", "gpu+ram", "cpu"]
#: Where an estimate's placement puts the weights (``estimate.placement``): on the GPUs, split over the GPUs and RAM,
#: in RAM (CPU only), or mapped from the disk.
PlacementKind = Literal["gpu", "gpu+ram", "cpu", "nvme"]
PLACEMENT_GPU: Final = "gpu"
PLACEMENT_HYBRID: Final = "gpu+ram"
PLACEMENT_CPU: Final = "cpu"
PLACEMENT_NVME: Final = "nvme"
#: What the recommendation is: a model in GPU memory, one offloaded to RAM, or the API (nothing fits).
Kind = Literal["local", "offload", "api"]


@dataclass(frozen=True, repr=False)
class Machine(Record):
    """What the planner needs to know about a machine, in bytes."""

    usable_vram_bytes: int
    spare_ram_bytes: int
    gpu_count: int
    unified: bool = False


def usable_vram_bytes(inventory: Inventory, free: bool = False) -> int:
    """Contract rule 2: the sum over the GPUs this process may use of total less reserved memory.

    GPUs marked ``visible: false`` (hidden by CUDA_VISIBLE_DEVICES) do not count. With ``free`` (``check --free``)
    each GPU counts its free memory instead, or its capacity where free memory is unknown.
    """
    visible = inventory.visible_gpus
    if free:
        return sum(
            gpu.capacity_bytes if gpu.memory_free_bytes is None else min(gpu.capacity_bytes, gpu.memory_free_bytes)
            for gpu in visible
        )
    return sum(gpu.capacity_bytes for gpu in visible)


def spare_ram_bytes(inventory: Inventory) -> int:
    """System RAM the machine can spare for offloaded weights.

    The effective RAM (host RAM, or the container limit when smaller) less the OS reserve. A GPU with unified
    memory already counts that RAM as its VRAM, so it is never counted twice: such machines spare nothing more.
    """
    visible = inventory.visible_gpus
    if any(gpu.unified for gpu in visible):
        return 0
    effective = inventory.ram.effective_bytes
    return max(0, effective - os_reserve_bytes(effective))


def machine_of(inventory: Inventory, free: bool = False) -> Machine:
    visible = inventory.visible_gpus
    return Machine(
        usable_vram_bytes=usable_vram_bytes(inventory, free),
        spare_ram_bytes=spare_ram_bytes(inventory),
        gpu_count=len(visible),
        unified=any(gpu.unified for gpu in visible),
    )
