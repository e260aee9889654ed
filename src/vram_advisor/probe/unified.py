"""GPU budgets for unified-memory parts, where the GPU has no memory of its own and shares the host's RAM.

NVIDIA GB10 (DGX Spark) and Jetson: NVML answers ``NotSupported`` for memory (NVIDIA DGX Spark known issues;
XuehaiPan/nvitop#208 shows both calls failing beside ``MemTotal: 127600748 kB``). The rule used here:

    budget = effective RAM (host RAM, or the container limit when smaller) - OS reserve,
    OS reserve = max(8 GiB, 10% of the effective RAM)

(``policy.os_reserve_bytes``: the same reserve the planner keeps back before offloading weights to RAM). On a
128 GB DGX Spark (121.7 GiB of MemTotal) that is 109.5 GiB. The planner counts this budget as VRAM and then
counts no system RAM for offload: the same bytes are never counted twice.

Apple Silicon: the GPU may wire at most Metal's ``recommendedMaxWorkingSetSize``, which follows the admin
override ``iogpu.wired_limit_mb`` when set (AlexsJones/llmfit#754). Without either we estimate conservatively:
2/3 of RAM up to 36 GiB, 3/4 above (measured defaults run from ~65% on 16 GB to ~84% on 128 GiB:
exo-explore/exo#1672, sgl-project/sglang#29949, antirez/ds4#893).
"""

from __future__ import annotations

from vram_advisor.core import units
from vram_advisor.core.policy import os_reserve_bytes
from vram_advisor.inventory import apple

#: The Apple rule lives in inventory/apple.py, shared with the what-if (``--gpus M3-Ultra-512GB``).
APPLE_SMALL_RAM_BYTES = apple.SMALL_RAM_BYTES
APPLE_SMALL_SHARE = apple.SMALL_SHARE
APPLE_LARGE_SHARE = apple.LARGE_SHARE


def shared_ram_budget(effective_ram_bytes: int) -> tuple[int, str]:
    """The GPU budget of an NVIDIA unified-memory part, and the note that says how it was derived."""
    reserve = os_reserve_bytes(effective_ram_bytes)
    budget = max(0, effective_ram_bytes - reserve)
    note = (
        f"unified memory: NVML reports no memory of its own, so its budget is this machine's RAM "
        f"({units.format_gib(effective_ram_bytes)}, container limit applied) less an OS reserve of "
        f"{units.format_gib(reserve)} = {units.format_gib(budget)}; that RAM is not counted again for offload"
    )
    return budget, note


def apple_default_budget(ram_bytes: int) -> int:
    """The conservative estimate of Metal's default working-set limit (used only when nothing better is known)."""
    return apple.default_budget(ram_bytes)
