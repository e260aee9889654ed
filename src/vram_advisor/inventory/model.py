"""The hardware inventory, declared once as msgspec Structs (schema ``vram-advisor/inventory/v1``).

The inventory is what the probe writes (``probe --json``), what ``check --inventory``, ``cluster`` and the HTTP agent
read, and the only thing the planner sees of a machine. The Structs below are the one declaration of its fields:
their types say what each field holds (``Bytes``: a byte count, 0 to 1 EiB; ``Int``: an integer within 2**53;
``Number``: a finite number; a ``Literal``: a known word), and ``from_dict`` reads parsed JSON into them with
``msgspec.convert`` (https://jcristharif.com/msgspec/structs.html, https://jcristharif.com/msgspec/constraints.html).

Loading follows the contract: ``schema``, each GPU's ``name`` and ``memory_total_bytes`` and ``ram.total_bytes`` are
required; every other field is optional (missing or null = unknown) and unknown fields are ignored so that newer
inventories still load. Some inputs msgspec refuses are still read, as they always were: a byte count written as a
whole float (``8e10``), a known word in another case (``NVIDIA``: unknown words read as unknown), text that is not
printable (cleaned by ``jsonread.clean_text``), a null where a flag or a list is optional. For those, and to name a
refused field, ``from_dict`` walks the same declaration field by field (``_Reader``): every problem is an
``InventoryError`` naming the source and the field (``node.json: gpus[1].memory_total_bytes: ...``).
"""

# No ``from __future__ import annotations`` here: msgspec reads these classes' annotations when it first converts
# into them, and string annotations cost it an evaluation each (~1.3 ms of every ``check --inventory``).
import json
import posixpath
from types import UnionType
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import msgspec

from vram_advisor.core import boundedjson, inputfiles
from vram_advisor.core.errors import InventoryError
from vram_advisor.core.jsonread import MAX_BYTES, MAX_INTEGER, FieldReader, clean_text

SCHEMA = "vram-advisor/inventory/v1"

#: An inventory file or line larger than this is refused unread (inventories from nodes are untrusted input).
MAX_INVENTORY_BYTES = 4 * 1024 * 1024
#: What one inventory's JSON may hold (the bounded reader's limits).
INVENTORY_LIMITS = boundedjson.JsonLimits(max_bytes=MAX_INVENTORY_BYTES)

#: A byte count: a whole number from 0 to 1 EiB (``jsonread.MAX_BYTES``).
Bytes = Annotated[int, msgspec.Meta(ge=0, le=MAX_BYTES)]
#: An integer within the range a JSON number keeps exactly (``jsonread.MAX_INTEGER``).
Int = Annotated[int, msgspec.Meta(ge=-MAX_INTEGER, le=MAX_INTEGER)]
#: A finite number (an integer within ``MAX_INTEGER`` reads as a float).
Number = Annotated[float, msgspec.Meta(ge=-MAX_INTEGER, le=MAX_INTEGER)]
Vendor = Literal["nvidia", "amd", "apple", "intel"]
DiskKind = Literal["nvme", "ssd", "hdd", "unknown"]
VENDORS: tuple[str, ...] = get_args(Vendor)
DISK_KINDS: tuple[str, ...] = get_args(DiskKind)


_S = TypeVar("_S", bound="_Struct")


class _Struct(msgspec.Struct, frozen=True):
    """The base of the inventory's records: frozen, compared and hashed by value."""

    def replace(self: _S, **changes: Any) -> _S:
        """A copy with some fields changed (what-if overrides, visibility)."""
        return msgspec.structs.replace(self, **changes)


class MigDevice(_Struct, frozen=True):
    """One MIG instance of a GPU in MIG mode, with its own memory."""

    uuid: str | None = None
    memory_total_bytes: Bytes | None = None
    memory_free_bytes: Bytes | None = None
    memory_reserved_bytes: Bytes | None = None
    gpu_instance_id: Int | None = None
    compute_instance_id: Int | None = None


