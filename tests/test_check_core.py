"""``plan.check.check`` is pure: it runs with the network, the environment and the probe all unavailable, and the
same inputs give the same report. The JSON and the human view are formats of that one report."""

from __future__ import annotations

import builtins
import io
import os
import socket
import subprocess
from typing import Any, get_args, get_type_hints

import pytest
from rich.console import Console

from conftest import gpu, inventory_dict
from vram_advisor.catalog.derive import DerivedNeed
from vram_advisor.catalog.listing import RepoFile, RepoListing
from vram_advisor.catalog.profiles import packaged_catalog
from vram_advisor.core.errors import UsageError
from vram_advisor.inventory import model as inv
from vram_advisor.plan.check import ARTICLE_PREFIX, CheckOptions, CheckReport, check, differs
from vram_advisor.plan.machine import Fit, Kind, PlacementKind, RunsOn
from vram_advisor.render.human import check_view
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


def _listing(repo_id: str, files: tuple[tuple[str, int], ...]) -> RepoListing:
    """A Hub listing as ``hub.client`` builds it, written by hand: ``check`` reads it as data."""
    return RepoListing(
        repo_id=repo_id,
        revision="main",
        commit="a" * 40,
        include=(),
        files=tuple(RepoFile(path, size) for path, size in files),
        source="hub",
        complete=True,
        target="/models",
        target_kind="dir",
        local_consulted=True,
        gated=False,
        scratch_bytes=0,
        scratch_note="none",
    )


def test_a_download_is_data_that_check_judges_with_the_world_away(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--repo`` without a callback: the listing goes in, the typed listing and derived need come out (and the
    JSON prints both), with the network, the files and the environment unavailable."""
    catalog, machine = packaged_catalog(), _machine()
    listing = _listing("someone/mystery-Q4_K_M-GGUF", (("mystery-Q4_K_M.gguf", 90 * 10**9),))
    monkeypatch.setattr(socket, "socket", lambda *_a, **_k: pytest.fail("network"))
    monkeypatch.setattr(builtins, "open", lambda *_a, **_k: pytest.fail("file"))
    monkeypatch.setattr(os, "environ", {})
    report = check(machine, catalog, CheckOptions(), download=listing)
    assert report.download is listing
    assert isinstance(report.derived, DerivedNeed)
    assert report.derived.weights_bytes == 90 * 10**9
    assert report.plan.required is not None and report.plan.required.option.model.id == listing.repo_id
    assert "(derived: 90.0 GB of files x the" in report.plan.required.reason
    assert report.notes[-1] == "download scratch: none"
    assert report.family is None  # a download is the question: no V4.1 line beside it
    document = check_document(report)
    assert document["download"]["total_bytes"] == 90 * 10**9
    assert document["download"]["files"] == [{"path": "mystery-Q4_K_M.gguf", "size_bytes": 90 * 10**9, "local": False}]
    assert document["required"]["derived"]["weights_bytes"] == 90 * 10**9
    assert document["required"]["derived"]["reference"] == {"model": report.derived.ratios.model.id, "quant": "q4"}
    plain = check(machine, catalog, CheckOptions())
    assert plain.download is None and plain.derived is None and "download" not in check_document(plain)


def test_a_listing_no_engine_loads_is_refused_by_check() -> None:
    listing = _listing("someone/pickles", (("model.bin", 10**9),))
    with pytest.raises(UsageError, match="no engine here loads its files"):
        check(_machine(), packaged_catalog(), CheckOptions(), download=listing)


def test_the_report_has_no_untyped_field() -> None:
    """Every field of the report and of its options is typed with its real class (no ``object``, no ``Any``)."""
    only_for_types = {"RepoListing": RepoListing, "DerivedNeed": DerivedNeed}  # imported lazily by plan.check
    for record in (CheckReport, CheckOptions):
        for name, hint in get_type_hints(record, localns=only_for_types).items():
            words = repr(hint)
            assert "object" not in words and "Any" not in words, f"{record.__name__}.{name}: {words}"


def test_fits_placements_and_kinds_are_the_declared_words() -> None:
    """The Literal types name every value ``check`` gives, on machines from none to offload to comfortable."""
    catalog = packaged_catalog()
    seen: set[str] = set()
    for memory, count, ram in ((8192, 1, 16), (24564, 1, 512), (81559, 1, 256), (49140, 2, 256), (81559, 8, 2048)):
        machine = inv.from_dict(
            inventory_dict([gpu("NVIDIA H100 80GB HBM3", memory, 480, index=i) for i in range(count)], ram_gib=ram)
        )
        report = check(machine, catalog, CheckOptions())
        assert report.plan.recommendation.kind in get_args(Kind)
        for option in report.plan.options:
            assert option.fit in get_args(Fit)
            assert option.table_fit is None or option.table_fit in get_args(Fit)
            assert option.placement is None or option.placement in get_args(RunsOn)
            seen.add(option.fit)
        for estimate in report.estimates.options.values():
            assert {p.kind for p in estimate.placements} <= set(get_args(PlacementKind))
    assert seen == set(get_args(Fit)), seen  # the corpus reaches every fit, so the checks above are not vacuous


@pytest.mark.parametrize(("memory", "count"), [(81559, 1), (81559, 2), (98304, 1)])
def test_the_article_line_is_the_reports_own(memory: int, count: int) -> None:
    """Rule 9's "Article" line is a field of the report: the JSON and both views print it as it is."""
    machine = inv.from_dict(
        inventory_dict([gpu("NVIDIA H100 80GB HBM3", memory, 480, index=i) for i in range(count)], ram_gib=256)
    )
    report = check(machine, packaged_catalog(), CheckOptions())
    assert report.table_note is not None and report.table_note.startswith(ARTICLE_PREFIX)
    assert report.table_plan is not None and differs(report.table_plan, report.plan)
    assert check_document(report)["table_verdict"]["note"] == report.table_note
    console = Console(width=200, record=True, file=io.StringIO())
    for details in (False, True):
        console.print(check_view(report, details=details))
        assert report.table_note.removeprefix("the article ") in console.export_text()


def test_where_the_article_agrees_there_is_no_article_line() -> None:
    machine = inv.from_dict(
        inventory_dict([gpu("NVIDIA H100 80GB HBM3", 81559, 480, index=i) for i in range(4)], ram_gib=256)
    )
    report = check(machine, packaged_catalog(), CheckOptions())
    assert report.table_plan is not None and not differs(report.table_plan, report.plan)
    assert report.table_note is None and check_document(report)["table_verdict"]["note"] is None
