"""Container limits (cgroup v2, v1, hybrid) and host RAM/CPU, read from folder trees passed as the root."""

from __future__ import annotations

from fake_machine import GIB, machine, write

from vram_advisor.inventory.model import Ram
from vram_advisor.plan.rules import spare_ram_bytes
from vram_advisor.probe import cgroup, host
from vram_advisor.probe.context import ProbeContext

V1_MOUNTS = (
    "30 25 0:28 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755",
    "31 30 0:29 {root} /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory",
    "32 30 0:30 {root} /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct",
    "25 1 0:50 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w",
)


def context(root) -> ProbeContext:
    return ProbeContext(root=root, environ={}, platform="linux")


def test_v2_private_namespace(tmp_path):
    machine(tmp_path)
    write(tmp_path, "/sys/fs/cgroup/memory.max", "17179869184")
    write(tmp_path, "/sys/fs/cgroup/memory.current", "1073741824")
    write(tmp_path, "/sys/fs/cgroup/memory.high", "max")
    write(tmp_path, "/sys/fs/cgroup/cpu.max", "250000 100000")
    limits = cgroup.read_limits(context(tmp_path))
    assert limits.version == "v2"
    assert limits.memory_limit_bytes == 16 * GIB
    assert limits.memory_limit_file == "/sys/fs/cgroup/memory.max"
    assert limits.memory_usage_bytes == GIB
    assert limits.memory_high_bytes is None
    assert limits.cpu_quota_cpus == 2.5


def test_v2_no_limit(tmp_path):
    machine(tmp_path)
    write(tmp_path, "/sys/fs/cgroup/memory.max", "max")
    write(tmp_path, "/sys/fs/cgroup/cpu.max", "max 100000")
    limits = cgroup.read_limits(context(tmp_path))
    assert limits.memory_limit_bytes is None and limits.cpu_quota_cpus is None


def test_v2_walks_up_from_a_slurm_step_and_takes_the_smallest(tmp_path):
    step = "/system.slice/slurmstepd.scope/job_42/step_0"
    machine(tmp_path, proc_cgroup=f"0::{step}\n")
    base = "/sys/fs/cgroup/system.slice/slurmstepd.scope"
    write(tmp_path, f"{base}/job_42/step_0/memory.max", "max")
    write(tmp_path, f"{base}/job_42/memory.max", str(64 * GIB))
    write(tmp_path, f"{base}/job_42/memory.current", str(4 * GIB))
    write(tmp_path, f"{base}/memory.max", str(512 * GIB))
    write(tmp_path, f"{base}/job_42/cpu.max", "800000 100000")
    write(tmp_path, f"{base}/job_42/step_0/cpu.max", "400000 100000")
    write(tmp_path, f"{base}/job_42/memory.high", str(60 * GIB))
    limits = cgroup.read_limits(context(tmp_path))
    assert limits.memory_limit_bytes == 64 * GIB
    assert limits.memory_limit_file == f"{base}/job_42/memory.max"
    assert limits.memory_usage_bytes == 4 * GIB
    assert limits.memory_high_bytes == 60 * GIB
    assert limits.cpu_quota_cpus == 4.0
    assert limits.cpu_quota_file == f"{base}/job_42/step_0/cpu.max"


def test_v2_walk_stops_at_the_mount_point(tmp_path):
    machine(tmp_path, proc_cgroup="0::/a/b\n")
    write(tmp_path, "/sys/fs/memory.max", str(GIB))  # above the mount: not a cgroup file
    write(tmp_path, "/sys/fs/cgroup/a/memory.max", str(8 * GIB))
    assert cgroup.read_limits(context(tmp_path)).memory_limit_bytes == 8 * GIB


