"""serve: the HTTP agent over real sockets on 127.0.0.1 (port 0), fetched with urllib, parsed with prometheus_client."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from conftest import gpu, inventory_dict
from vram_advisor.agent import http as agent_http
from vram_advisor.core.errors import InventoryError
from vram_advisor.inventory import model as inv
from vram_advisor.report import metrics

parser = pytest.importorskip("prometheus_client.parser")

SRC = Path(__file__).resolve().parents[1] / "src"
FETCH_TIMEOUT = 30  # a safety net so a blocked request fails the test instead of hanging it; not a measurement
#: What the tests give a probe that is not under test: a loaded machine may take seconds to load a file, and the
#: agent answers as soon as the probe is done, so this only bounds a probe that hangs.
PATIENT_PROBE_TIMEOUT = 30.0

NODE = inventory_dict(
    [
        gpu("NVIDIA H100 80GB HBM3", 81559, 480, uuid="GPU-aaaa", memory_free_bytes=80 * 1024**3),
        gpu("NVIDIA H100 80GB HBM3", 81559, 480, uuid="GPU-bbbb"),
        gpu("NVIDIA RTX 4090", 24564, 300, uuid="GPU-cccc"),
    ],
    ram_gib=512,
    hostname="gpu-node-07",
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingProbe:
    """An injected probe: the inventory from a file, counting its calls."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.calls = 0

    def __call__(self) -> inv.Inventory:
        self.calls += 1
        return inv.load(self.path)


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def fetch_json(url: str) -> tuple[int, Any]:
    status, _headers, body = fetch(url)
    return status, json.loads(body)


def fetch_until_ok(url: str) -> tuple[int, dict[str, str], bytes]:
    """``fetch(url)`` again until it answers 200 (a probe that was slow to fill the cache has then filled it), for
    at most ``FETCH_TIMEOUT`` seconds; the last answer either way."""
    deadline = time.monotonic() + FETCH_TIMEOUT
    answer = fetch(url)
    while answer[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.05)
        answer = fetch(url)
    return answer


class StderrLines:
    """A child's stderr read line by line in a thread, so that a test waits for a line with a deadline."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._seen: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), name="child-stderr", daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        try:
            for line in stream:
                self._lines.put(line)
        finally:
            self._lines.put(None)

    def next_line(self, timeout: float = FETCH_TIMEOUT) -> str:
        """The next line; fails the test (naming what came so far) at EOF or after ``timeout`` seconds."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(
                f"no line on the child's stderr within {timeout:g} s; so far: {self._seen!r}"
            ) from None
        if line is None:
            self._lines.put(None)
            raise AssertionError(f"the child closed stderr without another line; so far: {self._seen!r}")
        self._seen.append(line)
        return line

    def rest(self, timeout: float = FETCH_TIMEOUT) -> str:
        """Everything up to EOF (call once the child has exited)."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"the child's stderr stayed open {timeout:g} s after it exited"
        out: list[str] = []
        while (line := self._lines.get_nowait()) is not None:
            out.append(line)
        self._seen.extend(out)
        return "".join(out)


def served_url(line: str) -> str:
    """The URL in ``serve``'s start-up line (``vram-advisor: serving http://127.0.0.1:PORT (...``)."""
    prefix = "vram-advisor: serving http://127.0.0.1:"
    assert line.startswith(prefix), f"expected the start-up line, got {line!r}"
    return line.split("serving ", 1)[1].split(" ", 1)[0]


