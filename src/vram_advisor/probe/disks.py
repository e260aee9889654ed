"""Disks: the filesystem under the model dir (device, kind, total, free) and the other real mounts.

The model dir (``--model-dir``, default the Hugging Face cache) may not exist yet: its nearest existing parent is
measured. Free space is ``statvfs`` ``f_bavail`` (what a non-root user may write; psutil ``_psposix.py``). The
mount comes from ``/proc/self/mountinfo`` (psutil's ``disk_partitions()`` skips overlay and tmpfs), the kind from
/sys: ``/sys/dev/block/MAJ:MIN`` leads to the disk (a partition's parent); ``nvmeXnY`` is ``nvme``; LVM/dm and md
devices take the slowest of their ``slaves``; otherwise ``queue/rotational`` says ``ssd`` (0) or ``hdd`` (1) except
on virtual disks (virtio ``vd*``, Xen ``xvd*``, QEMU/VMware/Hyper-V/Google disks), where the flag says nothing
about the storage behind it and the kind is ``unknown``. Overlay, tmpfs and network filesystems have no block
device: their kind is ``unknown`` and a note says what they mean for downloading weights.

Every reader takes a ``ProbeContext`` (its root is ``/`` on a real machine; tests pass a folder tree) and a
``usage`` function, so that tests can give sizes without real filesystems.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

from vram_advisor.core.records import Record, dataclass
from vram_advisor.inventory.model import Disk, DiskKind
from vram_advisor.probe import mountinfo
from vram_advisor.probe.context import ProbeContext
from vram_advisor.probe.mountinfo import Mount
from vram_advisor.probe.trace import describe_error

SOURCE = "disks"

#: (total, free) bytes of the filesystem holding a path; raises OSError when it cannot say.
Usage = Callable[[str], tuple[int, int]]

PSEUDO_FILESYSTEMS = frozenset(
    {
        "proc", "sysfs", "cgroup", "cgroup2", "devpts", "devtmpfs", "mqueue", "debugfs", "tracefs", "securityfs",
        "pstore", "bpf", "configfs", "fusectl", "hugetlbfs", "autofs", "binfmt_misc", "nsfs", "efivarfs",
        "selinuxfs", "rpc_pipefs", "ramfs", "squashfs", "iso9660", "nfsd", "fuse.lxcfs", "fuse.gvfsd-fuse",
        "fuse.portal", "fuse.snapfuse", "overlay.fuse", "tmpfs.ro",
    }
)  # fmt: skip
NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "glusterfs", "lustre", "gpfs", "beegfs", "9p", "afs",
        "fuse.sshfs", "fuse.s3fs", "fuse.gcsfuse", "fuse.rclone", "fuse.juicefs", "fuse.mountpoint-s3",
        "fuse.blobfuse2", "fuse.glusterfs", "fuse.cephfs", "davfs", "fuse.weka", "wekafs",
    }
)  # fmt: skip
#: Mount points that are the system's own, not places to keep model weights.
SYSTEM_PREFIXES = (
    "/proc", "/sys", "/dev", "/run", "/boot", "/snap", "/etc", "/var/lib/docker", "/var/lib/containers",
    "/var/lib/kubelet", "/var/lib/containerd", "/var/snap",
)  # fmt: skip
VIRTUAL_VENDORS = ("qemu", "vmware", "msft", "google", "virtual", "xen", "red hat", "vbox", "nutanix")

#: Network filesystems get this long to answer statvfs (a hung NFS server must not hang ``check``).
NETWORK_TIMEOUT_S = 2.0
#: At most this many other mounts are listed.
MAX_MOUNTS = 24

_NVME = re.compile(r"^nvme\d+(?:c\d+)?n\d+$")
_VIRTUAL_NAME = re.compile(r"^x?vd[a-z]+$")


@dataclass(frozen=True, repr=False)
class BlockKind(Record):
    """What /sys says about a block device: the kind of its disk(s), the disk's name and why, if unsure."""

    kind: DiskKind
    disk: str | None = None
    note: str | None = None


