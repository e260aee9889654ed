"""The hardware inventory: frozen dataclasses and their JSON form (schema ``vram-advisor/inventory/v1``).

The inventory is what the probe writes (``probe --json``), what ``check --inventory`` and ``cluster`` read, and the
only thing the planner sees of a machine. Loading follows the contract: ``schema``, each GPU's ``name`` and
``memory_total_bytes`` and ``ram.total_bytes`` are required; every other field is optional (missing = unknown,
``None``) and unknown fields are ignored so that newer inventories still load. Every problem is reported as an
``InventoryError`` naming the source and the field (``node.json: gpus[1].memory_total_bytes: ...``).
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, fields, replace
from typing import Any

from vram_advisor.core import boundedjson, inputfiles
from vram_advisor.core.errors import InventoryError
from vram_advisor.core.jsonread import FieldReader, clean_text
from vram_advisor.core.records import Record

SCHEMA = "vram-advisor/inventory/v1"
VENDORS = ("nvidia", "amd", "apple", "intel")
DISK_KINDS = ("nvme", "ssd", "hdd", "unknown")

#: An inventory file or line larger than this is refused unread (inventories from nodes are untrusted input).
MAX_INVENTORY_BYTES = 4 * 1024 * 1024
#: What one inventory's JSON may hold (the bounded reader's limits).
INVENTORY_LIMITS = boundedjson.JsonLimits(max_bytes=MAX_INVENTORY_BYTES)


@dataclass(frozen=True, repr=False)
class MigDevice(Record):
    """One MIG instance of a GPU in MIG mode, with its own memory."""

    uuid: str | None = None
    memory_total_bytes: int | None = None
    memory_free_bytes: int | None = None
    memory_reserved_bytes: int | None = None
    gpu_instance_id: int | None = None
    compute_instance_id: int | None = None


@dataclass(frozen=True, repr=False)
class Gpu(Record):
    """One accelerator as the probe saw it. ``memory_total_bytes`` is what the driver reports (NVML ``total``)."""

    name: str
    memory_total_bytes: int
    index: int | None = None
    vendor: str | None = None
    uuid: str | None = None
    memory_reserved_bytes: int | None = None
    memory_free_bytes: int | None = None
    unified: bool = False
    pci_bus_id: str | None = None
    compute_capability: str | None = None
    memory_bus_width_bits: int | None = None
    memory_clock_max_mhz: int | None = None
    memory_bandwidth_bytes_per_s: int | None = None
    pcie_generation: int | None = None
    pcie_width: int | None = None
    nvlink: bool | None = None
    mig_enabled: bool | None = None
    mig_devices: tuple[MigDevice, ...] = ()
    #: The GPU's own ``memory_total_bytes`` when ``visibility`` has put a MIG instance's memory in its place.
    memory_total_bytes_whole_gpu: int | None = None
    visible: bool | None = None
    notes: tuple[str, ...] = ()

    @property
    def capacity_bytes(self) -> int:
        """Contract rule 2: what this GPU contributes to usable VRAM, total less the driver's reserved memory."""
        return max(0, self.memory_total_bytes - (self.memory_reserved_bytes or 0))


@dataclass(frozen=True, repr=False)
class Ram(Record):
    """System memory. ``limit_bytes`` is a container (cgroup) limit where one applies."""

    total_bytes: int
    available_bytes: int | None = None
    limit_bytes: int | None = None
    swap_total_bytes: int | None = None

    @property
    def effective_bytes(self) -> int:
        """What a process here may use: the smaller of the host's RAM and the container limit."""
        if self.limit_bytes is None:
            return self.total_bytes
        return min(self.total_bytes, self.limit_bytes)


@dataclass(frozen=True, repr=False)
class Disk(Record):
    """A filesystem where weights could go. ``model_dir`` marks the one under ``--model-dir`` at probe time."""

    path: str
    kind: str | None = None
    total_bytes: int | None = None
    free_bytes: int | None = None
    device: str | None = None
    fstype: str | None = None
    mountpoint: str | None = None
    model_dir: bool = False


