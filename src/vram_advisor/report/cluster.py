"""The ``cluster`` result as data: the contract's JSON (``vram-advisor/cluster/v1``) and the rows of ``--csv``.

The human view reads the same ``ClusterPlan``, so the three outputs cannot disagree.
"""

from __future__ import annotations

import csv
import functools
import json
from collections.abc import Iterator
from typing import IO, Any

from vram_advisor.core import units
from vram_advisor.fleet.multinode import MultiNodePlan, Node
from vram_advisor.fleet.nodefacts import INFINIBAND, NVLINK, RDMA
from vram_advisor.fleet.planner import SCHEMA, ClusterPlan, HardwareGroup, MachinePlan
from vram_advisor.plan.estimate.speculative import speculative_dict
from vram_advisor.report.check import json_number, recommendation_dict, short_option
from vram_advisor.report.estimate import speed_dict

#: Interconnect kinds in the order they are listed.
LINK_ORDER = (NVLINK, INFINIBAND, RDMA)
#: ``--json`` is indented up to this many nodes and one line beyond (indenting 10,000 nodes costs a third of a second).
COMPACT_OVER_NODES = 1000

CSV_COLUMNS = (
    "hostname",
    "source",
    "group",
    "gpus",
    "gpu_count",
    "usable_vram_bytes",
    "usable_vram_gib",
    "spare_ram_bytes",
    "kind",
    "model",
    "quant",
    "fit",
    "experimental",
    "stretch_model",
    "stretch_quant",
    "stretch_fit",
)
#: Spreadsheets run a cell that starts with one of these as a formula; such text from a node gets a leading quote.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _group_dict(plan: ClusterPlan, group: HardwareGroup) -> dict[str, Any]:
    verdicts = []
    for verdict, count in group.verdicts.most_common():
        entry = plan.entries[group.examples[verdict]]
        verdicts.append(
            {**recommendation_dict(entry.recommendation), "stretch": short_option(entry.stretch), "nodes": count}
        )
    return {
        "id": group.id,
        "label": group.label,
        "gpus": [{"name": name, "count": count} for name, count in group.gpus],
        "gpu_count": group.gpu_count,
        "nodes": len(group.nodes),
        "usable_vram_bytes": {"min": group.usable_min, "max": group.usable_max},
        "recommendation": verdicts[0] if verdicts else None,
        "recommendations": verdicts,
    }


def _multi_dict(plan: ClusterPlan, multi: MultiNodePlan) -> dict[str, Any]:
    quant = multi.option.quant
    return {
        "model": multi.option.model.id,
        "quant": quant.id,
        "fit": multi.fit,
        "nodes": [plan.nodes[i].name for i in multi.nodes],
        "node_count": len(multi.nodes),
        "gpu_count": multi.gpu_count,
        "usable_vram_bytes": multi.usable_vram_bytes,
        "min_vram_gb": json_number(quant.min_vram_gb),
        "safer_vram_gb": json_number(quant.safer_vram_gb),
        "experimental": quant.experimental,
        "rank": multi.option.rank + 1,
        "identical_nodes": multi.group is not None,
        "group": multi.group,
        "comfortable_node_count": multi.comfortable_node_count,
        "interconnect": list(multi.interconnect) or ["unknown"],
        "interconnect_note": multi.interconnect_note,
    }


def _kinds(node: Node, cache: dict[frozenset[str], list[str]]) -> list[str]:
    kinds = cache.get(node.interconnect)
    if kinds is None:
        kinds = cache[node.interconnect] = [k for k in LINK_ORDER if k in node.interconnect]
    return kinds


def node_recommendation(entry: MachinePlan) -> dict[str, Any]:
    """A node's ``recommendation``, as ``check --json`` writes it (with the speed of where it runs)."""
    return {
        **recommendation_dict(entry.recommendation),
        "decode_tokens_per_s": _speed(entry),
    }