def statvfs_usage(context: ProbeContext) -> Usage:
    def usage(path: str) -> tuple[int, int]:
        if not hasattr(os, "statvfs"):  # Windows
            import shutil

            total, _, free = shutil.disk_usage(context.path(path))
            return total, free
        stat = os.statvfs(context.path(path))
        return stat.f_blocks * stat.f_frsize, stat.f_bavail * stat.f_frsize

    return usage


def _measure(usage: Usage, path: str, network: bool, context: ProbeContext) -> tuple[int, int] | str:
    """``usage(path)`` (recorded in the trace), or why not."""
    answer = _usage(usage, path, network)
    if isinstance(answer, str):
        context.trace.record(SOURCE, f"statvfs {path}", error=answer)
    else:
        context.trace.record(SOURCE, f"statvfs {path}", {"total_bytes": answer[0], "free_bytes": answer[1]})
    return answer


def _usage(usage: Usage, path: str, network: bool) -> tuple[int, int] | str:
    """``usage(path)``, or why not; on a network filesystem with a time limit (in a daemon thread)."""
    if not network:
        try:
            return usage(path)
        except Exception as exc:
            return describe_error(exc)
    answer: list[tuple[int, int] | str] = []

    def run() -> None:
        try:
            answer.append(usage(path))
        except Exception as exc:
            answer.append(describe_error(exc))

    worker = threading.Thread(target=run, name="vram-advisor-statvfs", daemon=True)
    worker.start()
    worker.join(NETWORK_TIMEOUT_S)
    return answer[0] if answer else f"no answer within {NETWORK_TIMEOUT_S:g} s (network filesystem not responding)"


# ------------------------------------------------------------------------------------------------ kinds


def _read(context: ProbeContext, path: Path) -> str | None:
    return context.read_text(path, SOURCE, quiet_missing=True)


def _disk_dir(device_dir: Path) -> Path:
    """A partition's directory is inside its disk's; a whole disk is its own."""
    return device_dir.parent if (device_dir / "partition").exists() else device_dir


def _kind_of_disk(context: ProbeContext, disk_dir: Path, depth: int = 0) -> BlockKind:
    name = disk_dir.name
    if name.startswith(("dm-", "md")) and depth < 4:
        slaves_dir = disk_dir / "slaves"
        slaves = sorted(slaves_dir.iterdir()) if slaves_dir.is_dir() else []
        if slaves:
            kinds = [_kind_of_disk(context, _disk_dir(Path(os.path.realpath(s))), depth + 1) for s in slaves]
            names = ", ".join(k.disk or "?" for k in kinds)
            for kind in ("unknown", "hdd", "ssd", "nvme"):  # the slowest member decides
                if any(k.kind == kind for k in kinds):
                    note = next((k.note for k in kinds if k.note), None)
                    return BlockKind(kind, name, note or f"{name} is built on {names}")
    if _NVME.match(name):
        device = disk_dir / "device"
        transport = _read(context, device / "transport")
        model = _read(context, device / "model") or ""
        note = None
        if transport and transport not in ("pcie",):
            note = f"{name} is NVMe over {transport} (network-attached)"
        elif "elastic block store" in model.lower():
            note = f"{name} is an Amazon EBS volume (network-attached behind an NVMe interface)"
        return BlockKind("nvme", name, note)
    if name.startswith(("loop", "zram", "nbd", "rbd", "ram", "sr", "fd")):
        what = {
            "loop": "a loop device (a disk image file)",
            "zram": "compressed RAM (zram)",
            "nbd": "a network block device",
            "rbd": "a Ceph RBD network block device",
        }
        for prefix, words in what.items():
            if name.startswith(prefix):
                return BlockKind("unknown", name, f"{name} is {words}")
        return BlockKind("unknown", name)
    rotational = _read(context, disk_dir / "queue" / "rotational")
    vendor = (_read(context, disk_dir / "device" / "vendor") or "").lower()
    virtual = _VIRTUAL_NAME.match(name) or "/virtio" in str(disk_dir) or any(v in vendor for v in VIRTUAL_VENDORS)
    if virtual:
        return BlockKind(
            "unknown",
            name,
            f"{name} is a virtual disk: its rotational flag ({rotational or '?'}) says nothing about the storage "
            "behind it",
        )
    if rotational == "0":
        return BlockKind("ssd", name)
    if rotational == "1":
        return BlockKind("hdd", name)
    return BlockKind("unknown", name)


