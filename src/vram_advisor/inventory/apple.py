"""Apple Silicon: the chips people run models on, their memory bandwidth, and macOS's default GPU budget.

A Mac's GPU shares the machine's unified memory, and may wire at most Metal's ``recommendedMaxWorkingSetSize``,
which follows the admin override ``iogpu.wired_limit_mb`` when set (AlexsJones/llmfit#754). The probe reads those
(probe/accelerators/apple.py); a what-if (``--gpus M3-Ultra-512GB``) cannot, and neither can the probe without
pyobjc, so both use the same conservative rule here: 2/3 of RAM up to 36 GiB, 3/4 above (measured defaults run from
~65% on 16 GB to ~84% on 128 GiB: exo-explore/exo#1672, sgl-project/sglang#29949, antirez/ds4#893; the MLX docs'
``mlx.core.set_wired_limit`` describes the sysctl). A what-if may state the limit it has set: ``M4-Max-128GB:wired=110GB``.

Memory bandwidth has no API (Metal reports none): ``CHIPS`` gives Apple's published figure per chip, and for the
M3 Max, M4 Max and M5 Max, whose cut-down parts have less, the figure by memory size. Sources: Apple's product pages
and press releases (apple.com/newsroom; the Mac Studio and MacBook Pro tech specs), as quoted by the press: M1
68.25 GB/s; M2 and M3 100 GB/s; M4 120 GB/s; M5 153 GB/s (2025-10-15); M1/M2 Pro 200, M3 Pro 150, M4 Pro 273,
M5 Pro 307 GB/s (2026-03-03); M1/M2 Max 400, M3 Max 400 / 300, M4 Max 546 / 410, M5 Max 614 / 460 GB/s; M1/M2 Ultra
800, M3 Ultra 819, M5 Ultra 1200 GB/s (Mac Studio, 2026-08-25). Pure.
"""

from __future__ import annotations

import re

from vram_advisor.core import units
from vram_advisor.core.records import Record, dataclass

SMALL_RAM_BYTES = 36 * units.GIB
SMALL_SHARE = (2, 3)
LARGE_SHARE = (3, 4)

SOURCE = "Apple's published memory bandwidth per chip (M4 Max 546 GB/s, M3 Ultra 819 GB/s, ...)"


def default_budget(ram_bytes: int) -> int:
    """The conservative estimate of macOS's default GPU working-set (wired) limit: 2/3 of RAM up to 36 GiB, 3/4
    above."""
    numerator, denominator = SMALL_SHARE if ram_bytes <= SMALL_RAM_BYTES else LARGE_SHARE
    return ram_bytes * numerator // denominator


def budget_share_words(ram_bytes: int) -> str:
    return "2/3" if ram_bytes <= SMALL_RAM_BYTES else "3/4"


@dataclass(frozen=True, eq=False, repr=False)
class Chip(Record):
    """An Apple Silicon chip: its memory sizes (GB, as Apple sells them: GiB), and its bandwidth (GB/s) by size."""

    name: str
    memory_gb: tuple[int, ...]
    bandwidth_gb_s: float
    binned_gb_s: float | None = None
    binned_memory_gb: tuple[int, ...] = ()

    def bandwidth_for(self, memory_gb: int | None) -> float:
        if self.binned_gb_s is not None and memory_gb in self.binned_memory_gb:
            return self.binned_gb_s
        return self.bandwidth_gb_s


CHIPS: tuple[Chip, ...] = (
    Chip("M1", (8, 16), 68.25),
    Chip("M2", (8, 16, 24), 100),
    Chip("M3", (8, 16, 24), 100),
    Chip("M4", (16, 24, 32), 120),
    Chip("M5", (16, 24, 32), 153),
    Chip("M1 Pro", (16, 32), 200),
    Chip("M1 Max", (32, 64), 400),
    Chip("M1 Ultra", (64, 128), 800),
    Chip("M2 Pro", (16, 32), 200),
    Chip("M2 Max", (32, 64, 96), 400),
    Chip("M2 Ultra", (64, 128, 192), 800),
    Chip("M3 Pro", (18, 36), 150),
    Chip("M3 Max", (36, 48, 64, 96, 128), 400, 300, (36, 96)),
    Chip("M3 Ultra", (96, 256, 512), 819),
    Chip("M4 Pro", (24, 48, 64), 273),
    Chip("M4 Max", (36, 48, 64, 128), 546, 410, (36,)),
    Chip("M5 Pro", (24, 48, 64), 307),
    Chip("M5 Max", (36, 48, 64, 128), 614, 460, (36,)),
    Chip("M5 Ultra", (96, 256, 512), 1200),
)

_TOKEN = re.compile(r"^(?:apple\s*)?m(\d)\s*[-_ ]?\s*(pro|max|ultra)?\s*[-_ ]?\s*(?:(\d+)\s*gi?b)?$", re.IGNORECASE)
_NAME = re.compile(r"\bM(\d)(?: (Pro|Max|Ultra))?\b(?:.*?\((\d+) GB)?", re.IGNORECASE)


def _chip(generation: str, tier: str | None) -> Chip | None:
    wanted = f"M{generation}" + (f" {tier.capitalize()}" if tier else "")
    return next((chip for chip in CHIPS if chip.name == wanted), None)


def parse_token(token: str) -> tuple[Chip, int | None] | None:
    """``M3-Ultra-512GB`` -> (the M3 Ultra, 512); ``M4-Max`` -> (the M4 Max, None); None when it names no chip."""
    match = _TOKEN.match(token.strip())
    if match is None:
        return None
    chip = _chip(match.group(1), match.group(2))
    if chip is None:
        return None
    return chip, int(match.group(3)) if match.group(3) else None


def sizes(chip: Chip) -> str:
    """The what-if names of ``chip`` with each memory size it ships with: "M4-Max-36GB, M4-Max-48GB, ..."."""
    return ", ".join(f"{chip.name.replace(' ', '-')}-{gb}GB" for gb in chip.memory_gb)


def gpu_name(chip: Chip, memory_gb: int) -> str:
    """The what-if GPU's name: the probe's ("Apple M3 Ultra GPU") with the memory size that picks the bandwidth."""
    return f"Apple {chip.name} GPU ({memory_gb} GB unified memory)"


def bandwidth_of(name: str) -> tuple[float, str] | None:
    """The memory bandwidth (GB/s) and its source for a GPU named after an Apple chip, or None."""
    match = _NAME.search(name)
    if match is None or "apple" not in name.lower():
        return None
    chip = _chip(match.group(1), match.group(2))
    if chip is None:
        return None
    memory = int(match.group(3)) if match.group(3) else None
    rate = chip.bandwidth_for(memory)
    binned = (
        f"; the cut-down part ({'/'.join(map(str, chip.binned_memory_gb))} GB) has {chip.binned_gb_s:g} GB/s"
        if chip.binned_gb_s is not None and memory is None
        else ""
    )
    return rate, f"Apple {chip.name}: {rate:g} GB/s (Apple's figure{binned})"


def known_names() -> str:
    return ", ".join(f"{chip.name.replace(' ', '-')}-{chip.memory_gb[-1]}GB" for chip in CHIPS)
