"""``check --prom`` and ``--prom-file``: this node's gauges as ``serve``'s ``/metrics`` writes them, read back by
prometheus_client's own parser, and the textfile written atomically (a writer killed midway leaves the old file
whole), as node_exporter's textfile collector needs."""

from __future__ import annotations

import errno
import os
import select
import signal
import stat
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import full_inventory, gpu, inventory_dict
from vram_advisor.render import textfile

parser = pytest.importorskip("prometheus_client.parser")

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]

NODE = inventory_dict(
    [
        gpu("NVIDIA H100 80GB HBM3", 81559, 480, uuid="GPU-aaaa", memory_free_bytes=80 * 1024**3),
        gpu("NVIDIA H100 80GB HBM3", 81559, 480, uuid="GPU-bbbb"),
    ],
    ram_gib=512,
)
OLD = "# an older file\nvram_advisor_gpus 7\n"
AGE = "vram_advisor_inventory_age_seconds"


def parse(text: str) -> Samples:
    """name -> {sorted label pairs -> value}, through prometheus_client's own parser."""
    out: Samples = {}
    for family in parser.text_string_to_metric_families(text):
        assert family.type == "gauge", family.name
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def prom(cli: Any, *args: str) -> str:
    result = cli(["check", "--prom", *args])
    assert result.code == 0, result.err
    assert result.err == ""
    text: str = result.out
    return text


def without_age(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith(AGE + " ")]


@pytest.fixture
def served_metrics() -> Iterator[Any]:
    """``served_metrics(inventory_path)`` -> the text of GET /metrics from a real ``serve`` agent on that file."""
    pytest.importorskip("uvicorn")
    from vram_advisor.agent import http as agent_http
    from vram_advisor.agent.inventory_source import inventory_source

    servers: list[Any] = []

    def fetch(path: str) -> str:
        source = agent_http.CachedProbe(inventory_source(path), 60.0, 30.0)
        server = agent_http.make_server(agent_http.Agent(source, environ={}), port=0)
        server.start()
        servers.append(server)
        with urllib.request.urlopen(f"{server.url}/metrics", timeout=30) as response:
            assert response.status == 200
            body: bytes = response.read()
        return body.decode("utf-8")

    yield fetch
    for server in servers:
        server.shutdown()
        server.server_close()


# ------------------------------------------------------------------------------------ the same as /metrics


@pytest.mark.parametrize(
    "data", [NODE, full_inventory(4), inventory_dict([], ram_gib=96)], ids=["2xH100", "full", "cpu"]
)
def test_prom_is_what_serve_metrics_gives_for_the_same_inventory(
    cli: Any, write_inventory: Any, served_metrics: Any, data: dict[str, Any]
) -> None:
    path = write_inventory(data)
    text = prom(cli, "--inventory", path)
    served = served_metrics(path)
    # the same names, HELP, labels and values, line for line; only the agent's cache age may differ
    assert without_age(text) == without_age(served)
    assert parse(text)[AGE] == {(): 0.0}  # just read
    samples = parse(text)
    assert samples["vram_advisor_probe_stale"] == {(): 0.0}
    assert len(samples["vram_advisor_option_fit"]) >= 4


@pytest.mark.parametrize(
    "args",
    [[], ["--base"], ["--gpus", "8xH100-80GB", "--ram", "1TB"], ["--context", "1M", "--require", "deepseek-v4-pro:q4"]],
)
def test_prom_carries_the_one_verdict_of_check_json(cli: Any, write_inventory: Any, args: list[str]) -> None:
    path = write_inventory(NODE)
    as_json = cli(["check", "--json", "--inventory", path, *args])
    result = cli(["check", "--prom", "--inventory", path, *args])
    assert result.code == as_json.code  # --require answers by the exit code either way
    document = as_json.json()
    samples = parse(result.out)
    rec = document["recommendation"]
    base = "true" if "--base" in args else "false"
    mine = {dict(labels)["base"]: dict(labels) for labels in samples["vram_advisor_recommendation_info"] if labels}
    assert set(mine) == {"false", "true"}  # the instruct and the Base models, as /metrics has them
    assert mine[base] == {
        "base": base,
        "kind": rec["kind"],
        "model": rec["model"] or "",
        "quant": rec["quant"] or "",
        "fit": rec["fit"] or "",
    }
    fits = samples["vram_advisor_option_fit"]
    for option in document["options"]:
        assert (
            fits[(("model", option["model"]), ("quant", option["quant"]))]
            == {
                "none": 0,
                "offload": 1,
                "minimum": 2,
                "comfortable": 3,
            }[option["fit"]]
        )
    assert samples["vram_advisor_usable_vram_bytes"][()] == document["usable_vram_bytes"]
    assert samples["vram_advisor_spare_ram_bytes"][()] == document["spare_ram_bytes"]


