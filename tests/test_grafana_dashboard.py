"""deploy/grafana/vram-advisor.json: the dashboard queries only metrics the program exports (the names
``report/metrics.py``, the one writer, writes), or the few of Prometheus and node_exporter it names on purpose."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import full_inventory
from vram_advisor.report import metrics

DASHBOARD = Path(__file__).resolve().parent.parent / "deploy" / "grafana" / "vram-advisor.json"
#: Not ours, and named on purpose: Prometheus's scrape health, node_exporter's textfile collector
#: (https://github.com/prometheus/node_exporter/blob/master/collector/textfile.go).
ALLOWED_OTHERS = {"up", "node_textfile_mtime_seconds", "node_textfile_scrape_error"}
#: Labels every scraped series carries beside its own.
TARGET_LABELS = {"job", "instance"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAME = re.compile(r"(?<![\w.$:])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers that are not functions, aggregations, keywords,
    label names, label values, durations or Grafana variables."""
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = _GROUPING.sub(" ", text)
    return {
        match.group(1)
        for match in _NAME.finditer(text)
        if match.group(2) is None and match.group(1) not in KEYWORDS and not match.group(1).startswith("$")
    }


def selectors(expr: str) -> Iterator[tuple[str, set[str]]]:
    """(metric, label names its matcher names) for each ``name{...}`` of the expression."""
    for match in re.finditer(r"([A-Za-z_:][A-Za-z0-9_:]*)\{([^}]*)\}", expr):
        yield (
            match.group(1),
            set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)", _STRING.sub('""', match.group(2)))),
        )


def queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every target of every panel (rows included) and every variable's query."""

    def walk(value: Any, where: str) -> Iterator[tuple[str, str]]:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "expr" and isinstance(item, str):
                    yield where, item
                else:
                    yield from walk(item, f"{where}/{value.get('title', key)}" if key == "targets" else where)
        elif isinstance(value, list):
            for item in value:
                yield from walk(item, where)

    yield from walk(dashboard.get("panels", []), "panels")
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        text = query.get("query") if isinstance(query, dict) else query
        found = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", text or "")
        if found:
            yield f"variable {variable['name']}", found.group(1)


@pytest.fixture(scope="module")
def exported() -> dict[str, set[str]]:
    """Every family the writer writes (name -> its labels): the check families of a machine with every field
    known (a container limit too), and the agent's own."""
    document: dict[str, Any] = {
        "usable_vram_bytes": 1,
        "spare_ram_bytes": 1,
        "gpu_count": 1,
        "inventory": full_inventory(1) | {"ram": {"total_bytes": 3, "available_bytes": 2, "limit_bytes": 1}},
        "options": [{"model": "m", "quant": "q4", "fit": "comfortable"}],
        "recommendation": {"kind": "local", "model": "m", "quant": "q4", "fit": "comfortable"},
    }
    families = [*metrics.check_families([document]), *metrics.agent_families(0.0, False, "0")]
    return {family.name: set(family.labels) for family in families}


def test_the_dashboard_is_grafana_json() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] and dashboard["title"] and isinstance(dashboard["schemaVersion"], int)
    panels = dashboard["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["targets"] and all(target["expr"].strip() for target in panel["targets"]), panel["title"]
            assert panel["datasource"]["uid"] == "${datasource}"  # the variable: imported or provisioned alike
    assert "datasource" in {variable["name"] for variable in dashboard["templating"]["list"]}


def test_every_metric_the_dashboard_queries_is_exported(exported: dict[str, set[str]]) -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    used: set[str] = set()
    for where, expr in queries(dashboard):
        names = metric_names(expr)
        assert names, (where, expr)
        unknown = names - set(exported) - ALLOWED_OTHERS
        assert not unknown, f"{where}: {expr!r} queries {sorted(unknown)}, which nothing exports"
        used |= names
        for metric, labels in selectors(expr):
            if metric in exported:
                assert labels <= exported[metric] | TARGET_LABELS, (where, metric, labels)
    # what the issue asks of it: fleet totals, verdicts, model and quant per node, headroom, stale nodes
    assert {
        "vram_advisor_usable_vram_bytes",
        "vram_advisor_recommendation_info",
        "vram_advisor_option_fit",
        "vram_advisor_spare_ram_bytes",
        "vram_advisor_build_info",
    } <= used
    assert used >= ALLOWED_OTHERS


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (instance) (rate(foo_total{a="b", job=~"$job"}[5m])) / on(x) group_left(y) bar', {"foo_total", "bar"}),
        ('time() - timestamp(up{job="x"}) > 300 and vram_advisor_gpus offset 5m', {"up", "vram_advisor_gpus"}),
        ('count(vram_advisor_option_fit{model="by(x)"} >= 2) or vector(0)', {"vram_advisor_option_fit"}),
        ("max_over_time(node_textfile_mtime_seconds[1h:1m]) * 1e3 + $__interval_ms", {"node_textfile_mtime_seconds"}),
    ],
)
def test_metric_names_finds_the_selected_metrics_and_nothing_else(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_an_unexported_metric_would_be_caught(exported: dict[str, set[str]]) -> None:
    assert metric_names("sum(vram_advisor_usable_vram_byte)") - set(exported) == {"vram_advisor_usable_vram_byte"}
    (selected,) = selectors('vram_advisor_option_fit{model="m", quantization="q4"}')
    assert not selected[1] <= exported["vram_advisor_option_fit"] | TARGET_LABELS
