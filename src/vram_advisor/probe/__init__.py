"""The probe: the only package that reads the machine. ``collect_inventory`` never raises for missing hardware;
what it cannot read becomes ``None`` and a note.

Order: RAM and the container's limits first (unified-memory GPUs take their budget from them), then every
accelerator backend (NVIDIA, AMD, Intel, Apple), the disks, the interconnect and the CPU. the README's section "What the probe reads" says
what each reader reads and from where.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from vram_advisor import __version__
from vram_advisor.inventory.model import Inventory, ProbeInfo
from vram_advisor.probe.backend import Backend
from vram_advisor.probe.context import ProbeContext
from vram_advisor.probe.paths import default_model_dir
from vram_advisor.probe.trace import Trace, describe_error

#: Where the machine's /proc and /sys are; tests point it at a folder tree.
DEFAULT_ROOT = Path("/")


def collect_inventory(
    model_dir: str | None = None,
    *,
    root: Path | None = None,
    environ: Mapping[str, str] | None = None,
    platform: str | None = None,
    trace: Trace | None = None,
    backends: Sequence[Backend] | None = None,
    gpus: bool = True,
) -> Inventory:
    """Probe this machine: GPUs, RAM (container limit applied), CPU, the disk under ``model_dir`` and the mounts.

    ``gpus=False`` skips the accelerators (a ``--gpus`` what-if replaces them all, so loading NVML would be wasted).
    """
    from vram_advisor.probe import cgroup, disks, host, interconnect
    from vram_advisor.probe.accelerators import default_backends
    from vram_advisor.probe.backend import read_all

    context = ProbeContext(
        root=root or DEFAULT_ROOT,
        environ=dict(os.environ) if environ is None else dict(environ),
        platform=platform or sys.platform,
        trace=trace or Trace(),
    )
    notes: list[str] = []
    linux = context.platform.startswith("linux")
    try:
        limits = cgroup.read_limits(context) if linux else cgroup.CgroupLimits()
    except Exception as exc:  # a strange cgroup tree must not sink the probe
        context.trace.record("cgroup", "read_limits", error=exc)
        notes.append(f"container limits could not be read ({describe_error(exc)})")
        limits = cgroup.CgroupLimits()
    ram, ram_notes = host.read_ram(context, limits)
    notes.extend(ram_notes)
    context = context.with_ram(ram.effective_bytes or None, ram.available_bytes)
    if gpus:
        readings = read_all(backends if backends is not None else default_backends(context.platform), context)
    else:
        readings = []
    found = tuple(gpu for reading in readings for gpu in reading.gpus)
    for reading in readings:
        notes.extend(reading.notes)
    nvidia = next((r for r in readings if r.backend == "nvidia"), None)
    target = model_dir or default_model_dir(context.environ)
    try:
        disk_list, disk_notes = disks.read_disks(target, context)
    except Exception as exc:
        context.trace.record("disks", "read_disks", error=exc)
        disk_list, disk_notes = (), (f"disks could not be read ({describe_error(exc)})",)
    notes.extend(disk_notes)
    try:
        links = interconnect.read_interconnect(context, found)
    except Exception as exc:
        context.trace.record("interconnect", "read", error=exc)
        links = ()
    return Inventory(
        hostname=_hostname(),
        gpus=found,
        ram=ram,
        disks=disk_list,
        cpu=host.read_cpu(context, limits),
        interconnect=links,
        probe=ProbeInfo(
            version=__version__,
            collected_at=time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
            driver_version=nvidia.driver_version if nvidia else None,
            cuda_driver_version=nvidia.cuda_driver_version if nvidia else None,
            nvml=nvidia.status if nvidia else None,
        ),
        notes=tuple(dict.fromkeys(notes)),
    )


def _hostname() -> str | None:
    """This machine's name (``uname``; ``socket`` only where there is no ``uname``, to keep start-up fast)."""
    if hasattr(os, "uname"):
        return os.uname().nodename or None
    import socket

    return socket.gethostname() or None


__all__ = ["DEFAULT_ROOT", "collect_inventory", "default_model_dir"]