def test_an_option_only_the_asked_models_take_gauges_those_alone(cli: Any, write_inventory: Any) -> None:
    path = write_inventory(NODE)
    document = cli(["check", "--json", "--inventory", path, "--release", "0731"]).json()  # an instruct release
    samples = parse(prom(cli, "--inventory", path, "--release", "0731"))
    ((labels, value),) = samples["vram_advisor_recommendation_info"].items()
    assert value == 1.0
    assert dict(labels)["base"] == "false" and dict(labels)["model"] == document["recommendation"]["model"]
    assert {dict(key)["model"] for key in samples["vram_advisor_option_fit"]} == {
        option["model"] for option in document["options"]
    }


def test_prom_reads_an_inventory_from_stdin_once(cli: Any, write_inventory: Any) -> None:
    path = write_inventory(NODE)
    from_stdin = cli(["check", "--prom", "--inventory", "-"], stdin=Path(path).read_text())
    assert from_stdin.code == 0, from_stdin.err
    assert from_stdin.out == prom(cli, "--inventory", path)


@pytest.mark.parametrize(
    ("args", "words"),
    [(["--prom", "--json"], "--prom and --json contradict"), (["--prom", "--quiet"], "--quiet and --prom contradict")],
)
def test_prom_contradicts_json_and_quiet(cli: Any, write_inventory: Any, args: list[str], words: str) -> None:
    result = cli(["check", *args, "--inventory", write_inventory(NODE)])
    assert result.code == 2
    assert result.out == ""
    assert result.err.count("\n") == 1 and words in result.err


# ------------------------------------------------------------------------------------------- the textfile


def test_prom_file_writes_the_prom_text_and_prints_nothing(cli: Any, write_inventory: Any, tmp_path: Path) -> None:
    path = write_inventory(NODE)
    target = tmp_path / "vram-advisor.prom"
    result = cli(["check", "--inventory", path, "--prom-file", str(target)])
    assert (result.code, result.out, result.err) == (0, "", "")
    written = target.read_text(encoding="utf-8")
    assert written == prom(cli, "--inventory", path)
    assert parse(written)["vram_advisor_gpus"] == {(): 2.0}
    assert written.endswith("\n")  # the collector wants the last line ended
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # node_exporter runs as its own user
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([Path(path).name, target.name])  # no temp left