def test_v1_docker_with_host_namespace_reads_at_the_mount_root(tmp_path):
    mounts = [line.format(root="/docker/abc123") for line in V1_MOUNTS]
    machine(tmp_path, proc_cgroup="4:memory:/docker/abc123\n3:cpu,cpuacct:/docker/abc123\n", mounts=mounts)
    write(tmp_path, "/sys/fs/cgroup/memory/memory.limit_in_bytes", str(8 * GIB))
    write(tmp_path, "/sys/fs/cgroup/memory/memory.usage_in_bytes", str(2 * GIB))
    write(tmp_path, "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "150000")
    write(tmp_path, "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000")
    limits = cgroup.read_limits(context(tmp_path))
    assert limits.version == "v1"
    assert limits.memory_limit_bytes == 8 * GIB and limits.memory_usage_bytes == 2 * GIB
    assert limits.cpu_quota_cpus == 1.5


def test_v1_unlimited_values_are_no_limit(tmp_path):
    mounts = [line.format(root="/") for line in V1_MOUNTS]
    machine(tmp_path, proc_cgroup="4:memory:/user.slice\n3:cpu,cpuacct:/user.slice\n", mounts=mounts)
    write(tmp_path, "/sys/fs/cgroup/memory/user.slice/memory.limit_in_bytes", "9223372036854771712")
    write(tmp_path, "/sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712")
    write(tmp_path, "/sys/fs/cgroup/cpu,cpuacct/user.slice/cpu.cfs_quota_us", "-1")
    write(tmp_path, "/sys/fs/cgroup/cpu,cpuacct/user.slice/cpu.cfs_period_us", "100000")
    limits = cgroup.read_limits(context(tmp_path))
    assert limits.memory_limit_bytes is None and limits.cpu_quota_cpus is None


def test_hybrid_v1_memory_beside_v2_tree(tmp_path):
    mounts = [
        "31 30 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory",
        "41 30 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw",
        "25 1 254:0 / / rw - ext4 /dev/vda rw",
    ]
    machine(tmp_path, proc_cgroup="4:memory:/process_api/x\n0::/\n", mounts=mounts)
    write(tmp_path, "/sys/fs/cgroup/memory/process_api/x/memory.limit_in_bytes", str(12 * GIB))
    write(tmp_path, "/sys/fs/cgroup/memory/process_api/memory.limit_in_bytes", str(24 * GIB))
    limits = cgroup.read_limits(context(tmp_path))
    assert limits.version == "hybrid"
    assert limits.memory_limit_bytes == 12 * GIB


def test_without_mountinfo_the_usual_layout_is_read(tmp_path):
    write(tmp_path, "/proc/self/cgroup", "0::/\n")
    write(tmp_path, "/sys/fs/cgroup/cgroup.controllers", "cpu memory")
    write(tmp_path, "/sys/fs/cgroup/memory.max", str(3 * GIB))
    assert cgroup.read_limits(context(tmp_path)).memory_limit_bytes == 3 * GIB


def test_an_empty_root_has_no_limits(tmp_path):
    limits = cgroup.read_limits(context(tmp_path))
    assert limits == cgroup.CgroupLimits()


def test_mountinfo_escapes_are_decoded(tmp_path):
    machine(tmp_path, mounts=["24 1 0:26 / /sys/fs/cgroup\\040x rw - cgroup2 cgroup2 rw"])
    write(tmp_path, "/sys/fs/cgroup x/memory.max", str(5 * GIB))
    assert cgroup.read_limits(context(tmp_path)).memory_limit_bytes == 5 * GIB


# ---------------------------------------------------------------------------------------------------- RAM


def test_ram_from_meminfo_with_the_container_limit(tmp_path):
    machine(tmp_path, total_kb=1024 * 1024 * 1024, available_kb=900 * 1024 * 1024, swap_kb=8 * 1024 * 1024)
    write(tmp_path, "/sys/fs/cgroup/memory.max", str(64 * GIB))
    write(tmp_path, "/sys/fs/cgroup/memory.current", str(10 * GIB))
    ram, notes = host.read_ram(context(tmp_path))
    assert ram.total_bytes == 1024 * GIB
    assert ram.limit_bytes == 64 * GIB
    assert ram.effective_bytes == 64 * GIB
    assert ram.available_bytes == 54 * GIB  # what the limit leaves, not the host's 900 GiB
    assert ram.swap_total_bytes == 8 * GIB
    assert any("container memory limit 64.0 GiB" in note and "memory.max" in note for note in notes)


def test_swap_is_never_counted_as_memory(tmp_path):
    machine(tmp_path, total_kb=64 * 1024 * 1024, available_kb=60 * 1024 * 1024, swap_kb=512 * 1024 * 1024)
    ram, _ = host.read_ram(context(tmp_path))
    with_swap = spare_ram_bytes_of(ram)
    without_swap = spare_ram_bytes_of(Ram(total_bytes=ram.total_bytes, available_bytes=ram.available_bytes))
    assert with_swap == without_swap


def spare_ram_bytes_of(ram: Ram) -> int:
    from vram_advisor.inventory.model import Inventory

    return spare_ram_bytes(Inventory(ram=ram))


def test_limit_above_the_host_does_not_bind(tmp_path):
    machine(tmp_path, total_kb=16 * 1024 * 1024, available_kb=12 * 1024 * 1024)
    write(tmp_path, "/sys/fs/cgroup/memory.max", str(64 * GIB))
    ram, notes = host.read_ram(context(tmp_path))
    assert ram.limit_bytes == 64 * GIB and ram.effective_bytes == 16 * GIB
    assert notes == ()


def test_soft_limit_is_reported(tmp_path):
    machine(tmp_path)
    write(tmp_path, "/sys/fs/cgroup/memory.high", str(32 * GIB))
    _, notes = host.read_ram(context(tmp_path))
    assert any("memory.high" in note and "32.0 GiB" in note for note in notes)


def test_cpu_quota_caps_usable_cpus(tmp_path):
    machine(tmp_path)
    write(tmp_path, "/sys/fs/cgroup/cpu.max", "50000 100000")
    limits = cgroup.read_limits(context(tmp_path))
    cpu = host.read_cpu(context(tmp_path), limits)
    assert cpu.quota_cpus == 0.5 and cpu.usable_count == 0.5
    assert cpu.logical_count is not None and cpu.logical_count >= 1
