"""Plans that need several nodes (contract, Cluster): for each option that no single node can hold (its usable VRAM
does not meet the option's minimum), the smallest number of nodes whose summed usable VRAM meets it. Among groups of
that size, the best fit comes first (``comfortable`` before ``minimum``; the largest nodes give the best fit any group
of that size can have), then identical nodes (same GPU model and count), then nodes whose interconnect the probe saw
(InfiniBand/RDMA between nodes, NVLink inside), then the fewest GPUs. The fit of a group is the option's fit on the
summed usable VRAM. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate
from typing import NamedTuple, Protocol

from vram_advisor.catalog.profiles import ModelProfile, QuantRow
from vram_advisor.core.records import Record, dataclass
from vram_advisor.fleet.nodefacts import INFINIBAND, NVLINK, RDMA
from vram_advisor.inventory.model import MeasuredSpeed
from vram_advisor.plan import rules as plan
from vram_advisor.plan.machine import Fit
from vram_advisor.plan.rules import COMFORTABLE, MINIMUM, Machine, Option

_FIT_ORDER = {COMFORTABLE: 0, MINIMUM: 1}


class Grouped(Protocol):
    """What the multi-node plans read of a group of identical nodes (``planner.HardwareGroup``)."""

    @property
    def id(self) -> int: ...
    @property
    def nodes(self) -> list[int]: ...


class Node(NamedTuple):
    """One planned node. ``name`` is unique in the plan; ``hostname`` is what the node reported."""

    name: str
    source: str
    hostname: str | None
    group: int
    entry: int
    usable_vram_bytes: int
    gpu_count: int
    interconnect: frozenset[str]
    hidden_gpus: int
    #: this node's own spare RAM (nodes of one step share an answer, not their RAM)
    spare_ram_bytes: int = 0
    #: the decode speeds ``verify`` measured on this node (``nodefacts.NodeFacts.measured``)
    measured: tuple[MeasuredSpeed, ...] = ()


@dataclass(frozen=True, repr=False)
class MultiNodePlan(Record):
    """An option no single node holds, and the smallest group of nodes that holds it."""

    option: Option
    fit: str
    nodes: tuple[int, ...]
    usable_vram_bytes: int
    gpu_count: int
    group: int | None
    interconnect: tuple[str, ...]
    interconnect_note: str
    #: What to do about a link between the nodes that the probes did not see (None when InfiniBand or RDMA was seen).
    link_advice: str | None
    comfortable_node_count: int | None


def _bisect_meets(prefix: Sequence[int], threshold_bytes: int) -> int | None:
    """The fewest leading nodes (largest first, ``prefix`` = running sums) whose VRAM reaches ``threshold_bytes``
    (a row's ``min_threshold_bytes``: the table's figure at 98%, the need whole)."""
    low, high = 0, len(prefix)
    while low < high:
        middle = (low + high) // 2
        if prefix[middle] >= threshold_bytes:
            high = middle
        else:
            low = middle + 1
    return low + 1 if low < len(prefix) else None


def _link_summary(nodes: Sequence[Node]) -> tuple[tuple[str, ...], str, str | None, int]:
    """The interconnect every node of a group has, a note for people, the advice when the link between the nodes
    is unknown, and a score (higher is better)."""
    count = len(nodes)
    with_ib = sum(1 for node in nodes if INFINIBAND in node.interconnect)
    with_rdma = sum(1 for node in nodes if INFINIBAND in node.interconnect or RDMA in node.interconnect)
    multi_gpu = [node for node in nodes if node.gpu_count > 1]
    with_nvlink = sum(1 for node in multi_gpu if NVLINK in node.interconnect)
    kinds: list[str] = []
    parts: list[str] = []
    advice = None
    score = 0
    if multi_gpu and with_nvlink == len(multi_gpu):
        kinds.append(NVLINK)
        parts.append("NVLink inside each node")
        score += 1
    if with_ib == count:
        kinds.append(INFINIBAND)
        parts.append("InfiniBand between nodes")
        score += 4
    elif with_rdma == count:
        kinds.append(RDMA)
        parts.append("RDMA (InfiniBand or RoCE) between nodes")
        score += 3
    else:
        seen = f" (seen on {with_rdma} of {count} nodes)" if with_rdma else ""
        advice = (
            f"no InfiniBand or RDMA device seen on every node{seen}; over plain Ethernet, split the model by "
            "pipeline stages rather than tensor parallel"
        )
        parts.append(f"link between nodes unknown: {advice}")
    return tuple(kinds), "; ".join(parts), advice, score


class _Pool(NamedTuple):
    """Nodes to draw a group from, largest usable VRAM first, with running sums."""

    group: int | None
    order: list[int]
    prefix: list[int]


def _node_link_score(node: Node) -> int:
    links = node.interconnect
    return (4 if INFINIBAND in links else 3 if RDMA in links else 0) + (1 if NVLINK in links else 0)


def _pool(nodes: Sequence[Node], indices: Sequence[int], group: int | None) -> _Pool:
    """Largest usable VRAM first; among equals, nodes with a known interconnect first, then input order."""
    order = sorted(indices, key=lambda i: (-nodes[i].usable_vram_bytes, -_node_link_score(nodes[i]), i))
    return _Pool(group, order, list(accumulate(nodes[i].usable_vram_bytes for i in order)))


def multi_node_plans(
    nodes: Sequence[Node], groups: Sequence[Grouped], ranked: Sequence[tuple[ModelProfile, QuantRow]]
) -> list[MultiNodePlan]:
    """For each option (best-ranked first) that no single node holds, the smallest group of nodes that holds it."""
    if len(nodes) < 2:
        return []
    best_single = max(node.usable_vram_bytes for node in nodes)
    everyone = _pool(nodes, range(len(nodes)), None)
    identical = [_pool(nodes, group.nodes, index) for index, group in enumerate(groups) if len(group.nodes) >= 2]
    plans: list[MultiNodePlan] = []
    for rank, (model, quant) in enumerate(ranked):
        if best_single >= quant.min_threshold_bytes:
            continue  # a single node holds it: not a multi-node plan
        count = _bisect_meets(everyone.prefix, quant.min_threshold_bytes)
        if count is None:
            continue  # not even the whole fleet holds it
        candidates = [pool for pool in identical if len(pool.order) >= count]
        candidates = [pool for pool in candidates if pool.prefix[count - 1] >= quant.min_threshold_bytes]
        candidates.append(everyone)  # the largest nodes: the best fit a group of this size can have

        def preference(pool: _Pool, count: int = count, quant: QuantRow = quant) -> tuple[int, int, int, int, int]:
            chosen = [nodes[i] for i in pool.order[:count]]
            total = pool.prefix[count - 1]
            fit = _group_fit(quant, total, chosen)
            mixed = 1 if pool.group is None else 0
            return (_FIT_ORDER[fit], mixed, -_link_summary(chosen)[3], sum(n.gpu_count for n in chosen), total)

        pool = min(candidates, key=preference)
        chosen_indices = tuple(pool.order[:count])
        chosen = [nodes[i] for i in chosen_indices]
        total = pool.prefix[count - 1]
        kinds, note, advice, _score = _link_summary(chosen)
        option = Option(model=model, quant=quant, fit=_group_fit(quant, total, chosen), rank=rank)
        comfortable = _bisect_meets(pool.prefix, quant.safer_threshold_bytes)
        plans.append(
            MultiNodePlan(
                option=option,
                fit=option.fit,
                nodes=chosen_indices,
                usable_vram_bytes=total,
                gpu_count=sum(node.gpu_count for node in chosen),
                group=None if pool.group is None else groups[pool.group].id,
                interconnect=kinds,
                interconnect_note=note,
                link_advice=advice,
                comfortable_node_count=comfortable,
            )
        )
    return plans


def _group_fit(quant: QuantRow, total_bytes: int, chosen: Sequence[Node]) -> Fit:
    """The option's fit on the group's summed usable VRAM (comfortable or minimum: the group meets the minimum)."""
    machine = Machine(
        usable_vram_bytes=total_bytes, spare_ram_bytes=0, gpu_count=sum(node.gpu_count for node in chosen)
    )
    return plan.fit_of(quant, machine)