@dataclass(frozen=True, repr=False)
class Cpu(Record):
    """CPU count as this process may use it (affinity and cgroup quota applied)."""

    logical_count: int | None = None
    usable_count: float | None = None
    quota_cpus: float | None = None


@dataclass(frozen=True, repr=False)
class ProbeInfo(Record):
    """How and when the inventory was made."""

    version: str | None = None
    collected_at: str | None = None
    driver_version: str | None = None
    cuda_driver_version: str | None = None
    nvml: str | None = None


@dataclass(frozen=True, repr=False)
class LocalFile(Record):
    """A model file already on this machine's disk (a download's file found by a live probe): the repository it
    comes from, its path in that repository, where it lies, and its size."""

    repo: str
    path: str
    location: str
    size_bytes: int | None = None


@dataclass(frozen=True, repr=False)
class Inventory(Record):
    """One machine: GPUs, RAM, disks, plus notes on what could not be read."""

    ram: Ram
    gpus: tuple[Gpu, ...] = ()
    disks: tuple[Disk, ...] = ()
    hostname: str | None = None
    cpu: Cpu | None = None
    interconnect: tuple[str, ...] = ()
    probe: ProbeInfo | None = None
    notes: tuple[str, ...] = ()
    #: model files the probe found under the model dir and in the Hugging Face cache (live probes only)
    local_files: tuple[LocalFile, ...] = ()
    schema: str = SCHEMA

    def has_files(self, repo: str | None, paths: tuple[str, ...]) -> bool:
        """Every one of ``paths`` of ``repo`` is already on this machine (False without paths)."""
        if repo is None or not paths or not self.local_files:
            return False
        found = {(item.repo, item.path) for item in self.local_files}
        return all((repo, path) in found for path in paths)

    @property
    def visible_gpus(self) -> tuple[Gpu, ...]:
        """The GPUs this process may use: all but those marked ``visible: false`` (hidden by CUDA_VISIBLE_DEVICES)."""
        return tuple(gpu for gpu in self.gpus if gpu.visible is not False)

    def replace(self, **changes: Any) -> Inventory:
        """A copy with some fields changed (what-if overrides)."""
        return replace(self, **changes)


# --------------------------------------------------------------------------------------------------- to JSON


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    return value


def to_dict(inventory: Inventory) -> dict[str, Any]:
    """The inventory as a JSON-ready dict, ``schema`` first."""
    body = _plain(inventory)
    return {"schema": body.pop("schema"), **body}


def dumps(inventory: Inventory) -> str:
    """The inventory as one line of JSON (NDJSON-friendly for ``cluster -``)."""
    return json.dumps(to_dict(inventory), separators=(",", ":"), ensure_ascii=True)


# ------------------------------------------------------------------------------------------------- from JSON


def _mig(r: FieldReader, value: Any, where: str) -> MigDevice:
    data = r.obj(value, where)
    p = f"{where}."
    return MigDevice(
        uuid=r.optional(data, "uuid", p, r.text),
        memory_total_bytes=r.optional(data, "memory_total_bytes", p, r.bytes_),
        memory_free_bytes=r.optional(data, "memory_free_bytes", p, r.bytes_),
        memory_reserved_bytes=r.optional(data, "memory_reserved_bytes", p, r.bytes_),
        gpu_instance_id=r.optional(data, "gpu_instance_id", p, r.int_),
        compute_instance_id=r.optional(data, "compute_instance_id", p, r.int_),
    )


