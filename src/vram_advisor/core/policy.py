"""Planning policy: the named, documented constants that are our choices rather than measurements.

Kept in one place so the probe (a unified-memory GPU's budget) and the planner (RAM spare for offload) keep back
the same reserve for the operating system.
"""

from __future__ import annotations

from vram_advisor.core import units

#: RAM the operating system and the inference runtime keep for themselves before any of it can hold weights: the
#: larger of 8 GiB and 10% of the machine's RAM. Our policy, not a measured constant: llama.cpp and ktransformers
#: users report leaving roughly this much (ktransformers #2001 ran V4-Pro in ~80% of 1.1 TB of RAM).
OS_RESERVE_MIN_BYTES = 8 * units.GIB
OS_RESERVE_FRACTION = 0.10


def os_reserve_bytes(ram_bytes: int) -> int:
    """RAM kept back for the OS and runtime out of ``ram_bytes``."""
    return max(OS_RESERVE_MIN_BYTES, int(ram_bytes * OS_RESERVE_FRACTION))
