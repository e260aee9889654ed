"""The ``cluster`` result as data: the contract's JSON (``vram-advisor/cluster/v1``) and the rows of ``--csv``.

The human view reads the same ``ClusterPlan``, so the three outputs cannot disagree.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import IO, Any

from vram_advisor import units
from vram_advisor.cluster import SCHEMA, ClusterPlan, HardwareGroup, MultiNodePlan
from vram_advisor.nodefacts import INFINIBAND, NVLINK, RDMA

#: Interconnect kinds in the order they are listed.
LINK_ORDER = (NVLINK, INFINIBAND, RDMA)

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


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 2)


def _group_dict(plan: ClusterPlan, group: HardwareGroup) -> dict[str, Any]:
    verdicts = []
    for verdict, count in group.verdicts.most_common():
        entry = plan.entries[group.examples[verdict]]
        verdicts.append({**entry.recommendation_dict, "stretch": entry.stretch_dict, "nodes": count})
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
        "min_vram_gb": _number(quant.min_vram_gb),
        "safer_vram_gb": _number(quant.safer_vram_gb),
        "experimental": quant.experimental,
        "rank": multi.option.rank + 1,
        "identical_nodes": multi.group is not None,
        "group": multi.group,
        "comfortable_node_count": multi.comfortable_node_count,
        "interconnect": list(multi.interconnect) or ["unknown"],
        "interconnect_note": multi.interconnect_note,
    }


def cluster_dict(plan: ClusterPlan) -> dict[str, Any]:
    """The whole ``cluster --json`` document."""
    kinds_cache: dict[frozenset[str], list[str]] = {}
    nodes = []
    for node in plan.nodes:
        entry = plan.entries[node.entry]
        kinds = kinds_cache.get(node.interconnect)
        if kinds is None:
            kinds = kinds_cache[node.interconnect] = [k for k in LINK_ORDER if k in node.interconnect]
        row: dict[str, Any] = {
            "hostname": node.name,
            "source": node.source,
            "group": plan.groups[node.group].id,
            "gpu_count": node.gpu_count,
            "usable_vram_bytes": node.usable_vram_bytes,
            "spare_ram_bytes": entry.machine.spare_ram_bytes,
            "recommendation": entry.recommendation_dict,
            "stretch": entry.stretch_dict,
            "interconnect": kinds,
        }
        if node.name != node.hostname:
            row["reported_hostname"] = node.hostname
        if node.hidden_gpus:
            row["hidden_gpus_counted"] = node.hidden_gpus
        nodes.append(row)
    return {
        "schema": SCHEMA,
        "base": plan.base,
        "nodes": nodes,
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
    }


def _cell(text: str | None) -> str:
    """Text from a node, safe for a spreadsheet (never read as a formula)."""
    if not text:
        return ""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_rows(plan: ClusterPlan) -> Iterator[list[str | int]]:
    """One row per node, for ``--csv``."""
    yield list(CSV_COLUMNS)
    for node in plan.nodes:
        entry = plan.entries[node.entry]
        rec = entry.recommendation_dict
        stretch = entry.stretch_dict or {}
        group = plan.groups[node.group]
        yield [
            _cell(node.name),
            _cell(node.source),
            group.id,
            _cell(group.label),
            node.gpu_count,
            node.usable_vram_bytes,
            f"{units.gib(node.usable_vram_bytes):.1f}",
            entry.machine.spare_ram_bytes,
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