def block_kind(context: ProbeContext, major: int, minor: int) -> BlockKind:
    """The kind of the disk behind block device ``major:minor`` (``unknown`` without a /sys entry)."""
    if major == 0:
        return BlockKind("unknown")
    link = context.path(f"/sys/dev/block/{major}:{minor}")
    if not link.exists():
        context.trace.record(SOURCE, f"/sys/dev/block/{major}:{minor}", error="no such device in /sys")
        return BlockKind("unknown")
    device_dir = Path(os.path.realpath(link))
    context.trace.record(SOURCE, f"realpath /sys/dev/block/{major}:{minor}", context.show(device_dir))
    return _kind_of_disk(context, _disk_dir(device_dir))


# ----------------------------------------------------------------------------------------------- mounts


def read_mounts(context: ProbeContext) -> list[Mount]:
    """Linux: /proc/self/mountinfo. Elsewhere (macOS, Windows): psutil's partitions, without device numbers."""
    if context.platform.startswith("linux"):
        text = context.read_text("/proc/self/mountinfo", SOURCE)
        return mountinfo.parse(text) if text else []
    try:
        import psutil

        partitions = psutil.disk_partitions(all=False)
    except Exception as exc:
        context.trace.record(SOURCE, "psutil.disk_partitions()", error=exc)
        return []
    context.trace.record(SOURCE, "psutil.disk_partitions()", [tuple(p) for p in partitions])
    return [Mount(0, 0, "/", p.mountpoint, tuple(p.opts.split(",")), p.fstype, p.device, ()) for p in partitions]


def mount_of(mounts: list[Mount], path: str) -> Mount | None:
    """The mount holding ``path``: the longest mount point that contains it (the later one on a tie)."""
    best: Mount | None = None
    for mount in mounts:
        point = mount.mountpoint.rstrip("/") or "/"
        inside = point == "/" or path == point or path.startswith(point + "/")
        if inside and (best is None or len(point) >= len(best.mountpoint.rstrip("/") or "/")):
            best = mount
    return best


def _fs_note(mount: Mount, where: str) -> str | None:
    if mount.fstype == "overlay":
        return (
            f"{where} is on the container's writable layer (overlay): downloaded weights vanish with the "
            "container and fill the node's disk; mount a volume there"
        )
    if mount.fstype == "tmpfs":
        return f"{where} is on tmpfs (RAM): weights stored there use memory and vanish at reboot"
    if mount.fstype in NETWORK_FILESYSTEMS:
        return f"{where} is on a network filesystem ({mount.fstype}): loading weights is limited by the network"
    return None


def _listed(mount: Mount, context: ProbeContext) -> bool:
    """A mount an admin could put weights on: real, writable, not the system's own, a directory."""
    if mount.fstype in PSEUDO_FILESYSTEMS or mount.read_only:
        return False
    point = mount.mountpoint
    if any(point == prefix or point.startswith(prefix + "/") for prefix in SYSTEM_PREFIXES):
        return False
    on_disk = context.path(point)
    return not on_disk.exists() or on_disk.is_dir()