def families(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in parser.text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


@pytest.fixture
def start_agent() -> Iterator[Callable[..., str]]:
    """``start_agent(probe, cache_seconds=..., timeout_seconds=..., clock=..., environ=...)`` -> base URL."""
    servers: list[agent_http.AgentServer] = []

    def start(
        probe: agent_http.Probe,
        cache_seconds: float = 60.0,
        timeout_seconds: float = PATIENT_PROBE_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        environ: dict[str, str] | None = None,
    ) -> str:
        source = agent_http.CachedProbe(probe, cache_seconds, timeout_seconds, clock=clock)
        server = agent_http.make_server(agent_http.Agent(source, environ=environ or {}), port=0)
        server.start()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# ------------------------------------------------------------------------------------------ same as the CLI


@pytest.mark.parametrize(
    ("query", "args"),
    [
        ("", []),
        ("?context=128k&require=deepseek-v4-flash:q4", ["--context", "128k", "--require", "deepseek-v4-flash:q4"]),
        ("?require=DeepSeek-V4-Pro:Q4&allow_offload=1", ["--require", "DeepSeek-V4-Pro:Q4", "--allow-offload"]),
        ("?base=1&gpus=8xH100-80GB&ram=1TB", ["--base", "--gpus", "8xH100-80GB", "--ram", "1TB"]),
        ("?gpus=none&ram=64GB", ["--gpus", "none", "--ram", "64GB"]),
        ("?kv_dtype=fp8&context=1M&sizes=published", ["--kv-dtype", "fp8", "--context", "1M", "--sizes", "published"]),
        ("?free=1&ram_bw=12xDDR5-4800", ["--free", "--ram-bw", "12xDDR5-4800"]),
    ],
)
def test_check_is_the_cli_json(
    cli: Any, write_inventory: Any, start_agent: Callable[..., str], query: str, args: list[str]
) -> None:
    path = write_inventory(NODE)
    url = start_agent(CountingProbe(path))
    status, document = fetch_json(f"{url}/check{query}")
    expected = cli(["check", "--json", "--inventory", path, *args])
    assert status == 200
    assert expected.code in (0, 1), expected.err
    assert document == expected.json()


def test_check_and_inventory_respect_cuda_visible_devices_like_the_cli(
    cli: Any, write_inventory: Any, start_agent: Callable[..., str]
) -> None:
    path = write_inventory(NODE)
    url = start_agent(CountingProbe(path), environ={"CUDA_VISIBLE_DEVICES": "2"})
    expected = cli(["check", "--json", "--inventory", path], env={"CUDA_VISIBLE_DEVICES": "2"}).json()
    _, document = fetch_json(f"{url}/check")
    assert document == expected
    _, inventory = fetch_json(f"{url}/inventory")
    assert inventory == expected["inventory"]
    assert [g["visible"] for g in inventory["gpus"]] == [False, False, True]
    _, everything = fetch_json(f"{url}/inventory?all_gpus=1")
    assert [g["visible"] for g in everything["gpus"]] == [True, True, True]
    _, all_check = fetch_json(f"{url}/check?all_gpus=true")
    assert all_check == cli(["check", "--json", "--inventory", path, "--all-gpus"]).json()


def test_metrics_fit_gauges_match_check_json(cli: Any, write_inventory: Any, start_agent: Callable[..., str]) -> None:
    path = write_inventory(NODE)
    url = start_agent(CountingProbe(path))
    status, headers, body = fetch(f"{url}/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    samples = families(body.decode("utf-8"))
    instruct = cli(["check", "--json", "--inventory", path]).json()
    base = cli(["check", "--json", "--base", "--inventory", path]).json()
    expected_fits = {
        (("model", o["model"]), ("quant", o["quant"])): float(metrics.FIT_VALUES[o["fit"]])
        for o in instruct["options"] + base["options"]
    }
    assert samples["vram_advisor_option_fit"] == expected_fits
    assert samples["vram_advisor_usable_vram_bytes"][()] == instruct["usable_vram_bytes"]
    assert samples["vram_advisor_ram_total_bytes"][()] == NODE["ram"]["total_bytes"]
    totals = samples["vram_advisor_gpu_memory_total_bytes"]
    for entry in NODE["gpus"]:
        key = (("index", str(entry["index"])), ("name", entry["name"]), ("uuid", entry["uuid"]))
        assert totals[key] == entry["memory_total_bytes"]
        assert samples["vram_advisor_gpu_memory_reserved_bytes"][key] == entry["memory_reserved_bytes"]
    assert samples["vram_advisor_probe_stale"][()] == 0.0


def test_metrics_without_prometheus_client_still_parse(
    write_inventory: Any, start_agent: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = start_agent(CountingProbe(write_inventory(NODE)))
    with_client = families(fetch(f"{url}/metrics")[2].decode())
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    status, _headers, body = fetch(f"{url}/metrics")
    assert status == 200
    without_client = families(body.decode())
    for name in ("vram_advisor_option_fit", "vram_advisor_usable_vram_bytes", "vram_advisor_gpu_memory_total_bytes"):
        assert without_client[name] == with_client[name]


# ---------------------------------------------------------------------------------------------- the cache


def test_probe_runs_once_within_the_cache_time(write_inventory: Any, start_agent: Callable[..., str]) -> None:
    probe = CountingProbe(write_inventory(NODE))
    clock = FakeClock()
    url = start_agent(probe, cache_seconds=30, clock=clock)
    for endpoint in ("/check", "/metrics", "/inventory", "/check?context=1M", "/metrics"):
        assert fetch(url + endpoint)[0] == 200
    assert probe.calls == 1
    clock.now += 29
    assert fetch(url + "/metrics")[0] == 200
    assert probe.calls == 1
    clock.now += 2  # past the cache time: the next request probes again
    status, headers, _ = fetch(url + "/check")
    assert status == 200
    assert probe.calls == 2
    assert headers["X-Vram-Advisor-Inventory-Age"] == "0.0"


def test_inventory_file_changes_show_after_the_cache_time(tmp_path: Path, start_agent: Callable[..., str]) -> None:
    path = tmp_path / "node.json"
    path.write_text(json.dumps(NODE))
    clock = FakeClock()
    url = start_agent(CountingProbe(str(path)), cache_seconds=10, clock=clock)
    assert len(fetch_json(url + "/inventory")[1]["gpus"]) == 3
    path.write_text(json.dumps(inventory_dict([gpu("NVIDIA H200", 143771)], ram_gib=256)))
    assert len(fetch_json(url + "/inventory")[1]["gpus"]) == 3  # still cached
    clock.now += 11
    assert [g["name"] for g in fetch_json(url + "/inventory")[1]["gpus"]] == ["NVIDIA H200"]


# ------------------------------------------------------------------------------------ slow or failing probes


def test_hanging_probe_answers_503_without_waiting_for_it(start_agent: Callable[..., str]) -> None:
    release = threading.Event()
    calls: list[int] = []

    def hanging() -> inv.Inventory:
        calls.append(1)
        release.wait(FETCH_TIMEOUT)
        return inv.from_dict(NODE)

    url = start_agent(hanging, timeout_seconds=0.2)
    try:
        status, headers, body = fetch(url + "/check")
        assert not release.is_set()  # the answer came while the probe was still blocked
        assert status == 503
        error = json.loads(body)
        assert error["error"] == "probe_unavailable"
        assert "has not answered within 0.2 s" in error["message"]
        assert "Retry-After" in headers
        assert fetch(url + "/metrics")[0] == 503
        assert len(calls) == 1  # requests share the one running probe instead of starting more
    finally:
        release.set()
    assert fetch_until_ok(url + "/check")[0] == 200  # the released probe fills the cache
    assert len(calls) == 1


def test_hanging_probe_serves_the_last_good_inventory_marked_stale(
    write_inventory: Any, start_agent: Callable[..., str]
) -> None:
    path = write_inventory(NODE)
    release = threading.Event()
    clock = FakeClock()
    calls: list[int] = []

    def first_good_then_hang() -> inv.Inventory:
        calls.append(1)
        if len(calls) > 1:
            release.wait(FETCH_TIMEOUT)
        return inv.load(path)

    url = start_agent(first_good_then_hang, cache_seconds=5, timeout_seconds=0.2, clock=clock)
    try:
        # the first probe may take longer than 0.2 s of real time on a loaded machine (the fake clock does not
        # move, so the cache stays fresh once it is filled): warm the cache before the clock moves
        status, _headers, body = fetch_until_ok(url + "/check")
        assert status == 200, body
        assert len(calls) == 1
        fresh = json.loads(body)
        clock.now += 6
        status, headers, body = fetch(url + "/check")
        assert status == 200
        assert json.loads(body) == fresh
        assert "has not answered" in headers["X-Vram-Advisor-Stale"]
        assert headers["X-Vram-Advisor-Inventory-Age"] == "6.0"
        samples = families(fetch(url + "/metrics")[2].decode())
        assert samples["vram_advisor_probe_stale"][()] == 1.0
        assert samples["vram_advisor_inventory_age_seconds"][()] == 6.0
        assert len(calls) == 2
    finally:
        release.set()


def test_failing_probe_is_a_503_with_its_message_and_is_not_retried_at_once(
    start_agent: Callable[..., str],
) -> None:
    clock = FakeClock()
    calls: list[int] = []

    def failing() -> inv.Inventory:
        calls.append(1)
        raise InventoryError("node.json: ram.total_bytes: required field is missing")

    url = start_agent(failing, cache_seconds=10, clock=clock)
    for _ in range(3):
        status, error = fetch_json(url + "/inventory")
        assert status == 503
        assert error["message"] == "the probe failed: node.json: ram.total_bytes: required field is missing"
    assert len(calls) == 1
    clock.now += 11
    assert fetch(url + "/inventory")[0] == 503
    assert len(calls) == 2


def test_unexpected_probe_exception_is_reported_not_raised(start_agent: Callable[..., str]) -> None:
    def broken() -> inv.Inventory:
        raise RuntimeError("NVML went away\nsecond line")

    url = start_agent(broken)
    status, error = fetch_json(url + "/metrics")
    assert status == 503
    assert error["message"] == "the probe failed: RuntimeError: NVML went away second line"


# ------------------------------------------------------------------------------------------- bad requests


@pytest.mark.parametrize(
    ("query", "parameter", "words"),
    [
        ("/check?context=12q", "context", "not a token count"),
        ("/check?context=0", "context", "at least one token"),
        ("/check?require=deepseek-v4-flash", "require", "expected MODEL:QUANT"),
        ("/check?require=deepseek-v5:q4", "require", "unknown model"),
        ("/check?require=deepseek-v4-pro:q9", "require", "no quantization 'q9'"),
        ("/check?gpus=8xNOPE", "gpus", "unknown GPU"),
        ("/check?ram=lots", "ram", "lots"),
        ("/check?base=maybe", "base", "expected 1 or 0"),
        ("/check?allow_offload=2", "allow_offload", "expected 1 or 0"),
        ("/check?model=deepseek-v4-pro", "model", "unknown parameter 'model'"),
        ("/check?context=32k&context=64k", "context", "more than once"),
        ("/inventory?context=32k", "context", "unknown parameter"),
        ("/metrics?x=1", "x", "unknown parameter"),
        ("/check?kv_dtype=fp4", "kv_dtype", "expected one of"),
        ("/check?sizes=guess", "sizes", "expected one of"),
        ("/check?repo=deepseek-ai/DeepSeek-V4-Flash", "repo", "unknown parameter"),  # no Hub calls for clients
        ("/check?models=/etc", "models", "unknown parameter"),  # nor file reads
    ],
)
def test_bad_query_is_400_naming_the_parameter(
    write_inventory: Any, start_agent: Callable[..., str], query: str, parameter: str, words: str
) -> None:
    url = start_agent(CountingProbe(write_inventory(NODE)))
    status, error = fetch_json(url + query)
    assert status == 400
    assert error["error"] == "bad_request"
    assert error["parameter"] == parameter
    assert error["message"].startswith(parameter) or repr(parameter) in error["message"]
    assert words in error["message"]
    assert "\n" not in error["message"]


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("context", "lots"),
        ("require", "deepseek-v4-flash"),
        ("require", "deepseek-v5:q4"),
        ("require", "deepseek-v4-pro:q9"),
        ("gpus", "8xNOPE"),
        ("ram", "lots"),
        ("kv_dtype", "fp4"),
        ("sizes", "guess"),
        ("ram_bw", "fast"),
        ("disk_bw", "fast"),
    ],
)
def test_bad_query_is_400_with_the_cli_message_even_while_the_probe_is_down(
    cli: Any, write_inventory: Any, start_agent: Callable[..., str], parameter: str, value: str
) -> None:
    calls: list[int] = []

    def failing() -> inv.Inventory:
        calls.append(1)
        raise InventoryError("node.json: no such file")

    url = start_agent(failing)
    status, error = fetch_json(f"{url}/check?{parameter}={value}")
    assert (status, error["parameter"]) == (400, parameter), error
    assert calls == []  # answered before the probe was asked
    option = f"--{parameter.replace('_', '-')}"
    cli_error = cli(["check", "--json", "--inventory", write_inventory(NODE), option, value])
    assert cli_error.code == 2
    cli_message = cli_error.err.strip().removeprefix("vram-advisor: error: ").removeprefix(option).lstrip(" :")
    assert error["message"] == f"{parameter}: {cli_message}"
    assert fetch(f"{url}/check")[0] == 503  # a good query meets the probe, which is down


def test_bad_percent_encoding_is_400(write_inventory: Any, start_agent: Callable[..., str]) -> None:
    url = start_agent(CountingProbe(write_inventory(NODE)))
    status, error = fetch_json(url + "/check?context=%FF%FE")
    assert status == 400
    assert "malformed query string" in error["message"]


def test_unknown_path_and_write_methods(write_inventory: Any, start_agent: Callable[..., str]) -> None:
    url = start_agent(CountingProbe(write_inventory(NODE)))
    status, error = fetch_json(url + "/recommend")
    assert status == 404
    assert "/check" in error["message"]
    request = urllib.request.Request(url + "/check", data=b"{}", method="POST")
    try:
        urllib.request.urlopen(request, timeout=FETCH_TIMEOUT)
        raise AssertionError("POST was accepted")
    except urllib.error.HTTPError as answer:
        assert answer.code == 405
        assert answer.headers["Allow"] == "GET, HEAD"
    status, index = fetch_json(url + "/")
    assert status == 200
    assert set(index["endpoints"]) == {"/inventory", "/check", "/metrics"}


# ------------------------------------------------------------------------------------------- binding


def test_binds_loopback_by_default(write_inventory: Any) -> None:
    source = agent_http.CachedProbe(CountingProbe(write_inventory(NODE)))
    server = agent_http.make_server(agent_http.Agent(source, environ={}), port=0)
    try:
        assert server.bound_address[0] == "127.0.0.1"
        assert server.socket.getsockname()[0] == "127.0.0.1"
        assert server.url.startswith("http://127.0.0.1:")
        # so that asyncio sets TCP_NODELAY on each connection (without it keep-alive answers wait ~40 ms for ACKs)
        assert server.socket.proto == socket.IPPROTO_TCP
    finally:
        server.server_close()


@pytest.mark.parametrize(
    ("host", "warned"),
    [
        ("127.0.0.1", False),
        ("127.0.0.2", False),
        ("localhost", False),
        ("::1", False),
        ("[::1]", False),
        ("0.0.0.0", True),
        ("::", True),
        ("10.0.0.5", True),
        ("gpu-node-07.example", True),
    ],
)
def test_exposure_warning_only_beyond_loopback(host: str, warned: bool) -> None:
    message = agent_http.exposure_warning(host)
    assert (message is not None) == warned
    if message:
        assert "beyond loopback" in message


def test_cache_and_timeout_must_be_sane() -> None:
    with pytest.raises(ValueError, match="cache_seconds"):
        agent_http.CachedProbe(lambda: inv.from_dict(NODE), cache_seconds=-1)
    with pytest.raises(ValueError, match="timeout_seconds"):
        agent_http.CachedProbe(lambda: inv.from_dict(NODE), timeout_seconds=0)


# --------------------------------------------------------------------------------------- the command


def _child_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    return env


def test_serve_command_end_to_end(cli: Any, write_inventory: Any, tmp_path: Path) -> None:
    path = write_inventory(NODE)
    args = ["serve", "--port", "0", "--inventory", path, "--cache-seconds", "5", "--probe-timeout", "30"]
    stdout_path = tmp_path / "serve.out"
    with stdout_path.open("w") as stdout:
        child = subprocess.Popen(
            [sys.executable, "-m", "vram_advisor", *args],
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            env=_child_env(tmp_path),
        )
    try:
        assert child.stderr is not None
        stderr = StderrLines(child.stderr)
        line = stderr.next_line()
        url = served_url(line)
        status, document = fetch_json(url + "/check?require=deepseek-v4-pro:q4&context=64k")
        assert status == 200
        assert (
            document
            == cli(
                ["check", "--json", "--inventory", path, "--require", "deepseek-v4-pro:q4", "--context", "64k"]
            ).json()
        )
        assert fetch(url + "/metrics")[0] == 200
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=FETCH_TIMEOUT)
        err = stderr.rest()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=FETCH_TIMEOUT)
    assert child.returncode == 0
    assert stdout_path.read_text() == ""  # stdout carries results only; the server has none to print
    assert "stopped" in err
    assert "beyond loopback" not in line + err


