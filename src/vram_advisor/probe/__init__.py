"""The probe: the only package that reads the machine. ``collect_inventory`` never raises for missing hardware;
what it cannot read becomes ``None`` and a note."""

from __future__ import annotations

import datetime
import socket

from vram_advisor import __version__
from vram_advisor.inventory import Inventory, ProbeInfo
from vram_advisor.probe import host, nvml
from vram_advisor.probe.paths import default_model_dir


def collect_inventory(model_dir: str | None = None) -> Inventory:
    """Probe this machine: NVIDIA GPUs through NVML, RAM and the disk under ``model_dir`` through psutil."""
    gpu_reading = nvml.read()
    ram, ram_notes = host.read_ram()
    target = model_dir or default_model_dir()
    disks, disk_notes = host.read_disks(target)
    return Inventory(
        hostname=socket.gethostname() or None,
        gpus=gpu_reading.gpus,
        ram=ram,
        disks=disks,
        cpu=host.read_cpu(),
        probe=ProbeInfo(
            version=__version__,
            collected_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            driver_version=gpu_reading.driver_version,
            cuda_driver_version=gpu_reading.cuda_driver_version,
            nvml=gpu_reading.status,
        ),
        notes=(*gpu_reading.notes, *ram_notes, *disk_notes),
    )


__all__ = ["collect_inventory", "default_model_dir"]