def _gpu(r: FieldReader, value: Any, where: str) -> Gpu:
    data = r.obj(value, where)
    p = f"{where}."
    total = r.required(data, "memory_total_bytes", p, r.bytes_)
    reserved = r.optional(data, "memory_reserved_bytes", p, r.bytes_)
    if reserved is not None and reserved > total:
        raise r.fail(f"{p}memory_reserved_bytes", f"{reserved} is more than memory_total_bytes ({total})")
    migs = r.optional(data, "mig_devices", p, lambda v, w: r.items(v, w, lambda x, y: _mig(r, x, y)))
    return Gpu(
        name=r.required(data, "name", p, r.text),
        memory_total_bytes=total,
        index=r.optional(data, "index", p, r.int_),
        vendor=r.optional(data, "vendor", p, r.known(VENDORS)),
        uuid=r.optional(data, "uuid", p, r.text),
        memory_reserved_bytes=reserved,
        memory_free_bytes=r.optional(data, "memory_free_bytes", p, r.bytes_),
        unified=bool(r.optional(data, "unified", p, r.flag)),
        pci_bus_id=r.optional(data, "pci_bus_id", p, r.text),
        compute_capability=r.optional(data, "compute_capability", p, r.text),
        memory_bus_width_bits=r.optional(data, "memory_bus_width_bits", p, r.int_),
        memory_clock_max_mhz=r.optional(data, "memory_clock_max_mhz", p, r.int_),
        memory_bandwidth_bytes_per_s=r.optional(data, "memory_bandwidth_bytes_per_s", p, r.bytes_),
        pcie_generation=r.optional(data, "pcie_generation", p, r.int_),
        pcie_width=r.optional(data, "pcie_width", p, r.int_),
        nvlink=r.optional(data, "nvlink", p, r.flag),
        mig_enabled=r.optional(data, "mig_enabled", p, r.flag),
        mig_devices=migs or (),
        memory_total_bytes_whole_gpu=r.optional(data, "memory_total_bytes_whole_gpu", p, r.bytes_),
        visible=r.optional(data, "visible", p, r.flag),
        notes=r.optional(data, "notes", p, r.texts) or (),
    )


def _ram(r: FieldReader, value: Any, where: str) -> Ram:
    data = r.obj(value, where)
    p = f"{where}."
    return Ram(
        total_bytes=r.required(data, "total_bytes", p, r.bytes_),
        available_bytes=r.optional(data, "available_bytes", p, r.bytes_),
        limit_bytes=r.optional(data, "limit_bytes", p, r.bytes_),
        swap_total_bytes=r.optional(data, "swap_total_bytes", p, r.bytes_),
    )


def _disk(r: FieldReader, value: Any, where: str) -> Disk:
    data = r.obj(value, where)
    p = f"{where}."
    return Disk(
        path=r.required(data, "path", p, r.text),
        kind=r.optional(data, "kind", p, r.known(DISK_KINDS)),
        total_bytes=r.optional(data, "total_bytes", p, r.bytes_),
        free_bytes=r.optional(data, "free_bytes", p, r.bytes_),
        device=r.optional(data, "device", p, r.text),
        fstype=r.optional(data, "fstype", p, r.text),
        mountpoint=r.optional(data, "mountpoint", p, r.text),
        model_dir=bool(r.optional(data, "model_dir", p, r.flag)),
    )


def _cpu(r: FieldReader, value: Any, where: str) -> Cpu:
    data = r.obj(value, where)
    p = f"{where}."
    return Cpu(
        logical_count=r.optional(data, "logical_count", p, r.int_),
        usable_count=r.optional(data, "usable_count", p, r.number),
        quota_cpus=r.optional(data, "quota_cpus", p, r.number),
    )


def _local_file(r: FieldReader, value: Any, where: str) -> LocalFile:
    data = r.obj(value, where)
    p = f"{where}."
    return LocalFile(
        repo=r.required(data, "repo", p, r.text),
        path=r.required(data, "path", p, r.text),
        location=r.required(data, "location", p, r.text),
        size_bytes=r.optional(data, "size_bytes", p, r.bytes_),
    )


def _probe(r: FieldReader, value: Any, where: str) -> ProbeInfo:
    data = r.obj(value, where)
    p = f"{where}."
    return ProbeInfo(
        version=r.optional(data, "version", p, r.text),
        collected_at=r.optional(data, "collected_at", p, r.text),
        driver_version=r.optional(data, "driver_version", p, r.text),
        cuda_driver_version=r.optional(data, "cuda_driver_version", p, r.text),
        nvml=r.optional(data, "nvml", p, r.text),
    )