class Gpu(_Struct, frozen=True):
    """One accelerator as the probe saw it. ``memory_total_bytes`` is what the driver reports (NVML ``total``)."""

    name: str
    memory_total_bytes: Bytes
    index: Int | None = None
    vendor: Vendor | None = None
    uuid: str | None = None
    memory_reserved_bytes: Bytes | None = None
    memory_free_bytes: Bytes | None = None
    unified: bool = False
    pci_bus_id: str | None = None
    compute_capability: str | None = None
    memory_bus_width_bits: Int | None = None
    memory_clock_max_mhz: Int | None = None
    memory_bandwidth_bytes_per_s: Bytes | None = None
    pcie_generation: Int | None = None
    pcie_width: Int | None = None
    nvlink: bool | None = None
    mig_enabled: bool | None = None
    mig_devices: tuple[MigDevice, ...] = ()
    #: The GPU's own ``memory_total_bytes`` when ``visibility`` has put a MIG instance's memory in its place.
    memory_total_bytes_whole_gpu: Bytes | None = None
    visible: bool | None = None
    notes: tuple[str, ...] = ()

    @property
    def capacity_bytes(self) -> int:
        """Contract rule 2: what this GPU contributes to usable VRAM, total less the driver's reserved memory."""
        return max(0, self.memory_total_bytes - (self.memory_reserved_bytes or 0))


class BandwidthReading(_Struct, frozen=True):
    """A bandwidth ``probe --measure`` measured on this machine (``measured: true``), and how: the figure comes from
    the timed round that moved ``bytes`` in ``seconds`` with ``threads`` threads (the best of ``rounds``), the whole
    measurement took ``elapsed_seconds``. RAM: a memory copy, bytes read plus bytes written (the STREAM "copy"
    convention). Disk: a sequential read of the file at ``path`` that bypasses the page cache."""

    bytes_per_s: Bytes | None = None
    measured: bool | None = None
    method: str | None = None
    threads: Int | None = None
    bytes: Bytes | None = None
    seconds: Number | None = None
    rounds: Int | None = None
    elapsed_seconds: Number | None = None
    path: str | None = None


class Ram(_Struct, frozen=True):
    """System memory. ``limit_bytes`` is a container (cgroup) limit where one applies; ``bandwidth`` what
    ``probe --measure`` measured."""

    total_bytes: Bytes
    available_bytes: Bytes | None = None
    limit_bytes: Bytes | None = None
    swap_total_bytes: Bytes | None = None
    bandwidth: BandwidthReading | None = None

    @property
    def effective_bytes(self) -> int:
        """What a process here may use: the smaller of the host's RAM and the container limit."""
        if self.limit_bytes is None:
            return self.total_bytes
        return min(self.total_bytes, self.limit_bytes)


class Disk(_Struct, frozen=True):
    """A filesystem where weights could go. ``model_dir`` marks the one under ``--model-dir`` at probe time."""

    path: str
    kind: DiskKind | None = None
    total_bytes: Bytes | None = None
    free_bytes: Bytes | None = None
    device: str | None = None
    fstype: str | None = None
    mountpoint: str | None = None
    model_dir: bool = False
    #: sequential read bandwidth ``probe --measure`` measured on this disk
    read_bandwidth: BandwidthReading | None = None


class Cpu(_Struct, frozen=True):
    """CPU count as this process may use it (affinity and cgroup quota applied)."""

    logical_count: Int | None = None
    usable_count: Number | None = None
    quota_cpus: Number | None = None


class ProbeInfo(_Struct, frozen=True):
    """How and when the inventory was made."""

    version: str | None = None
    collected_at: str | None = None
    driver_version: str | None = None
    cuda_driver_version: str | None = None
    nvml: str | None = None


class LocalFile(_Struct, frozen=True):
    """A model file already on this machine's disk (a download's file found by a live probe): the repository it
    comes from, its path in that repository, where it lies, and its size."""

    repo: str
    path: str
    location: str
    size_bytes: Bytes | None = None


class MeasuredSpeed(_Struct, frozen=True):
    """A decode speed ``vram-advisor verify`` measured on this machine (the calibration store's point): which
    option ran where on which engine, what the client saw, and when. ``fingerprint`` names the machine
    (``inventory.fingerprint``): a point applies only to an inventory with the same one."""

    fingerprint: str
    model: str
    quant: str
    placement: str
    engine: str
    decode_tokens_per_s: Number
    measured_at: str
    first_token_s: Number | None = None
    tokens: Int | None = None
    context_tokens: Int | None = None
    engine_decode_tokens_per_s: Number | None = None
    served_model: str | None = None


