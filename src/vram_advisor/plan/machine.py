"""The words of a verdict and the machine it is given for: the four fits (contract rule 3 and the offload case of
rule 5) and what the planner knows of a machine, in bytes. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from vram_advisor.core.records import Record

COMFORTABLE = "comfortable"
MINIMUM = "minimum"
OFFLOAD = "offload"
NONE = "none"
FITS = (COMFORTABLE, MINIMUM, OFFLOAD, NONE)


@dataclass(frozen=True, repr=False)
class Machine(Record):
    """What the planner needs to know about a machine, in bytes."""

    usable_vram_bytes: int
    spare_ram_bytes: int
    gpu_count: int
    unified: bool = False