def test_inventory_source_rereads_a_file_and_reads_stdin_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The one helper behind ``serve --inventory`` and ``mcp --inventory``."""
    import io

    from vram_advisor.agent.inventory_source import inventory_source

    path = tmp_path / "node.json"
    path.write_text(json.dumps(NODE))
    from_file = inventory_source(str(path))
    assert len(from_file().gpus) == 3
    path.write_text(json.dumps(inventory_dict([gpu("NVIDIA H200", 143771)], ram_gib=256)))
    assert [g.name for g in from_file().gpus] == ["NVIDIA H200"]  # re-read at each call
    with pytest.raises(InventoryError, match=r"missing\.json: no such file"):
        inventory_source(str(tmp_path / "missing.json"))  # checked at once, not at the first call
    stdin = io.StringIO(json.dumps(NODE))
    monkeypatch.setattr(sys, "stdin", stdin)
    from_stdin = inventory_source("-")
    assert stdin.read() == ""  # read up front
    assert from_stdin() == from_stdin() == inv.from_dict(NODE)


def test_serve_refuses_a_bad_inventory_with_one_line(cli: Any, tmp_path: Path) -> None:
    result = cli(["serve", "--port", "0", "--inventory", str(tmp_path / "missing.json")])
    assert result.code == 2
    assert result.err.strip().count("\n") == 0
    assert "missing.json: no such file" in result.err


def test_serve_refuses_a_taken_port(cli: Any, write_inventory: Any) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = cli(["serve", "--port", str(port), "--inventory", write_inventory(NODE)])
    assert result.code == 2
    assert f"--port {port}: cannot listen there" in result.err
    assert result.err.strip().count("\n") == 0


def test_serve_rejects_a_port_out_of_range(cli: Any) -> None:
    result = cli(["serve", "--port", "70000"])
    assert result.code == 2
    assert "--port" in result.err


def test_check_does_not_import_the_agents(tmp_path: Path, write_inventory: Any) -> None:
    path = write_inventory(NODE)
    code = (
        "import contextlib, io, sys\n"
        "from vram_advisor.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    main(['check', '--json', '--inventory', {path!r}])\n"
        "heavy = ('http.server', 'prometheus_client', 'mcp', 'uvicorn', 'starlette', 'vram_advisor.agent.http',"
        " 'vram_advisor.agent.mcp', 'vram_advisor.report.metrics')\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_child_env(tmp_path), timeout=120, check=True
    )
    assert result.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------------- the real probe


def test_metrics_from_the_real_probe_over_a_faked_nvml(
    cli: Any, start_agent: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe itself (NVML faked at pynvml's function-pointer seam) behind the agent: per-GPU gauges carry the
    driver's index, UUID and name, and the fit gauges equal ``check --json`` on the same machine."""
    fake_nvml = pytest.importorskip("probe.fake_nvml")
    from vram_advisor.probe import collect_inventory

    driver = fake_nvml.install(monkeypatch, fake_nvml.eight_h100())
    url = start_agent(lambda: collect_inventory())
    samples = families(fetch(url + "/metrics")[2].decode())
    totals = samples["vram_advisor_gpu_memory_total_bytes"]
    expected_totals = {
        (("index", str(i)), ("name", g.name), ("uuid", g.uuid)): float(g.total_mib * 1024**2)
        for i, g in enumerate(driver.gpus)
    }
    assert totals == expected_totals
    document = cli(["check", "--json"]).json()
    assert samples["vram_advisor_usable_vram_bytes"][()] == document["usable_vram_bytes"]
    fits = {(o["model"], o["quant"]): float(metrics.FIT_VALUES[o["fit"]]) for o in document["options"]}
    served = {(dict(k)["model"], dict(k)["quant"]): v for k, v in samples["vram_advisor_option_fit"].items()}
    assert {key: served[key] for key in fits} == fits


def test_serve_command_probes_this_machine_by_default(cli: Any, tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "vram_advisor", "serve", "--port", "0", "--probe-timeout", "30"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_child_env(tmp_path),
    )
    try:
        assert child.stderr is not None
        url = served_url(StderrLines(child.stderr).next_line())
        status, inventory = fetch_json(url + "/inventory")
        assert status == 200
        assert inventory["schema"] == "vram-advisor/inventory/v1"
        assert inventory["hostname"] == (socket.gethostname() or None)
        _, document = fetch_json(url + "/check?gpus=8xH100-80GB&ram=1TB")
        expected = cli(["check", "--json", "--gpus", "8xH100-80GB", "--ram", "1TB"]).json()
        for key in ("usable_vram_bytes", "recommendation", "options", "tier"):
            assert document[key] == expected[key], key
    finally:
        child.terminate()
        try:
            child.wait(timeout=FETCH_TIMEOUT)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=FETCH_TIMEOUT)
            raise
