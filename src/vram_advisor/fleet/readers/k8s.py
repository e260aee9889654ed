"""Kubernetes without running anything on the nodes: ``kubectl get nodes -o json`` read through the node labels that
NVIDIA GPU Feature Discovery (GFD) publishes.

GFD labels (NVIDIA k8s-device-plugin, docs/gpu-feature-discovery "Generated Labels"):

* ``nvidia.com/gpu.product``: the NVML name with spaces as dashes (``NVIDIA-H100-80GB-HBM3``); ``-SHARED`` is appended
  when GPUs are shared by time-slicing or MPS, ``-MIG-<profile>`` under the MIG ``single`` strategy;
* ``nvidia.com/gpu.memory``: NVML's total memory of one GPU in MiB (81559 on an H100 80GB HBM3; the MIG device's
  memory under the ``single`` strategy);
* ``nvidia.com/gpu.count``: physical GPUs (MIG devices under ``single``); ``nvidia.com/gpu.replicas``: how many
  schedulable replicas each is shared into (memory is not multiplied).

System memory is the node's ``status.capacity.memory`` (a Kubernetes quantity). The GPU name is matched against the
known-card table (``cards``) so that these nodes group with probed ones and get the card's reserved memory when the
label's total is the card's NVML total. RDMA labels of Node Feature Discovery
(``feature.node.kubernetes.io/rdma.available`` / ``rdma.capable``) mark an RDMA interconnect; a
``nvidia.com/gpu.clique`` label (multi-node NVLink) marks NVLink. A node with ``nvidia.com/gpu`` capacity but no GFD
labels is reported: its GPU memory is unknown (install GFD, or run the probe Job from the docs).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from vram_advisor.core import numbers, units
from vram_advisor.core.errors import InventoryError
from vram_advisor.core.jsonread import FieldReader
from vram_advisor.fleet.inputs import RefusedItem, Skipped
from vram_advisor.inventory import cards
from vram_advisor.inventory.model import Gpu, Inventory, Ram
from vram_advisor.inventory.whatif import MAX_GPUS

WHAT = "the output of kubectl get nodes -o json"
#: A cluster listing is one JSON document; this bounds it (about 25,000 nodes of 10 KiB each).
LISTING_LIMIT = 256 * 1024 * 1024

PRODUCT = "nvidia.com/gpu.product"
MEMORY = "nvidia.com/gpu.memory"
COUNT = "nvidia.com/gpu.count"
REPLICAS = "nvidia.com/gpu.replicas"
SHARING = "nvidia.com/gpu.sharing-strategy"
CLIQUE = "nvidia.com/gpu.clique"
GPU_RESOURCE = "nvidia.com/gpu"
RDMA_LABELS = ("feature.node.kubernetes.io/rdma.available", "feature.node.kubernetes.io/rdma.capable")
#: Largest single-GPU memory label accepted (16 TiB in MiB): anything larger is not a GPU.
MAX_GPU_MIB = 16 * 1024 * 1024


def _label_int(r: FieldReader, labels: Mapping[str, Any], key: str, low: int, high: int) -> int:
    where = f"metadata.labels[{key!r}]"
    try:
        return numbers.parse_int(r.text(labels.get(key), where), low, high)
    except numbers.NumberError as exc:
        raise r.fail(where, str(exc)) from None


def _gpu_name(product: str) -> tuple[str, cards.Card | None]:
    """The GPU name for a GFD product label, and the known card when it is one (not for a MIG slice)."""
    base = product
    for suffix in ("-SHARED",):
        if base.upper().endswith(suffix):
            base = base[: -len(suffix)]
    mig = base.upper().find("-MIG-")
    lookup_name = base if mig < 0 else base[:mig]
    card = cards.lookup(lookup_name)
    if card is None:
        return base.replace("-", " "), None
    if mig >= 0:
        return f"{card.nvml_name} MIG {base[mig + 5 :]}", None
    return card.nvml_name, card


def node_inventory(item: Any, source: str) -> Inventory:
    """One ``Node`` object as an inventory; raises ``InventoryError`` naming the node and the field."""
    r = FieldReader(source, InventoryError)
    node = r.obj(item, "node")
    metadata = r.required(node, "metadata", "", r.obj)
    name = r.required(metadata, "name", "metadata.", r.text)
    labels = r.optional(metadata, "labels", "metadata.", r.obj) or {}
    status = r.required(node, "status", "", r.obj)
    capacity = r.required(status, "capacity", "status.", r.obj)
    memory_text = r.required(capacity, "memory", "status.capacity.", r.text)
    try:
        ram_bytes = units.parse_k8s_quantity(memory_text)
    except units.SizeError as exc:
        raise r.fail("status.capacity.memory", str(exc)) from None
    notes = [f"from Kubernetes node labels ({source}); GPU memory from GPU Feature Discovery, not a probe"]
    interconnect: list[str] = []
    if any(str(labels.get(key, "")).lower() == "true" for key in RDMA_LABELS):
        interconnect.append("rdma")
    if labels.get(CLIQUE):
        interconnect.append("nvlink")
    gpus: tuple[Gpu, ...] = ()
    has_labels = any(key in labels for key in (PRODUCT, MEMORY, COUNT))
    if has_labels:
        product = r.required(labels, PRODUCT, "metadata.labels.", r.text)
        memory_mib = _label_int(r, labels, MEMORY, 1, MAX_GPU_MIB)
        count = _label_int(r, labels, COUNT, 0, MAX_GPUS)
        gpu_name, card = _gpu_name(product)
        reserved: int | None = None
        if card is not None and card.total_mib == memory_mib:
            reserved = card.reserved_bytes
            if reserved is not None:
                notes.append(f"reserved memory of {card.key} from the known-card table ({cards.SOURCE})")
        if REPLICAS in labels and str(labels.get(REPLICAS, "1")).strip() not in ("", "1"):
            notes.append(
                f"GPUs shared by {labels.get(SHARING) or 'sharing'} into {labels.get(REPLICAS)} replicas each; "
                "counted once, memory is not multiplied"
            )
        gpus = tuple(
            Gpu(
                name=gpu_name,
                memory_total_bytes=memory_mib * units.MIB,
                memory_reserved_bytes=reserved,
                index=i,
                vendor="nvidia",
                nvlink=True if labels.get(CLIQUE) else None,
            )
            for i in range(count)
        )
    else:
        resource = capacity.get(GPU_RESOURCE)
        if resource not in (None, "0", 0):
            raise r.fail(
                f"metadata.labels[{MEMORY!r}]",
                f"the node has {resource} {GPU_RESOURCE} but no GPU Feature Discovery labels, so its GPU memory is "
                "unknown (deploy GFD, or run the probe Job from the docs)",
            )
    return Inventory(
        ram=Ram(total_bytes=ram_bytes),
        gpus=gpus,
        hostname=name,
        interconnect=tuple(interconnect),
        notes=tuple(notes),
    )


def read_nodes(data: Any, source: str) -> Iterator[tuple[str, Inventory] | Skipped]:
    """Each node of a ``kubectl get nodes -o json`` listing (or of one ``kubectl get node NAME -o json``)."""
    r = FieldReader(source, InventoryError)
    top = r.obj(data, "top level")
    if top.get("kind") == "Node":
        items: list[Any] = [top]
    else:
        if "items" not in top:
            raise r.fail("items", f"missing: expected {WHAT} (a List of Node objects)")
        items = list(r.items(top["items"], "items", lambda value, where: value))
    if not items:
        raise InventoryError(f"{source}: the listing has no nodes")
    for position, item in enumerate(items):
        data = item.data if isinstance(item, RefusedItem) else item
        name = None
        if isinstance(data, dict) and isinstance(data.get("metadata"), dict):
            candidate = data["metadata"].get("name")
            name = candidate if isinstance(candidate, str) else None
        where = f"{source}:items[{position}]" + (f" ({name})" if name else "")
        if isinstance(item, RefusedItem):  # a number no reader takes (5000 digits, NaN): this node only
            yield Skipped(where, str(item.refusal))
            continue
        try:
            yield where, node_inventory(item, where)
        except InventoryError as exc:
            message = exc.message
            yield Skipped(where, message[len(where) + 2 :] if message.startswith(f"{where}: ") else message)
