"""Build a machine's /proc and /sys as a folder tree under tmp, for the probe readers that take a root path."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

GIB = 1024**3

#: A plain host: cgroup v2 at /sys/fs/cgroup, the process in the root cgroup, / on an NVMe partition.
DEFAULT_MOUNTS = (
    "22 1 0:21 / /proc rw,relatime - proc proc rw",
    "23 1 0:22 / /sys rw,relatime - sysfs sysfs rw",
    "24 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate",
    "25 1 259:2 / / rw,relatime - ext4 /dev/nvme0n1p2 rw",
    "26 1 0:6 / /dev rw,relatime - devtmpfs udev rw",
)


def write(root: Path, path: str, text: str) -> Path:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target


def link(root: Path, path: str, target: str) -> None:
    """A symlink at ``path`` pointing to ``target`` (both absolute on the fake machine; stored relative)."""
    at = root / path.lstrip("/")
    at.parent.mkdir(parents=True, exist_ok=True)
    destination = root / target.lstrip("/")
    destination.mkdir(parents=True, exist_ok=True)
    at.symlink_to(os.path.relpath(destination, at.parent))


def meminfo(total_kb: int, available_kb: int, swap_kb: int = 0) -> str:
    return (
        f"MemTotal:       {total_kb} kB\nMemFree:        {available_kb // 2} kB\n"
        f"MemAvailable:   {available_kb} kB\nBuffers:          1024 kB\n"
        f"SwapTotal:      {swap_kb} kB\nSwapFree:       {swap_kb} kB\n"
    )


def machine(
    root: Path,
    *,
    total_kb: int = 512 * 1024 * 1024,
    available_kb: int = 480 * 1024 * 1024,
    swap_kb: int = 0,
    proc_cgroup: str = "0::/\n",
    mounts: Iterable[str] = DEFAULT_MOUNTS,
) -> Path:
    """A machine under ``root`` with RAM, the process's cgroup and its mounts; returns ``root``."""
    write(root, "/proc/meminfo", meminfo(total_kb, available_kb, swap_kb))
    write(root, "/proc/self/cgroup", proc_cgroup)
    write(root, "/proc/self/mountinfo", "\n".join(mounts) + "\n")
    (root / "sys/fs/cgroup").mkdir(parents=True, exist_ok=True)
    return root


def nvme_disk(root: Path, major: int = 259, minor: int = 2, disk: str = "nvme0n1", part: str = "nvme0n1p2") -> None:
    """/sys/dev/block/MAJ:MIN -> an NVMe namespace's partition (PCIe transport)."""
    device = f"/sys/devices/pci0000:00/0000:00:01.1/0000:01:00.0/nvme/nvme0/{disk}"
    link(root, f"/sys/dev/block/{major}:{minor}", f"{device}/{part}")
    write(root, f"{device}/{part}/partition", "2")
    write(root, f"{device}/queue/rotational", "0")
    write(root, f"{device}/device/transport", "pcie")
    write(root, f"{device}/device/model", "SAMSUNG MZQL23T8HCLS-00A07")