def _node_dict(plan: ClusterPlan, node: Node, cache: dict[frozenset[str], list[str]]) -> dict[str, Any]:
    entry = plan.entries[node.entry]
    row: dict[str, Any] = {
        "hostname": node.name,
        "source": node.source,
        "group": plan.groups[node.group].id,
        "gpu_count": node.gpu_count,
        "usable_vram_bytes": node.usable_vram_bytes,
        "spare_ram_bytes": node.spare_ram_bytes,
        "recommendation": node_recommendation(entry),
        "stretch": short_option(entry.stretch),
        "interconnect": _kinds(node, cache),
    }
    if node.measured:  # speeds verify measured on this node: beside its speed, and all of them listed
        _add_measured(row, entry, node)
    if node.name != node.hostname:
        row["reported_hostname"] = node.hostname
    if node.hidden_gpus:
        row["hidden_gpus_counted"] = node.hidden_gpus
    return row


def _summary_dict(plan: ClusterPlan) -> dict[str, Any]:
    """Everything of the document after the nodes."""
    return {
        "totals": {
            "nodes": len(plan.nodes),
            "gpus": plan.total_gpus,
            "usable_vram_bytes": plan.total_usable_vram_bytes,
            "spare_ram_bytes": plan.total_spare_ram_bytes,
            "groups": len(plan.groups),
            "skipped": plan.skipped_count,
        },
        "groups": [_group_dict(plan, group) for group in plan.groups],
        "multi_node": [_multi_dict(plan, multi) for multi in plan.multi_node],
        "skipped": [{"source": item.source, "reason": item.reason} for item in plan.skipped],
        "skipped_count": plan.skipped_count,
        "stopped_reading": [{"source": item.source, "reason": item.reason} for item in plan.stopped],
    }


def cluster_dict(plan: ClusterPlan) -> dict[str, Any]:
    """The whole ``cluster --json`` document."""
    cache: dict[frozenset[str], list[str]] = {}
    return {
        "schema": SCHEMA,
        "base": plan.base,
        "nodes": [_node_dict(plan, node, cache) for node in plan.nodes],
        **_summary_dict(plan),
    }


class CompactJson:
    """``cluster_dict`` as one line of JSON, written in pieces: ``head``, one ``node`` per node (joined by commas)
    and ``tail``, so that a large fleet can be written as it is planned. The nodes are assembled from parts encoded
    once per distinct answer (several times faster for thousands of nodes; a test checks the whole equals
    ``cluster_dict``)."""

    def __init__(self, base: bool) -> None:
        self.base = base
        self.dumps = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"))
        self.text = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) does to a string
        self._entries: dict[int, tuple[str, str]] = {}
        self._kinds: dict[frozenset[str], list[str]] = {}
        self._kinds_text: dict[frozenset[str], str] = {}

    def head(self) -> str:
        return self.dumps({"schema": SCHEMA, "base": self.base})[:-1] + ',"nodes":['

    def node(self, node: Node, entries: list[MachinePlan], group_id: int) -> str:
        """One node's object (``_node_dict``'s, key for key)."""
        parts = self._entries.get(node.entry)
        if parts is None:
            entry = entries[node.entry]
            parts = self._entries[node.entry] = (
                self.dumps(node_recommendation(entry)),
                self.dumps(short_option(entry.stretch)),
            )
        recommendation, stretch = parts
        kinds = self._kinds_text.get(node.interconnect)
        if kinds is None:
            kinds = self._kinds_text[node.interconnect] = self.dumps(_kinds(node, self._kinds))
        text = self.text
        part = (
            f'{{"hostname":{text(node.name)},"source":{text(node.source)},"group":{group_id},'
            f'"gpu_count":{node.gpu_count},"usable_vram_bytes":{node.usable_vram_bytes},'
            f'"spare_ram_bytes":{node.spare_ram_bytes},"recommendation":{recommendation},"stretch":{stretch},'
            f'"interconnect":{kinds}'
        )
        if node.name != node.hostname:
            part += f',"reported_hostname":{self.dumps(node.hostname)}'
        if node.hidden_gpus:
            part += f',"hidden_gpus_counted":{node.hidden_gpus}'
        return part + "}"

    def tail(self, plan: ClusterPlan) -> str:
        return f"],{self.dumps(_summary_dict(plan))[1:]}"


