"""What the cluster planner keeps of one node: a few numbers and names, read from an ``Inventory``.

``cluster`` reads thousands of inventories, so it keeps ``NodeFacts`` (GPU names and capacities, RAM, hostname,
interconnect) instead of whole inventories. Each one is read through the one inventory declaration
(``inventory.model.from_dict``: msgspec Structs), so a node is valid here exactly when ``check --inventory`` would
take it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from vram_advisor.inventory import model as inv
from vram_advisor.inventory.fingerprint import own_points
from vram_advisor.inventory.model import Inventory, MeasuredSpeed

#: Interconnect kinds the planner recognises, from ``Inventory.interconnect`` entries and GPU ``nvlink`` flags.
NVLINK = "nvlink"
INFINIBAND = "infiniband"
RDMA = "rdma"
_NOTHING: frozenset[str] = frozenset()
_NVLINK_ONLY = frozenset({NVLINK})
_KINDS_CACHE: dict[tuple[tuple[str, ...], bool], frozenset[str]] = {}
#: Distinct interconnect lists remembered; more are worked out each time.
MAX_KINDS = 256


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
    #: RAM's bandwidth as the inventory states it (``ram.bandwidth``: what ``probe --measure`` measured), and
    #: whether it was measured; None when not stated
    ram_bandwidth: tuple[int, bool] | None = None
    #: the decode speeds ``verify`` measured on this very node (its inventory's points for its own fingerprint)
    measured: tuple[MeasuredSpeed, ...] = ()


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
    if len(_KINDS_CACHE) < MAX_KINDS:
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
        ram_bandwidth=_stated_bandwidth(inventory.ram.bandwidth),
        measured=own_points(inventory) if inventory.measured else (),
    )


def _stated_bandwidth(reading: inv.BandwidthReading | None) -> tuple[int, bool] | None:
    """The node's stated RAM bandwidth, exactly: its speeds are the ones ``check`` gives on the node alone."""
    if reading is None or not reading.bytes_per_s:
        return None
    return reading.bytes_per_s, reading.measured is True


def ram_reading(stated: tuple[int, bool] | None) -> inv.BandwidthReading | None:
    """A node's stated RAM bandwidth (``NodeFacts.ram_bandwidth``) as the inventory reading the estimates use."""
    if stated is None:
        return None
    rate, measured = stated
    return inv.BandwidthReading(bytes_per_s=rate, measured=measured, method="the node's stated figure")


def read(data: Any, source: str) -> NodeFacts:
    """The facts of one parsed inventory; raises ``InventoryError`` naming ``source`` and the field when invalid."""
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
