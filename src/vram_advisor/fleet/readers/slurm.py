"""Slurm without probes: ``scontrol show nodes --json`` read into inventories.

Slurm knows each node's generic resources (``gres``, e.g. ``gpu:h100:8(S:0-1)`` or, with ``AutoDetect=nvml``,
``gpu:nvidia_h100_80gb_hbm3:8(S:0-1)``) and its memory (``real_memory``, in megabytes of 1024 x 1024 bytes:
slurm.conf(5) ``RealMemory``), but not GPU memory: the card's capacity comes from the known-card table (``cards``,
real NVML totals). A GPU type that table does not know, a type that could be several cards (``a100``), or a ``gpu``
gres without a type cannot be planned: that node is reported, naming the gres. Node features named ``ib`` /
``infiniband`` / ``nvlink`` (site-defined, case-insensitive) mark the interconnect.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from vram_advisor.core import numbers, units
from vram_advisor.core.errors import InventoryError
from vram_advisor.core.jsonread import FieldReader
from vram_advisor.fleet.inputs import RefusedItem, Skipped
from vram_advisor.inventory import cards
from vram_advisor.inventory.model import Gpu, Inventory, Ram
from vram_advisor.inventory.whatif import MAX_GPUS

WHAT = "the output of scontrol show nodes --json"
#: A cluster listing is one JSON document; this bounds it.
LISTING_LIMIT = 256 * 1024 * 1024

#: One gres entry: name[:type][:count] with an optional "(S:0-1)" / "(IDX:...)" tail; commas split entries outside
#: the parentheses.
_ENTRY = re.compile(r"[^,(]+(?:\([^)]*\))?")
_FEATURE_LINKS = {"ib": "infiniband", "infiniband": "infiniband", "nvlink": "nvlink", "rdma": "rdma", "roce": "rdma"}


def parse_gres(text: str) -> list[tuple[str | None, int]]:
    """The GPU entries of a gres string as (type or None, count); other resources (shard, mps...) are left out.

    ``gpu:h100:8(S:0-1)`` -> [("h100", 8)]; ``gpu:a100:2,gpu:v100:2`` -> [("a100", 2), ("v100", 2)];
    ``gpu:8`` -> [(None, 8)]; ``(null)`` or "" -> [].
    """
    out: list[tuple[str | None, int]] = []
    for match in _ENTRY.finditer(text):
        entry = match.group().split("(", 1)[0].strip()
        if not entry or entry == "null":
            continue
        parts = entry.split(":")
        if parts[0].strip().lower() != "gpu":
            continue
        rest = [part.strip() for part in parts[1:]]
        count = 1
        if rest and rest[-1].isdigit():
            try:
                count = numbers.parse_int(rest.pop(), 0, MAX_GPUS)
            except numbers.NumberError as exc:
                raise ValueError(f"gres entry {numbers.shown(entry)}: the GPU count: {exc}") from None
        gpu_type = rest[0] if rest and rest[0] else None
        if len(rest) > 1:
            raise ValueError(f"gres entry {numbers.shown(entry)} is not gpu[:TYPE][:COUNT]")
        out.append((gpu_type, count))
    return out


def _real_memory(r: FieldReader, node: Any) -> int:
    value = node.get("real_memory")
    if isinstance(value, dict):  # some data_parser versions wrap numbers: {"set": true, "number": N}
        if value.get("set") is False:
            raise r.fail("real_memory", "not set")
        value = value.get("number")
    if value is None:
        raise r.fail("real_memory", "required field is missing")
    megabytes = r.bytes_(value, "real_memory")
    if megabytes <= 1:
        raise r.fail("real_memory", f"{megabytes} MB is not a real memory size (RealMemory unset in slurm.conf?)")
    return megabytes * units.MIB


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        return [part for part in value if isinstance(part, str)]
    return []


def node_inventory(item: Any, source: str) -> Inventory:
    """One Slurm node record as an inventory; raises ``InventoryError`` naming the node and the field."""
    r = FieldReader(source, InventoryError)
    node = r.obj(item, "node")
    name = r.required(node, "name", "", r.text)
    hostname = r.optional(node, "hostname", "", r.text) or name
    gres_text = r.optional(node, "gres", "", r.text) or ""
    try:
        entries = parse_gres(gres_text)
    except ValueError as exc:
        raise r.fail("gres", str(exc)) from None
    gpus: list[Gpu] = []
    for gpu_type, count in entries:
        if gpu_type is None:
            raise r.fail(
                "gres", f"{numbers.shown(gres_text)} names no GPU type, so the GPU memory is unknown (use gpu:TYPE:N)"
            )
        card = cards.lookup(gpu_type)
        if card is None:
            choices = cards.ambiguity(gpu_type)
            if choices:
                raise r.fail(
                    "gres", f"GPU type {numbers.shown(gpu_type)} could be {choices}: the GPU memory is unknown"
                )
            raise r.fail("gres", f"unknown GPU type {numbers.shown(gpu_type)} (known cards: {cards.known_names()})")
        if len(gpus) + count > MAX_GPUS:
            raise r.fail("gres", f"more than {MAX_GPUS} GPUs")
        gpus.extend(
            Gpu(
                name=card.nvml_name,
                memory_total_bytes=card.total_bytes,
                memory_reserved_bytes=card.reserved_bytes,
                vendor=card.vendor,
                unified=card.unified,
                index=len(gpus) + i,
            )
            for i in range(count)
        )
    notes = [f"from Slurm's node record ({source}); GPU memory from the known-card table ({cards.SOURCE})"]
    states = _texts(node.get("state"))
    unusable = [state for state in states if state.upper() in ("DOWN", "DRAIN", "DRAINED", "DRAINING", "FAIL")]
    if unusable:
        notes.append(f"node state {'+'.join(states)}")
    features = _texts(node.get("active_features")) or _texts(node.get("features"))
    links = sorted({_FEATURE_LINKS[f.lower()] for f in features if f.lower() in _FEATURE_LINKS})
    return Inventory(
        ram=Ram(total_bytes=_real_memory(r, node)),
        gpus=tuple(gpus),
        hostname=hostname,
        interconnect=tuple(links),
        notes=tuple(notes),
    )


def read_nodes(data: Any, source: str) -> Iterator[tuple[str, Inventory] | Skipped]:
    """Each node of a ``scontrol show nodes --json`` document."""
    r = FieldReader(source, InventoryError)
    top = r.obj(data, "top level")
    if "nodes" not in top:
        raise r.fail("nodes", f"missing: expected {WHAT}")
    items = r.items(top["nodes"], "nodes", lambda value, where: value)
    if not items:
        raise InventoryError(f"{source}: the listing has no nodes")
    for position, item in enumerate(items):
        data = item.data if isinstance(item, RefusedItem) else item
        name = data.get("name") if isinstance(data, dict) else None
        where = f"{source}:nodes[{position}]" + (f" ({name})" if isinstance(name, str) else "")
        if isinstance(item, RefusedItem):  # a number no reader takes (5000 digits, NaN): this node only
            yield Skipped(where, str(item.refusal))
            continue
        try:
            yield where, node_inventory(item, where)
        except InventoryError as exc:
            message = exc.message
            yield Skipped(where, message[len(where) + 2 :] if message.startswith(f"{where}: ") else message)