def _compact_json(plan: ClusterPlan) -> str:
    """``cluster_dict`` as one line of JSON (``CompactJson``'s pieces, all at once)."""
    writer = CompactJson(plan.base)
    nodes = ",".join(writer.node(node, plan.entries, plan.groups[node.group].id) for node in plan.nodes)
    return writer.head() + nodes + writer.tail(plan)


def utf8_safe(text: str) -> str:
    """Text that can be written as UTF-8: a lone surrogate (JSON allows ``"\\ud800"`` in a node's hostname) becomes
    its escape, which inside a JSON string is the same character again."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def cluster_json(plan: ClusterPlan, compact: bool | None = None) -> str:
    """The ``cluster --json`` document as text: indented, or one line (by default for more than 1,000 nodes)."""
    if compact is None:
        compact = len(plan.nodes) > COMPACT_OVER_NODES
    text = _compact_json(plan) if compact else json.dumps(cluster_dict(plan), indent=2, ensure_ascii=False)
    return utf8_safe(text)


def _cell(text: str | None) -> str:
    """Text from a node, safe for a spreadsheet (never read as a formula) and for UTF-8."""
    if not text:
        return ""
    if not text.isprintable():  # control characters (terminal escapes) are written as escapes, never raw
        text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    return utf8_safe("'" + text if text.startswith(_FORMULA_STARTS) else text)


def csv_rows(plan: ClusterPlan) -> Iterator[list[str | int]]:
    """One row per node, for ``--csv``."""
    yield list(CSV_COLUMNS)
    for node in plan.nodes:
        entry = plan.entries[node.entry]
        rec = recommendation_dict(entry.recommendation)
        stretch = short_option(entry.stretch) or {}
        group = plan.groups[node.group]
        yield [
            _cell(node.name),
            _cell(node.source),
            group.id,
            _cell(group.label),
            node.gpu_count,
            node.usable_vram_bytes,
            f"{units.gib(node.usable_vram_bytes):.1f}",
            node.spare_ram_bytes,
            rec["kind"],
            rec["model"] or "",
            rec["quant"] or "",
            rec["fit"] or "",
            "true" if rec["experimental"] else "false",
            stretch.get("model") or "",
            stretch.get("quant") or "",
            stretch.get("fit") or "",
        ]


def write_csv(plan: ClusterPlan, stream: IO[str]) -> None:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerows(csv_rows(plan))
    stream.flush()


def _add_measured(row: dict[str, Any], entry: MachinePlan, node: Node) -> None:
    """A node's own measured speeds: the one that speaks for its recommendation's speed (as ``check`` shows it),
    and the whole list, newest first."""
    from dataclasses import replace

    from vram_advisor.plan.measured import measured_placement, newest_first, point_dict

    option, placement = entry.recommendation.option, entry.run_placement
    if option is not None and placement is not None:
        engine = option.choice.engine.id if option.choice is not None else None
        measured = measured_placement(placement, node.measured, option.model.id, option.quant.id, engine)
        if measured.measured is not None:
            row["recommendation"]["decode_tokens_per_s"] = _speed(replace(entry, run_placement=measured))
    row["measured"] = [point_dict(p) for p in newest_first(node.measured)]


def _speed(entry: MachinePlan) -> dict[str, Any] | None:
    """A node's decode speed as ``check --json`` gives it: the run's placement, with drafting beside it."""
    if entry.run_placement is None:
        return None
    speed = speed_dict(entry.run_placement)
    if speed is not None:
        speed["speculative"] = speculative_dict(entry.speculative)
    return speed
