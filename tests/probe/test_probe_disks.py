"""Disks: the model dir's filesystem and kind, and the other mounts, from a fake /proc and /sys tree."""

from __future__ import annotations

import threading

import pytest
from fake_machine import GIB, link, machine, nvme_disk, write

from vram_advisor.probe import disks
from vram_advisor.probe.context import ProbeContext

TB = 10**12


def context(root) -> ProbeContext:
    return ProbeContext(root=root, environ={}, platform="linux")


def sizes(table: dict[str, tuple[int, int]]):
    def usage(path: str) -> tuple[int, int]:
        best = max((p for p in table if path == p or path.startswith(p.rstrip("/") + "/")), key=len)
        return table[best]

    return usage


def sata(root, major: int, minor: int, name: str, rotational: str, vendor: str = "ATA") -> None:
    device = f"/sys/devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/{name}"
    link(root, f"/sys/dev/block/{major}:{minor}", device)
    write(root, f"{device}/queue/rotational", rotational)
    write(root, f"{device}/device/vendor", vendor)


def test_model_dir_on_an_nvme_partition(tmp_path):
    machine(tmp_path)
    nvme_disk(tmp_path)
    (tmp_path / "models/hub").mkdir(parents=True)
    found, notes = disks.read_disks("/models/hub", context(tmp_path), sizes({"/": (3840 * 10**9, 2900 * 10**9)}))
    disk = found[0]
    assert disk.model_dir is True
    assert disk.path == "/models/hub"
    assert (disk.kind, disk.device, disk.fstype, disk.mountpoint) == ("nvme", "/dev/nvme0n1p2", "ext4", "/")
    assert (disk.total_bytes, disk.free_bytes) == (3840 * 10**9, 2900 * 10**9)
    assert notes == ()


