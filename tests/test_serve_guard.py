"""serve under hostile clients and load: Host check, connection cap (503), read deadline, resets, keep-alive,
escaped access log, honest --host, sane time options. A real server on 127.0.0.1 and raw sockets throughout."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import gpu, inventory_dict
from vram_advisor.agent import http as agent_http
from vram_advisor.inventory import model as inv

SRC = Path(__file__).resolve().parents[1] / "src"
TIMEOUT = 30  # a safety net against a hung test, not a measurement
NODE = inventory_dict([gpu("NVIDIA H100 80GB HBM3", 81559, 480, uuid="GPU-aaaa")], ram_gib=512, hostname="node-1")


class Started:
    """A server running in a thread, with what it logged."""

    def __init__(self, server: agent_http.AgentHTTPServer, lines: list[str]) -> None:
        self.server = server
        self.lines = lines
        self.port = server.bound_address[1]

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)

    def get(self, path: str = "/inventory", headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        try:
            connection.request("GET", path, headers=headers or {})
            response = connection.getresponse()
            return response.status, dict(response.headers), response.read()
        finally:
            connection.close()


@pytest.fixture
def start() -> Iterator[Callable[..., Started]]:
    servers: list[agent_http.AgentHTTPServer] = []

    def run(**options: Any) -> Started:
        lines: list[str] = []
        source = agent_http.CachedProbe(lambda: inv.from_dict(NODE), 60.0, 30.0)
        address = options.pop("host", "127.0.0.1")
        server = agent_http.AgentHTTPServer(
            (address, 0), agent_http.Agent(source, environ={}), log=lines.append, **options
        )
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return Started(server, lines)

    yield run
    for server in servers:
        server.shutdown()
        server.server_close()


def raw_exchange(sock: socket.socket, request: bytes) -> bytes:
    """Send ``request`` and read until the server closes the connection."""
    sock.sendall(request)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def read_one_answer(sock: socket.socket) -> tuple[int, bytes]:
    """One HTTP answer from a kept-alive connection: its status and body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before an answer; got {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split(b" ")[1]), body


# ------------------------------------------------------------------------------------------------ Host


