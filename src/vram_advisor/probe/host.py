"""Host memory and CPU: RAM from /proc/meminfo (psutil elsewhere), the container's limits from cgroups.

RAM: total and available, the container limit (``cgroup.read_limits``) and swap. Swap is shown and never counted
as memory. Available memory inside a limited container is the smaller of the host's ``MemAvailable`` and what
the limit leaves (limit less the cgroup's current usage). CPU: logical CPUs, the CPUs this process may run on
(affinity), capped by the cgroup CPU quota. Readers return what they could read plus notes; none raises.
"""

from __future__ import annotations

import os

from vram_advisor.core import units
from vram_advisor.inventory.model import Cpu, Ram
from vram_advisor.probe import cgroup
from vram_advisor.probe.context import ProbeContext
from vram_advisor.probe.trace import describe_error

SOURCE = "host"


def _meminfo_shown(line: str) -> bool:
    return line.startswith(("MemTotal:", "MemFree:", "MemAvailable:", "SwapTotal:", "SwapFree:", "Hugetlb:"))


def parse_meminfo(text: str) -> dict[str, int]:
    """``/proc/meminfo`` as bytes per key (``MemTotal: 127600748 kB`` -> 130663165952)."""
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if not parts or not parts[0].isdigit():
            continue
        scale = 1024 if len(parts) > 1 and parts[1].lower() == "kb" else 1
        values[key.strip()] = int(parts[0]) * scale
    return values


def _psutil_ram(context: ProbeContext) -> tuple[int, int | None, int | None]:
    import psutil

    memory = psutil.virtual_memory()
    context.trace.record(SOURCE, "psutil.virtual_memory()", {"total": memory.total, "available": memory.available})
    swap: int | None
    try:
        swap = int(psutil.swap_memory().total)
    except Exception as exc:
        context.trace.record(SOURCE, "psutil.swap_memory()", error=exc)
        swap = None
    return int(memory.total), int(memory.available), swap


def read_ram(context: ProbeContext, limits: cgroup.CgroupLimits | None = None) -> tuple[Ram, tuple[str, ...]]:
    """Host RAM with the container limit applied; ``limits`` defaults to reading this process's cgroups."""
    notes: list[str] = []
    total: int | None = None
    available: int | None = None
    swap: int | None = None
    if context.platform.startswith("linux"):
        text = context.read_text("/proc/meminfo", SOURCE, shown_lines=_meminfo_shown)
        if text is not None:
            info = parse_meminfo(text)
            total = info.get("MemTotal")
            available = info.get("MemAvailable", info.get("MemFree"))
            swap = info.get("SwapTotal")
    if total is None:
        try:
            total, available, swap = _psutil_ram(context)
        except Exception as exc:  # psutil raises OSError subclasses and RuntimeError on odd kernels
            context.trace.record(SOURCE, "psutil.virtual_memory()", error=exc)
            return Ram(total_bytes=0), (f"RAM could not be read ({describe_error(exc)}): none is counted",)
    if limits is None:
        limits = cgroup.read_limits(context) if context.platform.startswith("linux") else cgroup.CgroupLimits()
    limit = limits.memory_limit_bytes
    if limit is not None:
        note = cgroup.limit_note(limits, total)
        if note:
            notes.append(note)
        room = limit - limits.memory_usage_bytes if limits.memory_usage_bytes is not None else limit
        available = max(0, min(available, room)) if available is not None else max(0, room)
    if limits.memory_high_bytes is not None and limits.memory_high_bytes < min(total, limit or total):
        notes.append(
            f"container soft memory limit (memory.high) of {units.format_gib(limits.memory_high_bytes)}: the kernel throttles "
            "this process above it"
        )
    return Ram(total_bytes=total, available_bytes=available, limit_bytes=limit, swap_total_bytes=swap), tuple(notes)


def read_cpu(context: ProbeContext, limits: cgroup.CgroupLimits | None = None) -> Cpu:
    """Logical CPUs, and the CPUs this process may use (affinity capped by the cgroup quota)."""
    logical = os.cpu_count()
    try:
        affinity: int | None = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = logical
    quota = limits.cpu_quota_cpus if limits is not None else None
    usable: float | None = float(affinity) if affinity else None
    if quota is not None:
        usable = min(usable, float(quota)) if usable is not None else float(quota)
    context.trace.record(
        SOURCE, "cpus", {"os.cpu_count": logical, "sched_getaffinity": affinity, "cgroup_quota_cpus": quota}
    )
    return Cpu(logical_count=logical, usable_count=usable, quota_cpus=quota)