def from_dict(data: Any, source: str = "inventory") -> Inventory:
    """Build an ``Inventory`` from parsed JSON, or raise ``InventoryError`` naming ``source`` and the field."""
    r = FieldReader(source, InventoryError)
    top = r.obj(data, "top level")
    schema = top.get("schema")
    if schema is None:
        raise r.fail("schema", f'required field is missing (expected "{SCHEMA}")')
    if schema != SCHEMA:
        # a schema of ours is named; anything else may be some other file's content, which is never quoted
        named = repr(schema) if isinstance(schema, str) and schema.startswith("vram-advisor/") else "of another kind"
        raise r.fail("schema", f'unsupported schema {clean_text(named)[:80]} (this version reads "{SCHEMA}")')
    gpus = r.optional(top, "gpus", "", lambda v, w: r.items(v, w, lambda x, y: _gpu(r, x, y)))
    disks = r.optional(top, "disks", "", lambda v, w: r.items(v, w, lambda x, y: _disk(r, x, y)))
    return Inventory(
        ram=r.required(top, "ram", "", lambda v, w: _ram(r, v, w)),
        gpus=gpus or (),
        disks=disks or (),
        hostname=r.optional(top, "hostname", "", r.text),
        cpu=r.optional(top, "cpu", "", lambda v, w: _cpu(r, v, w)),
        interconnect=r.optional(top, "interconnect", "", r.texts) or (),
        probe=r.optional(top, "probe", "", lambda v, w: _probe(r, v, w)),
        notes=r.optional(top, "notes", "", r.texts) or (),
        local_files=r.optional(top, "local_files", "", lambda v, w: r.items(v, w, lambda x, y: _local_file(r, x, y)))
        or (),
    )


def loads(text: str | bytes, source: str = "inventory") -> Inventory:
    """Parse one inventory from JSON text (or UTF-8 bytes), through the bounded reader (``core.boundedjson``)."""
    data = boundedjson.load(text, source, InventoryError, INVENTORY_LIMITS)
    return from_dict(data, source)


def load(path: str, timeout_s: float | None = None) -> Inventory:
    """Read an inventory from a file, or from standard input when ``path`` is ``-``: the same bytes give the same
    answer either way (invalid UTF-8 is refused from both); a FIFO or device waits at most ``timeout_s``."""
    raw, source = inputfiles.read_limited(
        path, MAX_INVENTORY_BYTES, InventoryError, "an inventory JSON object", timeout_s
    )
    return loads(raw, source)


def all_notes(inventory: Inventory) -> tuple[str, ...]:
    """Inventory-level notes followed by each GPU's notes, prefixed with the GPU."""
    notes = list(inventory.notes)
    for position, gpu in enumerate(inventory.gpus):
        label = f"GPU {gpu.index if gpu.index is not None else position}"
        notes.extend(f"{label}: {note}" for note in gpu.notes)
    return tuple(notes)


__all__ = [
    "DISK_KINDS",
    "SCHEMA",
    "VENDORS",
    "Cpu",
    "Disk",
    "Gpu",
    "Inventory",
    "LocalFile",
    "MigDevice",
    "ProbeInfo",
    "Ram",
    "all_notes",
    "dumps",
    "from_dict",
    "load",
    "loads",
    "to_dict",
]


def select_disk(inventory: Inventory, model_dir: str | None) -> Disk | None:
    """The disk under ``model_dir``: the inventory disk whose path is the longest prefix of it.

    Without ``model_dir`` it is the disk the probe marked as the model dir (or the only/first disk listed).
    """
    if not inventory.disks:
        return None
    if model_dir is None:
        return next((d for d in inventory.disks if d.model_dir), inventory.disks[0])
    wanted = posixpath.normpath(model_dir)  # "/models/../etc" is under "/", not "/models"
    best: Disk | None = None
    best_length = -1
    for disk in inventory.disks:
        for root in (disk.path, disk.mountpoint):
            if not root:
                continue
            root = root.rstrip("/") or "/"
            inside = root == "/" or wanted == root or wanted.startswith(root + "/")
            if inside and len(root) > best_length:
                best, best_length = disk, len(root)
    return best