def _disk_for(
    mount: Mount, path: str, measured: tuple[int, int] | str, kind: BlockKind, model_dir: bool
) -> tuple[Disk, str | None]:
    total = free = None
    problem = None
    if isinstance(measured, str):
        problem = f"free space under {path} could not be read ({measured})"
    else:
        total, free = measured
    disk = Disk(
        path=path,
        kind=kind.kind,
        total_bytes=total,
        free_bytes=free,
        device=mount.source or None,
        fstype=mount.fstype,
        mountpoint=mount.mountpoint,
        model_dir=model_dir,
    )
    return disk, problem


def _absolute(model_dir: str) -> str:
    path = Path(model_dir).expanduser()
    return str(path if path.is_absolute() else Path.cwd() / path)


def nearest_existing(context: ProbeContext, path: str) -> str:
    """``path`` or its nearest existing parent, as a path on the machine (symlinks resolved on a real root)."""
    current = context.path(path)
    while not current.exists() and current != current.parent and current != context.root:
        current = current.parent
    if context.root == Path("/"):
        return os.path.realpath(current)
    return context.show(current)


def read_disks(
    model_dir: str, context: ProbeContext, usage: Usage | None = None
) -> tuple[tuple[Disk, ...], tuple[str, ...]]:
    """The disk under ``model_dir`` (marked ``model_dir``) first, then the other real mounts, most free first."""
    usage = usage or statvfs_usage(context)
    notes: list[str] = []
    target = _absolute(model_dir)
    existing = nearest_existing(context, target)
    mounts = read_mounts(context)
    if not context.path(target).exists():
        notes.append(f"model dir {target} does not exist yet: measured at {existing}")
    home = mount_of(mounts, existing)
    disks: list[Disk] = []
    if home is None:
        measured = _measure(usage, existing, False, context)
        total, free = measured if not isinstance(measured, str) else (None, None)
        if isinstance(measured, str):
            notes.append(f"free space under {target} could not be read ({measured})")
        disks.append(Disk(path=target, kind="unknown", total_bytes=total, free_bytes=free, model_dir=True))
    else:
        kind = block_kind(context, home.major, home.minor)
        disk, problem = _disk_for(
            home, target, _measure(usage, existing, home.fstype in NETWORK_FILESYSTEMS, context), kind, True
        )
        disks.append(disk)
        notes.extend(n for n in (problem, _fs_note(home, f"the model dir {target}"), kind.note) if n)
    disks.extend(_other_mounts(context, mounts, home, usage, notes))
    return tuple(disks), tuple(notes)


def _other_mounts(
    context: ProbeContext, mounts: list[Mount], home: Mount | None, usage: Usage, notes: list[str]
) -> list[Disk]:
    latest: dict[str, Mount] = {}
    for mount in mounts:  # a later mount on the same point hides the earlier one
        latest.pop(mount.mountpoint, None)
        latest[mount.mountpoint] = mount
    seen_devices: set[tuple[int, int]] = set()
    if home is not None and home.major != 0:
        seen_devices.add((home.major, home.minor))
    found: list[Disk] = []
    for mount in sorted(latest.values(), key=lambda m: (len(m.mountpoint), m.mountpoint)):
        if home is not None and mount.mountpoint == home.mountpoint:
            continue
        if not _listed(mount, context):
            continue
        if mount.major != 0:
            if (mount.major, mount.minor) in seen_devices:
                continue  # the same filesystem mounted again (a bind mount)
            seen_devices.add((mount.major, mount.minor))
        if len(found) >= MAX_MOUNTS:
            notes.append(f"more than {MAX_MOUNTS} mounts: the rest are not listed (vram-advisor doctor lists all)")
            break
        kind = block_kind(context, mount.major, mount.minor)
        measured = _measure(usage, mount.mountpoint, mount.fstype in NETWORK_FILESYSTEMS, context)
        disk, problem = _disk_for(mount, mount.mountpoint, measured, kind, False)
        if problem:
            notes.append(problem)
        found.append(disk)
    found.sort(key=lambda d: -(d.free_bytes if d.free_bytes is not None else -1))
    return found
