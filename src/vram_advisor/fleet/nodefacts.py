"""What the cluster planner keeps of one node: a few numbers and names, read from an ``Inventory`` or straight from JSON.

``cluster`` reads thousands of inventories, so it keeps ``NodeFacts`` (GPU names and capacities, RAM, hostname,
interconnect) instead of whole inventories, and reads them from parsed JSON through a fast path that validates every
field the way ``inventory.from_dict`` (``jsonread.FieldReader``) does without building the full dataclasses: types,
byte counts from 0 to ``jsonread.MAX_BYTES``, integers within ``jsonread.MAX_INTEGER``, finite numbers, any text for
the enumerations (``vendor``, a disk's ``kind``: an unknown word reads as unknown). The fast path only ever *accepts*
what ``from_dict`` accepts, with the same values: whenever a value is unusual (a float byte count, a missing required
field, a number out of range, text that ``from_dict`` would change, such as a lone surrogate) it declines and the
caller falls back to ``from_dict``, which either raises the proper error naming the field or returns the inventory.
If ``inventory.py`` gains fields this module does not know, the fast path switches itself off (``FAST_PATH``) rather
than accept something unchecked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import fields
from itertools import chain
from operator import gt, itemgetter
from typing import Any, NamedTuple

from vram_advisor.core.jsonread import MAX_BYTES, MAX_INTEGER
from vram_advisor.inventory import model as inv
from vram_advisor.inventory.model import Inventory

# Kinds of field checks, mirroring jsonread.FieldReader's readers (bytes_, int_, number, text, flag, texts, known).
# An enumeration (``known``) takes any text, as ``text`` does: a word it does not know reads as unknown.
_BYTES, _INT, _NUMBER, _TEXT, _FLAG, _TEXTS, _MIGS = range(7)
_WORD = _TEXT

_GPU_SPEC: dict[str, int] = {
    "name": _TEXT,
    "memory_total_bytes": _BYTES,
    "index": _INT,
    "vendor": _WORD,
    "uuid": _TEXT,
    "memory_reserved_bytes": _BYTES,
    "memory_free_bytes": _BYTES,
    "unified": _FLAG,
    "pci_bus_id": _TEXT,
    "compute_capability": _TEXT,
    "memory_bus_width_bits": _INT,
    "memory_clock_max_mhz": _INT,
    "memory_bandwidth_bytes_per_s": _BYTES,
    "pcie_generation": _INT,
    "pcie_width": _INT,
    "nvlink": _FLAG,
    "mig_enabled": _FLAG,
    "mig_devices": _MIGS,
    "memory_total_bytes_whole_gpu": _BYTES,
    "visible": _FLAG,
    "notes": _TEXTS,
}
_MIG_SPEC: dict[str, int] = {
    "uuid": _TEXT,
    "memory_total_bytes": _BYTES,
    "memory_free_bytes": _BYTES,
    "memory_reserved_bytes": _BYTES,
    "gpu_instance_id": _INT,
    "compute_instance_id": _INT,
}
_RAM_SPEC: dict[str, int] = {
    "total_bytes": _BYTES,
    "available_bytes": _BYTES,
    "limit_bytes": _BYTES,
    "swap_total_bytes": _BYTES,
}
_DISK_SPEC: dict[str, int] = {
    "path": _TEXT,
    "kind": _WORD,
    "total_bytes": _BYTES,
    "free_bytes": _BYTES,
    "device": _TEXT,
    "fstype": _TEXT,
    "mountpoint": _TEXT,
    "model_dir": _FLAG,
}
_CPU_SPEC: dict[str, int] = {"logical_count": _INT, "usable_count": _NUMBER, "quota_cpus": _NUMBER}
_PROBE_SPEC: dict[str, int] = {
    "version": _TEXT,
    "collected_at": _TEXT,
    "driver_version": _TEXT,
    "cuda_driver_version": _TEXT,
    "nvml": _TEXT,
}
#: Top-level fields other than the nested objects (gpus, disks, ram, cpu, probe), which are checked on their own.
_TOP_SPEC: dict[str, int] = {"hostname": _TEXT, "interconnect": _TEXTS, "notes": _TEXTS}
_TOP_NESTED = ("gpus", "disks", "ram", "cpu", "probe", "schema", "local_files")  # local_files: from_dict reads them


def _spec_matches_dataclasses() -> bool:
    """True when every field of the inventory dataclasses has a check here (else the fast path is off). A check for
    a field the dataclasses do not have (yet, or any more) is harmless: the fast path then declines more, never
    accepts more."""
    pairs = (
        (inv.Gpu, _GPU_SPEC.keys()),
        (inv.MigDevice, _MIG_SPEC.keys()),
        (inv.Ram, _RAM_SPEC.keys()),
        (inv.Disk, _DISK_SPEC.keys()),
        (inv.Cpu, _CPU_SPEC.keys()),
        (inv.ProbeInfo, _PROBE_SPEC.keys()),
        (inv.Inventory, {*_TOP_SPEC, *_TOP_NESTED}),
    )
    return all({f.name for f in fields(cls)} <= set(keys) for cls, keys in pairs)


#: Whether ``from_json`` may answer without ``inventory.from_dict`` (see the module docstring).
FAST_PATH = _spec_matches_dataclasses()

#: Interconnect kinds the planner recognises, from ``Inventory.interconnect`` entries and GPU ``nvlink`` flags.
NVLINK = "nvlink"
INFINIBAND = "infiniband"
RDMA = "rdma"
_NOTHING: frozenset[str] = frozenset()
_NVLINK_ONLY = frozenset({NVLINK})
_KINDS_CACHE: dict[tuple[tuple[str, ...], bool], frozenset[str]] = {}


class NodeFacts(NamedTuple):
    """One node as the cluster planner sees it.

    ``gpus`` holds one ``(name, memory_total_bytes, memory_reserved_bytes or 0, unified)`` per GPU, in order: every
    GPU of the node counts, whatever ``visible`` flag the probe wrote (the probe ran under the node's own
    CUDA_VISIBLE_DEVICES, not the one a job there will get). ``hidden_gpus`` counts those marked invisible.
    """

    hostname: str | None
    gpus: tuple[tuple[str, int, int, bool], ...]
    ram_total_bytes: int
    ram_available_bytes: int | None
    ram_limit_bytes: int | None
    ram_swap_bytes: int | None
    uuids: tuple[str, ...]
    interconnect: frozenset[str]
    hidden_gpus: int


def interconnect_kinds(entries: tuple[str, ...] | list[str], nvlink_flags: list[bool | None]) -> frozenset[str]:
    """The recognised interconnect kinds of a node: NVLink (every GPU linked, or the probe said so), InfiniBand or
    RDMA (devices the probe found under /sys/class/infiniband, or a reader's label)."""
    linked = bool(nvlink_flags) and nvlink_flags.count(True) == len(nvlink_flags)
    if not entries:
        return _NVLINK_ONLY if linked else _NOTHING
    key = (tuple(entries), linked)
    known = _KINDS_CACHE.get(key)
    if known is not None:
        return known
    kinds: set[str] = set()
    for entry in entries:
        word = entry.strip().lower()
        if word.startswith(("infiniband", "ib:", "ib ")) or word == "ib":
            kinds.add(INFINIBAND)
        elif word.startswith("nvlink"):
            kinds.add(NVLINK)
        elif word.startswith(("rdma", "roce")):
            kinds.add(RDMA)
    if linked:
        kinds.add(NVLINK)
    result = frozenset(kinds)
    if len(_KINDS_CACHE) < MAX_SHAPES:
        _KINDS_CACHE[key] = result
    return result


def from_inventory(inventory: Inventory) -> NodeFacts:
    """The facts of a loaded (or reader-built) inventory."""
    flags = [gpu.nvlink for gpu in inventory.gpus]
    return NodeFacts(
        hostname=inventory.hostname,
        gpus=tuple(
            (gpu.name, gpu.memory_total_bytes, gpu.memory_reserved_bytes or 0, gpu.unified) for gpu in inventory.gpus
        ),
        ram_total_bytes=inventory.ram.total_bytes,
        ram_available_bytes=inventory.ram.available_bytes,
        ram_limit_bytes=inventory.ram.limit_bytes,
        ram_swap_bytes=inventory.ram.swap_total_bytes,
        uuids=tuple(gpu.uuid for gpu in inventory.gpus if gpu.uuid),
        interconnect=interconnect_kinds(inventory.interconnect, flags),
        hidden_gpus=sum(1 for gpu in inventory.gpus if gpu.visible is False),
    )


# --------------------------------------------------------------------------------------------- fast path


_TYPES: dict[int, tuple[type, ...]] = {
    _BYTES: (int,),
    _INT: (int,),
    _NUMBER: (int, float),
    _TEXT: (str,),
    _FLAG: (bool,),
    _TEXTS: (list,),
    _MIGS: (list,),
}


def _same_text(text: str) -> bool:
    """Whether ``from_dict`` keeps this text as it is (``jsonread.clean_text`` changes exactly the text that is not
    printable: lone surrogates and control characters)."""
    return text.isprintable()


def _number_ok(value: Any) -> bool:
    """A number ``FieldReader.number`` takes: an integer within ``MAX_INTEGER`` or a finite float."""
    return -MAX_INTEGER <= value <= MAX_INTEGER if type(value) is int else math.isfinite(value)


#: Distinct object shapes (keys and value types) remembered per kind of object; more are checked uncached.
MAX_SHAPES = 256
_UNSEEN: Any = object()


class _Shape(NamedTuple):
    """What is left to check of GPU objects whose keys and value types are known to be right."""

    sizes: tuple[str, ...]
    integers: tuple[str, ...]
    texts: tuple[str, ...]
    migs: tuple[str, ...]


def _compile_shape(spec: Mapping[str, int], keys: tuple[str, ...], types: tuple[type, ...]) -> _Shape | None:
    """The checks left for objects with these keys and value types, or None when a type is wrong."""
    sizes: list[str] = []
    integers: list[str] = []
    texts: list[str] = []
    migs: list[str] = []
    for key, value_type in zip(keys, types, strict=True):
        kind = spec.get(key)
        if kind is None or value_type is type(None):
            continue
        if value_type not in _TYPES[kind]:
            return None
        if kind == _BYTES:
            sizes.append(key)
        elif kind == _INT:
            integers.append(key)
        elif kind == _TEXTS:
            texts.append(key)
        elif kind == _MIGS:
            migs.append(key)
    return _Shape(tuple(sizes), tuple(integers), tuple(texts), tuple(migs))


_Rules = dict[str, tuple[tuple[type, ...], int]]


def _rules(spec: Mapping[str, int]) -> _Rules:
    """A spec as key -> (allowed value types, kind), for one look-up per field."""
    return {key: (_TYPES[kind], kind) for key, kind in spec.items()}


_TOP_RULES = _rules(_TOP_SPEC)
_GPU_RULES = _rules(_GPU_SPEC)
_MIG_RULES = _rules(_MIG_SPEC)
_RAM_RULES = _rules(_RAM_SPEC)
_DISK_RULES = _rules(_DISK_SPEC)
_CPU_RULES = _rules(_CPU_SPEC)
_PROBE_RULES = _rules(_PROBE_SPEC)


def _valid(rules: _Rules, data: Any) -> bool:
    """Whether every known field of ``data`` passes its check (None = unknown = fine; unknown keys are ignored)."""
    if type(data) is not dict:
        return False
    for key, value in data.items():
        rule = rules.get(key)
        if rule is None or value is None:
            continue
        if type(value) not in rule[0]:
            return False
        kind = rule[1]
        if kind == _BYTES:
            if not 0 <= value <= MAX_BYTES:
                return False
        elif kind == _INT:
            if not -MAX_INTEGER <= value <= MAX_INTEGER:
                return False
        elif kind == _NUMBER:
            if not _number_ok(value):
                return False
        elif kind == _TEXTS:
            if any(type(item) is not str for item in value):
                return False
        elif kind == _MIGS and not all(_valid(_MIG_RULES, item) for item in value):
            return False
    return True


_GpuRead = tuple[tuple[tuple[str, int, int, bool], ...], tuple[str, ...], list[bool | None], int]


def _gpus_one_by_one(gpus: list[Any]) -> _GpuRead | None:
    rows: list[tuple[str, int, int, bool]] = []
    uuids: list[str] = []
    flags: list[bool | None] = []
    hidden = 0
    for gpu in gpus:
        if not _valid(_GPU_RULES, gpu):
            return None
        name = gpu.get("name")
        total = gpu.get("memory_total_bytes")
        if name is None or total is None or not _same_text(name):
            return None
        reserved = gpu.get("memory_reserved_bytes") or 0
        if reserved > total:
            return None
        rows.append((name, total, reserved, gpu.get("unified") is True))
        uuid = gpu.get("uuid")
        if uuid:
            if not _same_text(uuid):
                return None
            uuids.append(uuid)
        flags.append(gpu.get("nvlink"))
        if gpu.get("visible") is False:
            hidden += 1
    return tuple(rows), tuple(uuids), flags, hidden


class _GpuShape(NamedTuple):
    """Getters for a list of GPU objects that all have the same keys and value types (the usual case: one probe
    wrote them all), so that each check runs over the whole list at C speed."""

    name: Any
    total: Any
    reserved: Any
    unified: Any
    uuid: Any
    nvlink: Any
    visible: Any
    sizes: Any
    integers: tuple[Any, ...]
    texts: tuple[Any, ...]
    migs: tuple[Any, ...]


_GPU_SHAPES: dict[tuple[tuple[str, ...], tuple[type, ...]], _GpuShape | None] = {}


def _gpu_shape(keys: tuple[str, ...], types: tuple[type, ...]) -> _GpuShape | None:
    shape = _compile_shape(_GPU_SPEC, keys, types)
    present = {key for key, value_type in zip(keys, types, strict=True) if value_type is not type(None)}
    if shape is None or "name" not in present or "memory_total_bytes" not in present:
        return None

    def getter(key: str) -> Any:
        return itemgetter(key) if key in present else None

    return _GpuShape(
        name=itemgetter("name"),
        total=itemgetter("memory_total_bytes"),
        reserved=getter("memory_reserved_bytes"),
        unified=getter("unified"),
        uuid=getter("uuid"),
        nvlink=getter("nvlink"),
        visible=getter("visible"),
        # itemgetter of two or more keys returns a tuple; memory_total_bytes is always among them
        sizes=itemgetter("memory_total_bytes", *shape.sizes),
        integers=tuple(itemgetter(key) for key in shape.integers),
        texts=tuple(itemgetter(key) for key in shape.texts),
        migs=tuple(itemgetter(key) for key in shape.migs),
    )


def _gpus_alike(gpus: list[Any]) -> _GpuRead | None:
    """``_gpus_one_by_one`` for a list of GPUs of one shape, list-wide; other lists go one by one."""
    count = len(gpus)
    first = gpus[0]
    if type(first) is not dict:
        return None
    keys = tuple(first)
    try:
        types = tuple(map(type, chain.from_iterable(map(dict.values, gpus))))
    except TypeError:  # not every item is an object
        return None
    one = types[: len(keys)]
    if types != one * count or tuple(chain.from_iterable(gpus)) != keys * count:
        return _gpus_one_by_one(gpus)
    shape_key = (keys, one)
    shape = _GPU_SHAPES.get(shape_key, _UNSEEN)
    if shape is _UNSEEN:
        shape = _gpu_shape(*shape_key)
        if len(_GPU_SHAPES) < MAX_SHAPES:
            _GPU_SHAPES[shape_key] = shape
    if shape is None:
        return None
    sizes = list(map(shape.sizes, gpus))
    if min(map(min, sizes)) < 0 or max(map(max, sizes)) > MAX_BYTES:
        return None
    for get in shape.integers:
        integers = list(map(get, gpus))
        if min(integers) < -MAX_INTEGER or max(integers) > MAX_INTEGER:
            return None
    for get in shape.texts:
        if any(map(get, gpus)) and any(type(item) is not str for texts in map(get, gpus) for item in texts):
            return None
    for get in shape.migs:
        if any(map(get, gpus)) and not all(_valid(_MIG_RULES, item) for migs in map(get, gpus) for item in migs):
            return None
    names = list(map(shape.name, gpus))
    if not "".join(names).isascii() and not all(map(_same_text, names)):
        return None
    totals = list(map(shape.total, gpus))
    count = len(gpus)
    if shape.reserved is not None:
        reserved = list(map(shape.reserved, gpus))
        if any(map(gt, reserved, totals)):
            return None
    else:
        reserved = [0] * count
    unified = list(map(shape.unified, gpus)) if shape.unified is not None else [False] * count
    rows = tuple(zip(names, totals, reserved, unified, strict=True))
    uuids = tuple(filter(None, map(shape.uuid, gpus))) if shape.uuid is not None else ()
    if not "".join(uuids).isascii() and not all(map(_same_text, uuids)):
        return None
    flags: list[bool | None] = list(map(shape.nvlink, gpus)) if shape.nvlink is not None else [None] * count
    hidden = list(map(shape.visible, gpus)).count(False) if shape.visible is not None else 0
    return rows, uuids, flags, hidden


def from_json(data: Any) -> NodeFacts | None:
    """The facts of a parsed inventory when it is plainly valid, else None (then use ``inventory.from_dict``).

    Accepts only what ``inventory.from_dict`` accepts (tests check this against the real function).
    """
    if not FAST_PATH or type(data) is not dict or data.get("schema") != inv.SCHEMA or not _valid(_TOP_RULES, data):
        return None
    hostname: str | None = data.get("hostname")
    if (hostname is not None and not _same_text(hostname)) or data.get("local_files") not in (None, []):
        return None
    ram: dict[str, Any] = data.get("ram")  # type: ignore[assignment]
    if not _valid(_RAM_RULES, ram) or ram.get("total_bytes") is None:
        return None
    for key, rules in (("cpu", _CPU_RULES), ("probe", _PROBE_RULES)):
        value = data.get(key)
        if value is not None and not _valid(rules, value):
            return None
    disks = data.get("disks")
    if disks is not None:
        if type(disks) is not list:
            return None
        for disk in disks:
            if not _valid(_DISK_RULES, disk) or disk.get("path") is None:
                return None
    gpus = data.get("gpus")
    if gpus is None:
        gpus = []
    elif type(gpus) is not list:
        return None
    read = _gpus_alike(gpus) if len(gpus) > 1 else _gpus_one_by_one(gpus)
    if read is None:
        return None
    rows, uuids, flags, hidden = read
    return NodeFacts(
        hostname=hostname,
        gpus=rows,
        ram_total_bytes=ram["total_bytes"],
        ram_available_bytes=ram.get("available_bytes"),
        ram_limit_bytes=ram.get("limit_bytes"),
        ram_swap_bytes=ram.get("swap_total_bytes"),
        uuids=tuple(uuids),
        interconnect=interconnect_kinds(data.get("interconnect") or (), flags),
        hidden_gpus=hidden,
    )


def read(data: Any, source: str) -> NodeFacts:
    """The facts of one parsed inventory; raises ``InventoryError`` naming ``source`` and the field when invalid."""
    facts = from_json(data)
    if facts is not None:
        return facts
    return from_inventory(inv.from_dict(data, source))


#: Sources that name their node themselves (fleet/ray.py: ``ray:ADDRESS (NODE_ID)``): two Ray nodes are two nodes
#: even when their raylets share a host and its inventory.
_IDENTIFIED_SOURCES = ("ray:",)


def fingerprint(facts: NodeFacts, source: str) -> tuple[object, ...] | None:
    """What makes two readings the same machine: its hostname with its GPU UUIDs, or, for GPUs without UUIDs
    (other vendors, readers), with the whole inventory but the RAM available at the moment. None without a
    hostname."""
    if not facts.hostname:
        return None
    if facts.uuids:
        return (facts.hostname, facts.uuids)
    if source.startswith(_IDENTIFIED_SOURCES):
        return None
    return (
        facts.hostname,
        facts.gpus,
        facts.ram_total_bytes,
        facts.ram_limit_bytes,
        facts.ram_swap_bytes,
        facts.interconnect,
        facts.hidden_gpus,
    )
