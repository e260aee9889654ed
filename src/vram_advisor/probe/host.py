"""Host memory, CPU and disks through psutil (and /sys, /proc where psutil has no answer).

Every reader returns what it could read plus notes for what it could not; none of them raises.
"""

from __future__ import annotations

import os

from vram_advisor.inventory import Cpu, Disk, Ram
from vram_advisor.probe.paths import nearest_existing


def read_ram() -> tuple[Ram, tuple[str, ...]]:
    """psutil's total and available RAM and swap (swap is reported, never counted as memory)."""
    import psutil

    notes: list[str] = []
    try:
        memory = psutil.virtual_memory()
        total, available = int(memory.total), int(memory.available)
    except Exception as exc:  # psutil raises OSError subclasses and RuntimeError on odd kernels
        return Ram(total_bytes=0), (f"RAM could not be read ({exc.__class__.__name__}: {exc})",)
    try:
        swap: int | None = int(psutil.swap_memory().total)
    except Exception as exc:
        swap = None
        notes.append(f"swap could not be read ({exc.__class__.__name__})")
    return Ram(total_bytes=total, available_bytes=available, limit_bytes=None, swap_total_bytes=swap), tuple(notes)


def read_cpu() -> Cpu:
    logical = os.cpu_count()
    try:
        usable: float | None = float(len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        usable = float(logical) if logical else None
    return Cpu(logical_count=logical, usable_count=usable, quota_cpus=None)


def read_disks(model_dir: str) -> tuple[tuple[Disk, ...], tuple[str, ...]]:
    """The filesystem under ``model_dir`` (its nearest existing parent when it does not exist yet)."""
    import psutil

    existing = nearest_existing(model_dir)
    try:
        usage = psutil.disk_usage(str(existing))
    except Exception as exc:
        return (Disk(path=model_dir, model_dir=True),), (
            f"free space under {model_dir} could not be read ({exc.__class__.__name__}: {exc})",
        )
    disk = Disk(
        path=model_dir,
        kind="unknown",
        total_bytes=int(usage.total),
        free_bytes=int(usage.free),
        model_dir=True,
    )
    return (disk,), ()