def test_a_model_dir_that_does_not_exist_yet_is_measured_at_its_nearest_parent(tmp_path):
    machine(tmp_path)
    nvme_disk(tmp_path)
    (tmp_path / "home/me").mkdir(parents=True)
    asked: list[str] = []

    def usage(path: str) -> tuple[int, int]:
        asked.append(path)
        return (TB, TB // 2)

    found, notes = disks.read_disks("/home/me/.cache/huggingface/hub", context(tmp_path), usage)
    assert asked[0] == "/home/me"
    assert found[0].path == "/home/me/.cache/huggingface/hub" and found[0].free_bytes == TB // 2
    assert any("does not exist yet: measured at /home/me" in note for note in notes)


@pytest.mark.parametrize(("rotational", "kind"), [("0", "ssd"), ("1", "hdd")])
def test_sata_disks_by_rotational_flag(tmp_path, rotational, kind):
    machine(tmp_path, mounts=["25 1 8:1 / / rw - xfs /dev/sda1 rw"])
    sata(tmp_path, 8, 1, "sda", rotational)
    write(tmp_path, "/sys/devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda/sda1/partition", "1")
    # /sys/dev/block/8:1 points at the disk itself here; the partition case is covered by the NVMe tests
    found, _ = disks.read_disks("/", context(tmp_path), sizes({"/": (TB, TB)}))
    assert found[0].kind == kind


def test_a_virtio_disk_is_unknown_whatever_its_rotational_flag(tmp_path):
    machine(tmp_path, mounts=["27 1 254:0 / / rw,relatime - ext4 /dev/vda rw"])
    device = "/sys/devices/pci0000:00/0000:00:02.0/virtio1/block/vda"
    link(tmp_path, "/sys/dev/block/254:0", device)
    write(tmp_path, f"{device}/queue/rotational", "1")
    found, notes = disks.read_disks("/", context(tmp_path), sizes({"/": (TB, TB)}))
    assert found[0].kind == "unknown"
    assert any("vda is a virtual disk" in note for note in notes)


def test_a_vmware_scsi_disk_is_unknown(tmp_path):
    machine(tmp_path, mounts=["25 1 8:0 / / rw - ext4 /dev/sda rw"])
    sata(tmp_path, 8, 0, "sda", "1", vendor="VMware  ")
    found, _ = disks.read_disks("/", context(tmp_path), sizes({"/": (TB, TB)}))
    assert found[0].kind == "unknown"


def test_lvm_takes_the_slowest_member(tmp_path):
    machine(tmp_path, mounts=["25 1 253:0 / / rw - ext4 /dev/mapper/vg-root rw"])
    nvme_disk(tmp_path)
    sata(tmp_path, 8, 16, "sdb", "1")
    dm = "/sys/devices/virtual/block/dm-0"
    link(tmp_path, "/sys/dev/block/253:0", dm)
    link(
        tmp_path,
        f"{dm}/slaves/nvme0n1p2",
        "/sys/devices/pci0000:00/0000:00:01.1/0000:01:00.0/nvme/nvme0/nvme0n1/nvme0n1p2",
    )
    link(tmp_path, f"{dm}/slaves/sdb", "/sys/devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sdb")
    found, _ = disks.read_disks("/", context(tmp_path), sizes({"/": (TB, TB)}))
    assert found[0].kind == "hdd"
    only_nvme = disks.block_kind(context(tmp_path), 259, 2)
    assert only_nvme.kind == "nvme" and only_nvme.disk == "nvme0n1"


def test_nvme_over_fabrics_and_ebs_are_noted(tmp_path):
    machine(tmp_path)
    nvme_disk(tmp_path)
    device = "/sys/devices/pci0000:00/0000:00:01.1/0000:01:00.0/nvme/nvme0/nvme0n1/device"
    write(tmp_path, f"{device}/model", "Amazon Elastic Block Store")
    kind = disks.block_kind(context(tmp_path), 259, 2)
    assert kind.kind == "nvme" and "Amazon EBS" in (kind.note or "")
    write(tmp_path, f"{device}/transport", "tcp")
    assert "NVMe over tcp" in (disks.block_kind(context(tmp_path), 259, 2).note or "")


def test_container_overlay_root_and_the_listed_mounts(tmp_path):
    mounts = [
        "600 500 0:120 / / rw,relatime - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/A,upperdir=/u",
        "601 600 0:121 / /proc rw - proc proc rw",
        "602 600 0:122 / /dev rw - tmpfs tmpfs rw,size=65536k",
        "603 602 0:123 / /dev/shm rw - tmpfs shm rw,size=65536k",
        "604 600 0:124 / /sys ro - sysfs sysfs ro",
        "605 600 259:2 /data/models /models rw,relatime - ext4 /dev/nvme0n1p2 rw",
        "606 600 259:2 /data/cache /cache rw,relatime - ext4 /dev/nvme0n1p2 rw",
        "607 600 259:2 /etc/hosts /etc/hosts rw - ext4 /dev/nvme0n1p2 rw",
        "608 600 0:125 / /tmp rw - tmpfs tmpfs rw,size=8g",
        "609 600 0:126 / /datasets ro - nfs4 fs:/datasets ro,vers=4.2",
        "610 600 0:127 / /scratch rw - nfs4 fs:/scratch rw,vers=4.2",
        "611 600 8:0 / /var/lib/kubelet/pods/x rw - ext4 /dev/sda rw",
    ]
    machine(tmp_path, mounts=mounts)
    nvme_disk(tmp_path)
    usage = sizes(
        {
            "/": (100 * GIB, 40 * GIB),
            "/models": (TB, 700 * GIB),
            "/cache": (TB, 700 * GIB),
            "/tmp": (8 * GIB, 8 * GIB),
            "/scratch": (TB, 100 * GIB),
        }
    )
    found, notes = disks.read_disks("/root/.cache/huggingface/hub", context(tmp_path), usage)
    home = found[0]
    assert home.model_dir and home.fstype == "overlay" and home.kind == "unknown" and home.mountpoint == "/"
    assert any("writable layer (overlay)" in note for note in notes)
    others = {d.mountpoint: d for d in found[1:]}
    # /models and /cache are one filesystem (listed once, at the shorter path); /etc/hosts is a file,
    # /datasets read-only, /dev, /proc, /sys and the kubelet's pod volumes the system's own
    assert set(others) == {"/cache", "/tmp", "/scratch"}
    assert others["/cache"].kind == "nvme" and others["/cache"].free_bytes == 700 * GIB
    assert others["/cache"].device == "/dev/nvme0n1p2"
    assert others["/tmp"].fstype == "tmpfs"
    assert [d.mountpoint for d in found[1:]] == ["/cache", "/scratch", "/tmp"]  # most free first


def test_model_dir_on_tmpfs_and_nfs_are_noted(tmp_path):
    machine(tmp_path, mounts=["25 1 259:2 / / rw - ext4 /dev/nvme0n1p2 rw", "26 25 0:40 / /tmp rw - tmpfs tmpfs rw"])
    (tmp_path / "tmp/hub").mkdir(parents=True)
    _, notes = disks.read_disks("/tmp/hub", context(tmp_path), sizes({"/": (TB, TB)}))
    assert any("tmpfs (RAM)" in note for note in notes)
    machine(tmp_path, mounts=["25 1 259:2 / / rw - ext4 /dev/nvme0n1p2 rw", "26 25 0:41 / /nfs rw - nfs fs:/x rw"])
    (tmp_path / "nfs").mkdir()
    _, notes = disks.read_disks("/nfs/hub", context(tmp_path), sizes({"/": (TB, TB)}))
    assert any("network filesystem (nfs)" in note for note in notes)


def test_a_hung_network_filesystem_does_not_hang_the_probe(tmp_path, monkeypatch):
    monkeypatch.setattr(disks, "NETWORK_TIMEOUT_S", 0.05)
    machine(tmp_path, mounts=["25 1 259:2 / / rw - ext4 /dev/nvme0n1p2 rw", "26 25 0:41 / /nfs rw - nfs fs:/x rw"])
    never = threading.Event()

    def usage(path: str) -> tuple[int, int]:
        if path.startswith("/nfs"):
            never.wait()
        return (TB, TB)

    found, notes = disks.read_disks("/", context(tmp_path), usage)
    nfs = next(d for d in found if d.mountpoint == "/nfs")
    assert nfs.free_bytes is None
    assert any("network filesystem not responding" in note for note in notes)
    never.set()


def test_statvfs_failure_is_a_note(tmp_path):
    machine(tmp_path)

    def usage(path: str) -> tuple[int, int]:
        raise PermissionError(13, "Permission denied")

    found, notes = disks.read_disks("/", context(tmp_path), usage)
    assert found[0].free_bytes is None
    assert any("could not be read (PermissionError" in note for note in notes)


def test_without_mountinfo_the_disk_is_still_measured(tmp_path):
    found, _ = disks.read_disks("/", context(tmp_path), sizes({"/": (TB, TB // 4)}))
    assert found[0].free_bytes == TB // 4 and found[0].kind == "unknown"


def test_real_statvfs_on_the_fake_root(tmp_path):
    machine(tmp_path)
    found, _ = disks.read_disks("/", context(tmp_path))
    assert found[0].total_bytes and found[0].free_bytes is not None