class Inventory(_Struct, frozen=True):
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
    #: decode speeds ``verify`` measured on this machine (the calibration store's points for its fingerprint)
    measured: tuple[MeasuredSpeed, ...] = ()
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


# --------------------------------------------------------------------------------------------------- to JSON


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if isinstance(value, msgspec.Struct):
        return {name: _plain(getattr(value, name)) for name in value.__struct_fields__}
    return value


def to_dict(inventory: Inventory) -> dict[str, Any]:
    """The inventory as a JSON-ready dict, ``schema`` first."""
    body = _plain(inventory)
    return {"schema": body.pop("schema"), **body}


def read_point(item: object) -> MeasuredSpeed | None:
    """One stored measured speed (parsed JSON, the calibration store's) as a ``MeasuredSpeed``; None where it does not
    read or its speed is not a positive, finite figure."""
    try:
        point = msgspec.convert(item, MeasuredSpeed)
    except (msgspec.ValidationError, ValueError, TypeError):
        return None
    return point if 0 < point.decode_tokens_per_s < 1e6 else None


def plain_point(point: MeasuredSpeed) -> dict[str, Any]:
    """A measured speed as a JSON-ready dict."""
    plain: dict[str, Any] = _plain(point)
    return plain


def dumps(inventory: Inventory) -> str:
    """The inventory as one line of JSON (NDJSON-friendly for ``cluster -``)."""
    return json.dumps(to_dict(inventory), separators=(",", ":"), ensure_ascii=True)


# ------------------------------------------------------------------------------------------------- from JSON


def from_dict(data: Any, source: str = "inventory") -> Inventory:
    """Build an ``Inventory`` from parsed JSON, or raise ``InventoryError`` naming ``source`` and the field."""
    if type(data) is dict and data.get("schema") == SCHEMA:
        try:
            inventory = msgspec.convert(data, Inventory)
        except (msgspec.ValidationError, ValueError):  # ValueError: a lone surrogate, which msgspec cannot encode
            pass  # the field-by-field reader names the field (or reads what msgspec does not)
        else:
            if _as_read(inventory):
                return inventory
    return _Reader(source).inventory(data)


class _Line(Inventory, frozen=True, kw_only=True):
    """An inventory as one JSON text (an NDJSON line), decoded straight into the declaration: ``schema`` required,
    as ``from_dict`` requires it."""

    schema: str


_LINE_DECODER = msgspec.json.Decoder(_Line)


def decode_line(text: bytes | str) -> Inventory | None:
    """One JSON text decoded straight into the inventory (msgspec, no intermediate objects: a fleet's lines in a
    fraction of the time), where that gives exactly what parsing it and ``from_dict`` would; None otherwise (not
    JSON, a field msgspec refuses, one the field-by-field reader would clean or refuse), and the caller reads it the
    long way, which names the field. The caller keeps the bounded reader's size, depth and number limits."""
    try:
        found = _LINE_DECODER.decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError):
        return None
    return found if found.schema == SCHEMA and _as_read(found) else None


def _as_read(inventory: Inventory) -> bool:
    """Whether msgspec's reading is the field-by-field reader's: every text printable (else it is cleaned), no
    GPU's reserved memory above its total (else refused), numbers within their bounds as integers. (msgspec refuses
    NaN and infinities through the bounds already.)"""
    for gpu in inventory.gpus:
        if gpu.memory_reserved_bytes is not None and gpu.memory_reserved_bytes > gpu.memory_total_bytes:
            return False
    cpu = inventory.cpu
    # a ``Number`` is bounded after it became a float: an integer just past 2**53 rounds onto the bound
    if cpu is not None and any(n is not None and abs(n) >= MAX_INTEGER for n in (cpu.usable_count, cpu.quota_cpus)):
        return False
    readings = (inventory.ram.bandwidth, *(disk.read_bandwidth for disk in inventory.disks))
    for reading in readings:
        if reading is not None and any(
            n is not None and abs(n) >= MAX_INTEGER for n in (reading.seconds, reading.elapsed_seconds)
        ):
            return False
    try:
        encoded = msgspec.json.encode(inventory)
    except UnicodeEncodeError:  # a lone surrogate
        return False
    # msgspec writes control characters escaped and anything else beyond ASCII as it is: pure ASCII without a
    # backslash means every text is printable ASCII
    return (encoded.isascii() and b"\\" not in encoded) or _printable(inventory)


