"""Apple Silicon: one GPU that shares the machine's unified memory, with the budget Metal allows it.

Detection: ``hw.optional.arm64`` = 1 (true under Rosetta too). Chip name: ``machdep.cpu.brand_string``; RAM:
``hw.memsize``. The GPU budget, best source first (AlexsJones/llmfit#754, exo-explore/exo#1672):

1. Metal's ``recommendedMaxWorkingSetSize`` when pyobjc's ``Metal`` module is installed (what llama.cpp and MLX
   use);
2. the admin override ``iogpu.wired_limit_mb`` when it is set above 0 (``debug.iogpu.wired_limit`` on older
   macOS, in bytes);
3. else the conservative estimate in ``unified.apple_default_budget``, labelled as an estimate.

The GPU is marked ``unified``: the planner counts its budget as VRAM and no RAM again for offload.
sysctl values are read with ``sysctlbyname`` through ctypes (no subprocess); tests pass their own reader.
"""

from __future__ import annotations

from collections.abc import Callable

from vram_advisor.core import units
from vram_advisor.inventory.model import Gpu
from vram_advisor.probe import unified
from vram_advisor.probe.backend import ABSENT, OK, AcceleratorReading
from vram_advisor.probe.context import ProbeContext

SOURCE = "apple"
TEXT_NAMES = frozenset({"machdep.cpu.brand_string"})

#: ``name -> value as text`` (None when the name does not exist).
Sysctl = Callable[[str], str | None]
#: Metal's recommendedMaxWorkingSetSize in bytes, or None.
MetalBudget = Callable[[], int | None]


def sysctlbyname(name: str) -> str | None:
    """One sysctl value as text, through libc (macOS)."""
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    size = ctypes.c_size_t(0)
    if libc.sysctlbyname(name.encode(), None, ctypes.byref(size), None, ctypes.c_size_t(0)) != 0 or not size.value:
        return None
    buffer = ctypes.create_string_buffer(size.value)
    if libc.sysctlbyname(name.encode(), buffer, ctypes.byref(size), None, ctypes.c_size_t(0)) != 0:
        return None
    if name in TEXT_NAMES:
        return buffer.value.decode("utf-8", "replace")
    return str(int.from_bytes(buffer.raw[: size.value], "little", signed=size.value in (4, 8)))


def metal_budget() -> int | None:
    """``MTLCreateSystemDefaultDevice().recommendedMaxWorkingSetSize()`` through pyobjc, when installed."""
    try:
        import Metal  # type: ignore[import-not-found]
    except Exception:
        return None
    device = Metal.MTLCreateSystemDefaultDevice()
    return int(device.recommendedMaxWorkingSetSize()) if device is not None else None


class AppleBackend:
    name = "apple"

    def __init__(self, sysctl: Sysctl | None = None, metal: MetalBudget | None = None) -> None:
        self.sysctl = sysctl or sysctlbyname
        self.metal = metal or metal_budget

    def value(self, context: ProbeContext, name: str) -> str | None:
        try:
            value = self.sysctl(name)
        except Exception as exc:
            context.trace.record(SOURCE, f"sysctl {name}", error=exc)
            return None
        context.trace.record(SOURCE, f"sysctl {name}", value)
        return value

    def number(self, context: ProbeContext, name: str) -> int | None:
        value = self.value(context, name)
        try:
            return int(value) if value is not None else None
        except ValueError:
            return None

    def read(self, context: ProbeContext) -> AcceleratorReading:
        if context.platform != "darwin":
            return AcceleratorReading("apple", ABSENT)
        if self.number(context, "hw.optional.arm64") != 1:
            return AcceleratorReading("apple", ABSENT)
        chip = self.value(context, "machdep.cpu.brand_string") or "Apple Silicon"
        ram = self.number(context, "hw.memsize") or context.ram_effective_bytes
        if not ram:
            return AcceleratorReading("apple", "error", notes=(f"{chip}: RAM size unknown, GPU budget not counted",))
        budget, how = self.budget(context, ram)
        available = context.ram_available_bytes
        gpu = Gpu(
            name=f"{chip} GPU",
            memory_total_bytes=budget,
            index=0,
            vendor="apple",
            memory_reserved_bytes=0,
            memory_free_bytes=min(budget, available) if available is not None else None,
            unified=True,
            notes=(how,),
        )
        return AcceleratorReading("apple", OK, (gpu,))

    def budget(self, context: ProbeContext, ram: int) -> tuple[int, str]:
        try:
            metal = self.metal()
        except Exception as exc:
            context.trace.record(SOURCE, "Metal recommendedMaxWorkingSetSize", error=exc)
            metal = None
        else:
            context.trace.record(SOURCE, "Metal recommendedMaxWorkingSetSize", metal)
        shared = f"unified memory ({units.format_gib(ram)} of RAM shared with the CPU)"
        if metal:
            return metal, f"{shared}: GPU budget {units.format_gib(metal)} from Metal's recommendedMaxWorkingSetSize"
        wired_mb = self.number(context, "iogpu.wired_limit_mb")
        if wired_mb:
            wired = wired_mb * units.MIB
            return wired, f"{shared}: GPU budget {units.format_gib(wired)} from iogpu.wired_limit_mb={wired_mb}"
        legacy = self.number(context, "debug.iogpu.wired_limit")
        if legacy:
            return legacy, f"{shared}: GPU budget {units.format_gib(legacy)} from debug.iogpu.wired_limit"
        estimate = unified.apple_default_budget(ram)
        share = "2/3" if ram <= unified.APPLE_SMALL_RAM_BYTES else "3/4"
        return estimate, (
            f"{shared}: GPU budget {units.format_gib(estimate)} is an estimate ({share} of RAM; macOS's own limit "
            "is often higher): install pyobjc-framework-Metal for the exact figure, or raise it with "
            "sudo sysctl iogpu.wired_limit_mb=<MiB>"
        )