@pytest.mark.parametrize(
    "host",
    ["localhost", "localhost:9835", "127.0.0.1", "127.0.0.1:80", "[::1]", "[::1]:9835", "LOCALHOST", "10.0.0.5:9835"],
)
def test_loopback_names_and_addresses_are_answered(start: Callable[..., Started], host: str) -> None:
    assert start().get(headers={"Host": host})[0] == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:9835", "localhost.evil.example", "x:y", "[::1"])
def test_other_hosts_are_refused_with_a_clear_421(start: Callable[..., Started], host: str) -> None:
    status, _headers, body = start().get(headers={"Host": host})
    assert status == 421
    document = json.loads(body)
    assert document["error"] == "host_not_allowed"
    assert "--allow-host" in document["message"] and "DNS rebinding" in document["message"]


def test_this_machines_own_name_is_answered(start: Callable[..., Started]) -> None:
    assert start().get(headers={"Host": f"{socket.gethostname()}:9835"})[0] == 200


def test_allow_host_admits_a_name_and_star_admits_any(start: Callable[..., Started]) -> None:
    named = start(allowed_hosts=["gpu-node-07.example"])
    assert named.get(headers={"Host": "gpu-node-07.example:9835"})[0] == 200
    assert named.get(headers={"Host": "evil.example"})[0] == 421
    assert start(allowed_hosts=["*"]).get(headers={"Host": "anything.example"})[0] == 200


def test_http11_without_host_is_400_but_http10_is_answered(start: Callable[..., Started]) -> None:
    agent = start()
    with agent.connect() as sock:
        answer = raw_exchange(sock, b"GET /inventory HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400")
    assert b"no Host header" in answer
    with agent.connect() as sock:
        assert raw_exchange(sock, b"GET /inventory HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.1 200")


# --------------------------------------------------------------------------------------- connections


def test_keep_alive_serves_many_requests_on_one_connection(start: Callable[..., Started]) -> None:
    agent = start()
    with agent.connect() as sock:
        for path in ("/inventory", "/check", "/metrics", "/check?context=1M"):
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
            assert read_one_answer(sock)[0] == 200


def test_connections_over_the_cap_get_503_and_the_cap_frees_up(start: Callable[..., Started]) -> None:
    agent = start(max_connections=2)
    held = [agent.connect(), agent.connect()]
    for sock in held:
        sock.sendall(b"GET /inventory HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert read_one_answer(sock)[0] == 200  # both hold a worker now (kept alive)
    with agent.connect() as extra:
        answer = raw_exchange(extra, b"GET /inventory HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 503")
    assert b"Retry-After: 1" in answer
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"] == "busy"
    assert sum("--max-connections" in line for line in agent.lines) == 1
    held.pop().close()
    deadline = time.monotonic() + TIMEOUT
    status = 0
    while status != 200 and time.monotonic() < deadline:
        time.sleep(0.05)
        status = agent.get()[0]
    assert status == 200
    held[0].close()
    assert agent.server.worker_threads <= 2


def test_a_slow_client_is_cut_off_at_the_read_deadline(start: Callable[..., Started]) -> None:
    """A slowloris trickling its headers byte by byte loses its connection after read_timeout, not per byte."""
    agent = start(max_connections=1, read_timeout=0.5)
    started = time.monotonic()
    with agent.connect() as sock:
        sock.settimeout(0.05)
        closed = False
        for byte in b"GET /inventory HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 200:
            try:
                sock.send(bytes([byte]))
                if sock.recv(1024) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except OSError:
                closed = True
                break
            if time.monotonic() - started > 10:
                break
    assert closed, "the server kept a trickling client past its read deadline"
    assert time.monotonic() - started < 5
    assert agent.get()[0] == 200  # its worker is free again (the cap is one)
    assert agent.lines == []  # quiet without --access-log


def test_idle_keep_alive_connection_is_closed_after_the_read_timeout(start: Callable[..., Started]) -> None:
    agent = start(read_timeout=0.3)
    with agent.connect() as sock:
        sock.sendall(b"GET /inventory HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert read_one_answer(sock)[0] == 200
        sock.settimeout(TIMEOUT)
        assert sock.recv(1) == b""


def test_a_request_with_a_body_closes_the_connection(start: Callable[..., Started]) -> None:
    agent = start()
    with agent.connect() as sock:
        answer = raw_exchange(sock, b"POST /check HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nGET /")
    assert answer.startswith(b"HTTP/1.1 405")
    assert answer.count(b"HTTP/1.1") == 1  # the body was not read as a second request


def test_resets_mid_response_are_quiet(start: Callable[..., Started]) -> None:
    agent = start()
    for _ in range(20):
        sock = agent.connect()
        sock.sendall(b"GET /check HTTP/1.1\r\nHost: localhost\r\n\r\n")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # RST while the answer is on its way
    assert agent.get()[0] == 200
    assert agent.lines == []


def test_access_log_escapes_what_the_client_sent(start: Callable[..., Started]) -> None:
    agent = start(access_log=True)
    with agent.connect() as sock:
        raw_exchange(sock, b"GET /\x1b[31mred\x07 HTTP/1.0\r\nHost: localhost\r\n\r\n")
    with agent.connect() as sock:
        raw_exchange(sock, b"\x1b]0;title\x07 junk\r\n\r\n")
    logged = "\n".join(agent.lines)
    assert "\x1b" not in logged and "\x07" not in logged
    assert "\\x1b[31mred\\x07" in logged


def test_bad_request_lines_get_a_short_json_400(start: Callable[..., Started]) -> None:
    agent = start()
    with agent.connect() as sock:
        answer = raw_exchange(sock, b"GET /" + b"Z" * 5000 + b" extra words HTTP/1.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400")
    body = answer.split(b"\r\n\r\n", 1)[1]
    assert json.loads(body)["error"] == "bad_request"
    assert b"Z" * 250 not in body


def test_unknown_path_never_echoes_a_huge_input(start: Callable[..., Started]) -> None:
    status, _headers, body = start().get("/" + "Z" * 20000)
    assert status == 404
    assert b"Z" * 250 not in body


# ----------------------------------------------------------------------------------------- the command


@pytest.mark.parametrize(
    ("host", "bound"),
    [("0", "0.0.0.0"), ("127.1", "127.0.0.1"), ("[::1]", "::1"), ("localhost", "localhost"), ("::", "::")],
)
def test_host_is_normalised_to_the_address_bound(host: str, bound: str) -> None:
    assert agent_http.normalise_host(host) == bound


def test_host_0_is_reported_as_every_interface() -> None:
    message = agent_http.exposure_warning("0")
    assert message is not None
    assert "every network interface (0.0.0.0)" in message and "--allow-host" in message


@pytest.mark.parametrize(
    "args",
    [
        ["--cache-seconds", "nan"],
        ["--cache-seconds", "inf"],
        ["--cache-seconds", "-1"],
        ["--probe-timeout", "nan"],
        ["--probe-timeout", "inf"],
        ["--probe-timeout", "0"],
    ],
)
def test_non_finite_or_negative_times_are_exit_2(cli: Any, write_inventory: Any, args: list[str]) -> None:
    result = cli(["serve", "--port", "0", "--inventory", write_inventory(NODE), *args])
    assert result.code == 2
    assert result.err.strip().count("\n") == 0
    assert args[0] in result.err
    assert "Traceback" not in result.err


def test_serve_command_stays_quiet_under_resets_and_slow_clients(write_inventory: Any, tmp_path: Path) -> None:
    """The real command: resets, a half-open flood and a slow client cost no traceback and at most a line."""
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    stderr_path = tmp_path / "serve.err"
    with stderr_path.open("w") as stderr:
        child = subprocess.Popen(
            [
                *(sys.executable, "-m", "vram_advisor", "serve", "--host", "0", "--port", "0"),
                *("--inventory", write_inventory(NODE), "--max-connections", "8"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
        )
    try:
        deadline = time.monotonic() + TIMEOUT
        while "serving http://" not in stderr_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        text = stderr_path.read_text()
        assert "--host 0 means 0.0.0.0" in text
        port = int(text.split("serving http://0.0.0.0:", 1)[1].split(" ", 1)[0])
        for _ in range(30):
            sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        half_open = [socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) for _ in range(20)]
        for sock in half_open:
            sock.sendall(b"GET /inventory HTTP/1.1\r\n")
        for sock in half_open:
            sock.close()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        deadline = time.monotonic() + TIMEOUT
        status = 0
        while status != 200 and time.monotonic() < deadline:
            try:
                connection.request("GET", "/check", headers={"Host": "evil.example"})
                response = connection.getresponse()
                response.read()
                status = response.status
                assert status in (421, 503)
                connection.request("GET", "/check")
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                connection.close()
                time.sleep(0.1)
        assert status == 200
        connection.close()
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=TIMEOUT)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=TIMEOUT)
    err = stderr_path.read_text()
    assert "Traceback" not in err
    assert "Error" not in err
    assert len(err.splitlines()) <= 6, err  # start-up lines, at most one for the cap, "stopped"


def test_the_load_bench_runs_and_reports(tmp_path: Path) -> None:
    """bench/serve_load.py in miniature (5 clients, 60 requests), so that the script cannot rot unnoticed."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    bench = SRC.parent / "bench" / "serve_load.py"
    result = subprocess.run(
        [sys.executable, str(bench), "--clients", "5", "--requests", "60", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["answers"] == 60 and figures["errors"] == 0
    assert figures["closed_by_server"] == 0  # keep-alive held
    assert figures["p99_ms"] >= figures["p50_ms"] > 0