def _printable(value: Any) -> bool:
    """Every text in a record (walked): printable, as ``clean_text`` leaves it."""
    if isinstance(value, str):
        return value.isprintable()
    if isinstance(value, tuple):
        return all(_printable(item) for item in value)
    if isinstance(value, msgspec.Struct):
        return all(_printable(getattr(value, name)) for name in value.__struct_fields__)
    return True


#: Fields read before the others (in this order), so that the first problem named stays the one named before.
_READ_FIRST: dict[type, tuple[str, ...]] = {
    Gpu: ("memory_total_bytes", "memory_reserved_bytes", "mig_devices"),
    Inventory: ("gpus", "disks"),
}
_FIELDS: dict[type, tuple[Any, ...]] = {}


class _Reader(FieldReader):
    """The declaration above read field by field, each problem named with its path (``jsonread.FieldReader``)."""

    def __init__(self, source: str) -> None:
        super().__init__(source, InventoryError)

    def inventory(self, data: Any) -> Inventory:
        top = self.obj(data, "top level")
        schema = top.get("schema")
        if schema is None:
            raise self.fail("schema", f'required field is missing (expected "{SCHEMA}")')
        if schema != SCHEMA:
            # a schema of ours is named; anything else may be some other file's content, which is never quoted
            ours = isinstance(schema, str) and schema.startswith("vram-advisor/")
            named = repr(schema) if ours else "of another kind"
            raise self.fail("schema", f'unsupported schema {clean_text(named)[:80]} (this version reads "{SCHEMA}")')
        inventory: Inventory = self.record(Inventory, top, "top level")
        return inventory

    def record(self, cls: type, value: Any, where: str) -> Any:
        data = self.obj(value, where)
        prefix = "" if cls is Inventory else f"{where}."
        infos = _fields(cls)
        values: dict[str, Any] = {}
        for info in infos:
            name = info.name
            if name == "schema":
                continue
            raw = data.get(name)
            if raw is None:
                if info.required:
                    raise self.fail(f"{prefix}{name}", "required field is missing")
                continue
            values[name] = self.value(info.type, raw, f"{prefix}{name}")
            if cls is Gpu and name == "memory_reserved_bytes" and values[name] > values["memory_total_bytes"]:
                total = values["memory_total_bytes"]
                raise self.fail(f"{prefix}{name}", f"{values[name]} is more than memory_total_bytes ({total})")
        return cls(**values)

    def value(self, kind: Any, raw: Any, where: str) -> Any:
        if get_origin(kind) in (Union, UnionType):  # ``X | None``: null was handled by the caller
            kind = next(arg for arg in get_args(kind) if arg is not type(None))
        if kind == Bytes:
            return self.bytes_(raw, where)
        if kind == Int:
            return self.int_(raw, where)
        if kind == Number:
            return self.number(raw, where)
        if kind is str:
            return self.text(raw, where)
        if kind is bool:
            return self.flag(raw, where)
        if get_origin(kind) is Literal:
            return self.known(get_args(kind))(raw, where)
        if get_origin(kind) is tuple:
            item = get_args(kind)[0]
            if item is str:
                return self.texts(raw, where)
            return self.items(raw, where, lambda x, y: self.record(item, x, y))
        return self.record(kind, raw, where)


def _fields(cls: type) -> tuple[Any, ...]:
    """A record's fields (``msgspec.structs.FieldInfo``, types resolved), those of ``_READ_FIRST`` first."""
    known = _FIELDS.get(cls)
    if known is None:
        infos = {info.name: info for info in msgspec.structs.fields(cls)}
        first = _READ_FIRST.get(cls, ())
        known = (*(infos[name] for name in first), *(info for name, info in infos.items() if name not in first))
        _FIELDS[cls] = known
    return known


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
    "BandwidthReading",
    "Bytes",
    "Cpu",
    "Disk",
    "DiskKind",
    "Gpu",
    "Int",
    "Inventory",
    "LocalFile",
    "MeasuredSpeed",
    "MigDevice",
    "Number",
    "ProbeInfo",
    "Ram",
    "Vendor",
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