def test_prom_file_beside_json_and_over_an_old_file_keeps_its_mode(
    cli: Any, write_inventory: Any, tmp_path: Path
) -> None:
    path = write_inventory(NODE)
    target = tmp_path / "vram-advisor.prom"
    target.write_text(OLD)
    target.chmod(0o640)
    result = cli(["check", "--json", "--inventory", path, "--prom-file", str(target)])
    assert result.code == 0, result.err
    assert result.json()["recommendation"]["kind"] == "local"
    assert parse(target.read_text())["vram_advisor_usable_vram_bytes"][()] == result.json()["usable_vram_bytes"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def one_line_naming(result: Any, target: Path) -> None:
    assert result.code == 2
    assert result.out == ""
    assert result.err.count("\n") == 1 and str(target) in result.err and "Traceback" not in result.err


def test_prom_file_in_a_missing_folder_is_exit_2_in_one_line(cli: Any, write_inventory: Any, tmp_path: Path) -> None:
    target = tmp_path / "missing" / "vram-advisor.prom"
    result = cli(["check", "--json", "--inventory", write_inventory(NODE), "--prom-file", str(target)])
    one_line_naming(result, target)
    assert "does not exist" in result.err
    assert not target.parent.exists()


def test_prom_file_that_is_a_folder_is_exit_2(cli: Any, write_inventory: Any, tmp_path: Path) -> None:
    target = tmp_path / "vram-advisor.prom"
    target.mkdir()
    one_line_naming(cli(["check", "--inventory", write_inventory(NODE), "--prom-file", str(target)]), target)
    assert target.is_dir() and not any(target.iterdir())


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a folder without write permission")
def test_prom_file_in_a_folder_not_writable_is_exit_2_and_the_old_file_stays(
    cli: Any, write_inventory: Any, tmp_path: Path
) -> None:
    path = write_inventory(NODE)
    folder = tmp_path / "textfile"
    folder.mkdir()
    target = folder / "vram-advisor.prom"
    target.write_text(OLD)
    folder.chmod(0o555)
    try:
        result = cli(["check", "--inventory", path, "--prom-file", str(target)])
    finally:
        folder.chmod(0o755)
    one_line_naming(result, target)
    assert "no permission" in result.err
    assert target.read_text() == OLD
    assert [p.name for p in folder.iterdir()] == [target.name]


def _failing(name: str, error: int, monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """``os.<name>`` fails with ``error`` for files of ``folder`` (the system's answer on such a mount)."""
    real = getattr(os, name)

    def fake(*args: Any, **kwargs: Any) -> Any:
        first = args[0]
        mine = isinstance(first, int) or str(folder) in os.fsdecode(first)
        if mine and (name != "write" or b"vram_advisor_" in bytes(args[1])):
            raise OSError(error, os.strerror(error), str(first))
        return real(*args, **kwargs)

    monkeypatch.setattr(os, name, fake)


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        ("open", errno.EROFS, "read-only file system"),  # creating the temporary file on a read-only mount
        ("write", errno.ENOSPC, "No space left on device"),  # a full disk halfway
        ("fsync", errno.EIO, "Input/output error"),
        ("replace", errno.EROFS, "read-only file system"),  # the rename itself refused
    ],
)
def test_a_failure_anywhere_leaves_the_old_file_and_no_temporary_file(
    cli: Any, write_inventory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: str, error: int, words: str
) -> None:
    path = write_inventory(NODE)
    folder = tmp_path / "textfile"
    folder.mkdir()
    target = folder / "vram-advisor.prom"
    target.write_text(OLD)
    _failing(call, error, monkeypatch, folder)
    result = cli(["check", "--inventory", path, "--prom-file", str(target)])
    monkeypatch.undo()
    one_line_naming(result, target)
    assert words in result.err
    assert target.read_text() == OLD
    assert [p.name for p in folder.iterdir()] == [target.name]


# ------------------------------------------------------------------------- a writer killed midway

