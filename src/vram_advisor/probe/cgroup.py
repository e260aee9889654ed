"""Container limits from cgroups: the memory limit offload plans may use, and the CPU quota for the report.

``psutil`` and ``/proc/meminfo`` show the host's RAM inside Docker and Kubernetes; the limit lives in cgroups
(the kernel's cgroup-v2 docs, ``Documentation/admin-guide/cgroup-v2.rst``; joblib/loky ``_cpu_count_cgroup``):

* cgroup v2: ``memory.max`` (bytes, or ``max`` for none), ``memory.high`` (a soft throttle, reported), ``cpu.max``
  (``<quota> <period>`` or ``max <period>``);
* cgroup v1: ``memory.limit_in_bytes`` (about 2^63 for none), ``cpu.cfs_quota_us`` (-1 for none) over
  ``cpu.cfs_period_us``.

The process's cgroup comes from ``/proc/self/cgroup``; the hierarchies' mount points and roots from
``/proc/self/mountinfo``. The limit may sit on the process's own cgroup or any ancestor (Slurm steps, systemd
slices), so every level up to the mount point is read and the smallest limit wins. Hybrid hosts (v1 controllers
beside a v2 tree) are read both ways. Every function takes the root folder (``/`` on a real machine), so tests
pass a folder tree.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from vram_advisor.core import units
from vram_advisor.core.records import Record, dataclass
from vram_advisor.probe import mountinfo
from vram_advisor.probe.context import ProbeContext

SOURCE = "cgroup"

#: A v1 limit at or above this is "no limit" (the kernel writes LONG_MAX rounded down to a page).
V1_UNLIMITED = 1 << 62


@dataclass(frozen=True, repr=False)
class Hierarchy(Record):
    """One mounted cgroup hierarchy: ``version`` 1 or 2, its controllers (v1), mount point and mount root."""

    version: int
    mountpoint: str
    mount_root: str
    controllers: frozenset[str] = frozenset()


@dataclass(frozen=True, repr=False)
class CgroupLimits(Record):
    """The limits that apply to this process, each with the file it came from."""

    version: str | None = None
    memory_limit_bytes: int | None = None
    memory_limit_file: str | None = None
    memory_high_bytes: int | None = None
    memory_usage_bytes: int | None = None
    cpu_quota_cpus: float | None = None
    cpu_quota_file: str | None = None


def parse_proc_cgroup(text: str) -> tuple[str | None, dict[str, str]]:
    """``/proc/self/cgroup``: the v2 path (``0::/path``) and the v1 path of each controller."""
    v2_path: str | None = None
    v1: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy_id, controllers, path = parts
        if hierarchy_id == "0" and controllers == "":
            v2_path = path
        else:
            for controller in controllers.split(","):
                if controller:
                    v1[controller.removeprefix("name=")] = path
    return v2_path, v1


def hierarchies_of(text: str) -> list[Hierarchy]:
    """The cgroup and cgroup2 mounts listed in ``/proc/self/mountinfo``."""
    found = []
    for mount in mountinfo.parse(text):
        if mount.fstype == "cgroup2":
            found.append(Hierarchy(2, mount.mountpoint, mount.root))
        elif mount.fstype == "cgroup":
            controllers = frozenset(o.removeprefix("name=") for o in mount.super_options if o not in ("rw", "ro"))
            found.append(Hierarchy(1, mount.mountpoint, mount.root, controllers))
    return found


def _levels(hierarchy: Hierarchy, process_path: str) -> list[str]:
    """Absolute directories from the process's cgroup up to the hierarchy's mount point (deepest first)."""
    mount_root = PurePosixPath(hierarchy.mount_root or "/")
    path = PurePosixPath(process_path or "/")
    try:
        relative = path.relative_to(mount_root)
    except ValueError:
        relative = PurePosixPath(".")  # another namespace's path: only the mount point itself is ours
    levels = []
    current = PurePosixPath(hierarchy.mountpoint) / relative
    top = PurePosixPath(hierarchy.mountpoint)
    while True:
        levels.append(str(current))
        if current == top or current == current.parent:
            break
        current = current.parent
    return levels


def _default_hierarchies(context: ProbeContext) -> list[Hierarchy]:
    """Where cgroups are mounted when mountinfo cannot be read: the usual /sys/fs/cgroup layouts."""
    base = "/sys/fs/cgroup"
    if context.path(f"{base}/cgroup.controllers").exists():
        return [Hierarchy(2, base, "/")]
    found = []
    for controller in ("memory", "cpu"):
        for name in (controller, "cpu,cpuacct" if controller == "cpu" else controller):
            if context.path(f"{base}/{name}").is_dir():
                found.append(Hierarchy(1, f"{base}/{name}", "/", frozenset(name.split(","))))
                break
    if context.path(f"{base}/unified/cgroup.controllers").exists():
        found.append(Hierarchy(2, f"{base}/unified", "/"))
    return found


def _number(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.split()[0])
    except (ValueError, IndexError):
        return None


def read_limits(context: ProbeContext) -> CgroupLimits:
    """The memory limit, soft limit and usage, and the CPU quota of this process's cgroups (smallest wins)."""
    proc = context.read_text("/proc/self/cgroup", SOURCE)
    v2_path, v1_paths = parse_proc_cgroup(proc or "")
    mounts_text = context.read_text("/proc/self/mountinfo", SOURCE)
    hierarchies = hierarchies_of(mounts_text) if mounts_text else _default_hierarchies(context)
    memory: list[tuple[int, str, int | None]] = []  # (limit, file, usage)
    high: list[int] = []
    cpu: list[tuple[float, str]] = []
    versions = set()
    for hierarchy in hierarchies:
        if hierarchy.version == 2:
            if v2_path is None and proc is not None:
                continue  # mounted, but this process is not in a v2 cgroup
            versions.add("v2")
            for level in _levels(hierarchy, v2_path or "/"):
                limit = context.read_text(f"{level}/memory.max", SOURCE, quiet_missing=True)
                if limit is not None and limit != "max" and _number(limit) is not None:
                    usage = _number(context.read_text(f"{level}/memory.current", SOURCE, quiet_missing=True))
                    memory.append((_number(limit) or 0, f"{level}/memory.max", usage))
                soft = context.read_text(f"{level}/memory.high", SOURCE, quiet_missing=True)
                if soft is not None and soft != "max" and _number(soft) is not None:
                    high.append(_number(soft) or 0)
                quota = context.read_text(f"{level}/cpu.max", SOURCE, quiet_missing=True)
                if quota is not None:
                    parts = quota.split()
                    if len(parts) == 2 and parts[0] != "max" and _number(parts[0]) and _number(parts[1]):
                        cpu.append(((_number(parts[0]) or 0) / (_number(parts[1]) or 1), f"{level}/cpu.max"))
        else:
            wanted = hierarchy.controllers & {"memory", "cpu"}
            if not wanted:
                continue
            versions.add("v1")
            controller = "memory" if "memory" in wanted else "cpu"
            process_path = v1_paths.get(controller, "/")
            for level in _levels(hierarchy, process_path):
                if "memory" in wanted:
                    v1_limit = _number(context.read_text(f"{level}/memory.limit_in_bytes", SOURCE, quiet_missing=True))
                    if v1_limit is not None and 0 < v1_limit < V1_UNLIMITED:
                        v1_usage = _number(
                            context.read_text(f"{level}/memory.usage_in_bytes", SOURCE, quiet_missing=True)
                        )
                        memory.append((v1_limit, f"{level}/memory.limit_in_bytes", v1_usage))
                if "cpu" in wanted:
                    v1_quota = _number(context.read_text(f"{level}/cpu.cfs_quota_us", SOURCE, quiet_missing=True))
                    v1_period = _number(context.read_text(f"{level}/cpu.cfs_period_us", SOURCE, quiet_missing=True))
                    if v1_quota is not None and v1_quota > 0 and v1_period:
                        cpu.append((v1_quota / v1_period, f"{level}/cpu.cfs_quota_us"))
    version = "hybrid" if versions == {"v1", "v2"} else (versions.pop() if versions else None)
    smallest = min(memory, key=lambda item: item[0]) if memory else None
    tightest = min(cpu, key=lambda item: item[0]) if cpu else None
    return CgroupLimits(
        version=version,
        memory_limit_bytes=smallest[0] if smallest else None,
        memory_limit_file=smallest[1] if smallest else None,
        memory_usage_bytes=smallest[2] if smallest else None,
        memory_high_bytes=min(high) if high else None,
        cpu_quota_cpus=round(tightest[0], 3) if tightest else None,
        cpu_quota_file=tightest[1] if tightest else None,
    )


def limit_note(limits: CgroupLimits, host_total_bytes: int) -> str | None:
    """What the container limit means for this machine's plans (None when no limit binds)."""
    if limits.memory_limit_bytes is None or limits.memory_limit_bytes >= host_total_bytes:
        return None
    return (
        f"container memory limit {units.format_gib(limits.memory_limit_bytes)} ({limits.memory_limit_file}) is "
        f"below the host's {units.format_gib(host_total_bytes)} of RAM: offload plans use the limit"
    )
