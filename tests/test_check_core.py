"""``plan.check.check`` is pure: it runs with the network, the environment and the probe all unavailable, and the
same inputs give the same report. The JSON and the human view are formats of that one report."""

from __future__ import annotations

import builtins
import os
import socket
import subprocess
from typing import Any

import pytest

from conftest import gpu, inventory_dict
from vram_advisor.catalog.profiles import packaged_catalog
from vram_advisor.inventory import model as inv
from vram_advisor.plan.check import CheckOptions, check
from vram_advisor.report.check import check_document


def _machine() -> inv.Inventory:
    return inv.from_dict(
        inventory_dict([gpu("NVIDIA H100 80GB HBM3", 81559, 480, index=i) for i in range(8)], ram_gib=2048)
    )


def test_check_runs_with_network_environment_and_probe_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    catalog, machine = packaged_catalog(), _machine()  # loaded before the world goes away

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("check() reached outside its inputs")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)
    monkeypatch.setattr(builtins, "open", refuse)
    monkeypatch.setattr(os, "environ", {})
    monkeypatch.setattr(os, "getenv", refuse)
    import vram_advisor.probe as probe

    monkeypatch.setattr(probe, "collect_inventory", refuse)
    report = check(machine, catalog, CheckOptions(context_tokens=131072, require=("deepseek-v4-flash", "q4")))
    assert report.plan.recommendation.kind in ("local", "offload", "api")
    assert report.plan.required is not None
    assert report.options.context_tokens == 131072
    assert report.estimates.context_tokens == 131072


def test_same_inputs_same_document() -> None:
    catalog = packaged_catalog()
    first = check_document(check(_machine(), catalog, CheckOptions()))
    second = check_document(check(_machine(), catalog, CheckOptions()))
    assert first == second
    assert first["recommendation"]["model"] is not None


def test_the_document_reads_the_report_and_nothing_else() -> None:
    """Every verdict field of the JSON is the report's own value."""
    report = check(_machine(), packaged_catalog(), CheckOptions(base=True))
    document = check_document(report)
    rec = report.plan.recommendation
    assert document["recommendation"]["kind"] == rec.kind
    assert document["recommendation"]["model"] == (rec.option.model.id if rec.option else None)
    assert [o["fit"] for o in document["options"]] == [o.fit for o in report.plan.options]
    assert document["warnings"] == list(report.warnings)
    assert document["notes"] == list(report.notes)
    assert document["base"] is True