#: Runs ``vram-advisor check ... --prom-file`` with one step of the write held up (after it says so on stdout), so
#: the test can kill it there: ``write`` stalls after the second chunk of the temporary file, ``replace`` just
#: before the rename.
KILLED_WRITER = r"""
import os, sys, time
from vram_advisor.render import textfile

stage = sys.argv[1]
if stage == "write":
    textfile.CHUNK_BYTES = 256
    real_write, chunks = os.write, []

    def write(descriptor, data):
        written = real_write(descriptor, data)
        if b"vram_advisor_" in bytes(data) or chunks:
            chunks.append(written)
        if len(chunks) == 2:
            print("held", flush=True)
            time.sleep(300)
        return written

    os.write = write
else:
    def replace(source, target):
        print("held", flush=True)
        time.sleep(300)

    os.replace = replace
from vram_advisor.cli import main

sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("stage", ["write", "replace"])
def test_a_writer_killed_midway_leaves_the_old_file_whole(
    cli: Any, write_inventory: Any, tmp_path: Path, stage: str
) -> None:
    path = write_inventory(NODE)
    folder = tmp_path / "textfile"
    folder.mkdir()
    target = folder / "vram-advisor.prom"
    target.write_text(OLD)
    full = prom(cli, "--inventory", path)
    argv = [sys.executable, "-c", KILLED_WRITER, stage, "check", "--inventory", path, "--prom-file", str(target)]
    writer = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert writer.stdout is not None
        ready, _, _ = select.select([writer.stdout], [], [], 120)
        line = writer.stdout.readline() if ready else b""
        assert line == b"held\n", (line, writer.poll())
        os.kill(writer.pid, signal.SIGKILL)
        assert writer.wait(60) == -signal.SIGKILL
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    assert target.read_text() == OLD  # whole: what a scrape at any moment reads
    left = [p for p in folder.iterdir() if p != target]
    assert len(left) == 1  # the half-made temporary file, which the collector never reads:
    assert not left[0].name.endswith(".prom") and left[0].name.startswith(".vram-advisor.prom.")
    partial = left[0].read_text()
    assert partial == full if stage == "replace" else 0 < len(partial) < len(full)
    # the next run replaces the old file all the same
    assert cli(["check", "--inventory", path, "--prom-file", str(target)]).code == 0
    assert target.read_text() == full


def test_the_temporary_file_is_in_the_same_folder_and_never_ends_in_prom(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    real = os.replace

    def replace(source: str, target: str) -> None:
        seen.append(source)
        real(source, target)

    monkeypatch.setattr(os, "replace", replace)
    target = tmp_path / "node.prom"
    textfile.write_atomically(str(target), "a 1\n")
    assert target.read_text() == "a 1\n"
    (source,) = seen
    assert Path(source).parent == tmp_path and not source.endswith(".prom")


# ------------------------------------------------------------------------------------- the docs' recipes

AGENTS_PAGE = Path(__file__).resolve().parent.parent / "docs" / "agents.md"
TEXTFILE_FOLDER = "/var/lib/node_exporter/textfile_collector"


def test_the_docs_timer_and_crontab_lines_write_the_folder_node_exporter_reads(cli: Any, tmp_path: Path) -> None:
    """The systemd ``ExecStart`` and the crontab line of docs/agents.md, run on a folder of the test's (they probe
    this machine), write a file the collector's folder flag covers."""
    lines = AGENTS_PAGE.read_text(encoding="utf-8").splitlines()
    (flag,) = [line for line in lines if line.startswith("node_exporter --collector.textfile.directory=")]
    assert flag.split("=", 1)[1] == TEXTFILE_FOLDER
    recipes = [line.split("=", 1)[1] for line in lines if line.startswith("ExecStart=")]
    recipes += [line.split(None, 5)[5] for line in lines if line.startswith("*/5 * * * * ")]
    assert len(recipes) == 2
    for recipe in recipes:
        program, *args = recipe.split()
        assert program.endswith("/vram-advisor")
        target = Path(args[args.index("--prom-file") + 1])
        assert target.parent == Path(TEXTFILE_FOLDER) and target.suffix == ".prom"
        mine = tmp_path / target.name
        result = cli([mine.as_posix() if arg == target.as_posix() else arg for arg in args])
        assert (result.code, result.out) == (0, ""), result.err
        assert "vram_advisor_build_info" in parse(mine.read_text())
        mine.unlink()


def test_a_prom_file_that_is_a_link_a_device_or_not_prom_is_refused_untouched(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # replacing such a path would replace the thing itself (a timer running as root and --prom-file /dev/null)
    real = tmp_path / "real.prom"
    real.write_text("old\n")
    link = tmp_path / "link.prom"
    link.symlink_to(real)
    for path, words in ((link, "not a regular file"), (tmp_path / "node.txt", "ending in .prom")):
        result = cli(["check", "--gpus", "1xH100", "--prom-file", str(path)])
        assert result.code == 2 and words in result.err and result.err.count("\n") == 1
    assert real.read_text() == "old\n" and link.is_symlink() and not (tmp_path / "node.txt").exists()
    long_name = tmp_path / ("a" * 300 + ".prom")
    result = cli(["check", "--gpus", "1xH100", "--prom-file", str(long_name)])
    assert result.code == 2 and result.err.count("\n") == 1  # not an internal error
