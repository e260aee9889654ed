"""serve under hostile clients and load: Host check (absolute-form targets too), the work limit (503) that idle
and slow connections do not touch, the header deadline (slowloris), head and body limits, strict parsing (conflicting
Content-Length, NUL), resets, keep-alive, escaped access log, the raised open-file limit, the missing extra, honest
--host, sane time options. A real server on 127.0.0.1 and raw sockets throughout."""

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

    def __init__(self, server: agent_http.AgentServer, lines: list[str]) -> None:
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
    servers: list[agent_http.AgentServer] = []

    def run(**options: Any) -> Started:
        lines: list[str] = []
        address = options.pop("host", "127.0.0.1")
        probe = options.pop("probe", lambda: inv.from_dict(NODE))
        source = agent_http.CachedProbe(probe, 60.0, 30.0)
        server = agent_http.AgentServer((address, 0), agent_http.Agent(source, environ={}), log=lines.append, **options)
        server.start()
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


def test_pipelined_requests_are_answered_in_order(start: Callable[..., Started]) -> None:
    agent = start()
    with agent.connect() as sock:
        sock.sendall(b"GET /inventory HTTP/1.1\r\nHost: localhost\r\n\r\nGET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert read_one_answer(sock)[0] == 200
        assert read_one_answer(sock)[0] == 404


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` until it holds; fail the test after ``TIMEOUT`` seconds (a safety net, not a measurement)."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.02)


def is_open(sock: socket.socket) -> bool:
    """Whether the server still holds the connection (nothing to read, and no end of stream)."""
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.settimeout(TIMEOUT)


def test_requests_in_flight_over_the_limit_get_503_and_idle_connections_do_not_count(
    start: Callable[..., Started],
) -> None:
    """The work limit counts requests being answered: two blocked in the probe fill a limit of two, so a third is
    503 at once, while ten idle connections and ten half-sent requests cost nothing of it."""
    release = threading.Event()
    calls: list[int] = []

    def blocking_probe() -> inv.Inventory:
        calls.append(1)
        release.wait(TIMEOUT)
        return inv.from_dict(NODE)

    agent = start(max_requests=2, probe=blocking_probe)
    idle = [agent.connect() for _ in range(10)]
    slow = [agent.connect() for _ in range(10)]
    for sock in slow:
        sock.sendall(b"GET /inventory HTTP/1.1\r\nHost: local")
    busy = [agent.connect() for _ in range(2)]
    try:
        assert agent.get("/")[0] == 200  # 20 connections open, none of them working: the limit is untouched
        for sock in busy:
            sock.sendall(b"GET /inventory HTTP/1.1\r\nHost: localhost\r\n\r\n")
        wait_until(lambda: agent.server.app.in_flight == 2, "two requests in flight")
        status, headers, body = agent.get("/check")
        assert status == 503
        assert headers["Retry-After"] == "1"
        assert json.loads(body)["error"] == "busy"
        assert sum("--max-requests" in line for line in agent.lines) == 1
        assert agent.get("/metrics")[0] == 503
        assert sum("--max-requests" in line for line in agent.lines) == 1  # reported once
        assert all(is_open(sock) for sock in idle + slow)
    finally:
        release.set()
    for sock in busy:
        assert read_one_answer(sock)[0] == 200
    assert agent.get("/check")[0] == 200  # the limit frees up as the answers go out
    assert len(calls) == 1
    for sock in idle + slow + busy:
        sock.close()


def test_slowloris_connections_do_not_starve_a_normal_client(start: Callable[..., Started]) -> None:
    """200 connections holding a half-sent request open (the issue's attack took all 128 worker threads of the
    old server with 140): a normal client is still answered, and the half-open ones are still held."""
    agent = start(max_requests=8)
    half_open = [agent.connect() for _ in range(200)]
    try:
        for sock in half_open:
            sock.sendall(b"GET /inventory HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        for _ in range(3):
            status, _headers, body = agent.get("/inventory")
            assert status == 200
            assert json.loads(body)["hostname"] == "node-1"
        assert sum(is_open(sock) for sock in half_open) == 200
    finally:
        for sock in half_open:
            sock.close()


def test_a_connection_that_never_finishes_its_headers_is_closed(start: Callable[..., Started]) -> None:
    """The header deadline holds for a connection's first request too (stock uvicorn has none there)."""
    agent = start(read_timeout=0.3)
    with agent.connect() as sock:
        sock.sendall(b"GET /inventory HTTP/1.1\r\nHost: localhost\r\n")
        assert sock.recv(1024) == b""  # closed, without an answer
    with agent.connect() as sock:
        assert sock.recv(1024) == b""  # a connection that sends nothing at all is closed too
    assert agent.lines == []


def test_a_slow_client_is_cut_off_at_the_read_deadline(start: Callable[..., Started]) -> None:
    """A slowloris trickling its headers byte by byte loses its connection after read_timeout, not per byte."""
    agent = start(max_requests=1, read_timeout=0.5)
    deadline = time.monotonic() + TIMEOUT
    with agent.connect() as sock:
        closed = _trickle(sock, b"GET /inventory HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 400, deadline)
    assert closed, "the server kept a trickling client past its read deadline"
    assert agent.get()[0] == 200
    assert agent.lines == []  # quiet without --access-log


def test_a_trickling_second_request_on_a_kept_alive_connection_is_cut_off_too(start: Callable[..., Started]) -> None:
    agent = start(read_timeout=0.5)
    with agent.connect() as sock:
        sock.sendall(b"GET /inventory HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert read_one_answer(sock)[0] == 200
        closed = _trickle(sock, b"GET /inventory HTTP/1.1\r\nX-Slow: " + b"a" * 4000, time.monotonic() + TIMEOUT)
    assert closed


def _trickle(sock: socket.socket, payload: bytes, deadline: float) -> bool:
    """Send ``payload`` one byte at a time until the server closes the connection (True) or ``deadline`` passes, or
    the payload runs out (False)."""
    sock.settimeout(0.05)
    for byte in payload:
        try:
            sock.send(bytes([byte]))
            if sock.recv(1024) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:
            return True
        if time.monotonic() > deadline:
            return False
    return False


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


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        # two conflicting Content-Length headers: which one frames the body is ambiguous (request smuggling)
        (b"GET /inventory HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
        (b"GET /inventory HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1, 2\r\n\r\nab", 400),
        (b"GET /inventory HTTP/1.1\r\nHost: localhost\r\nX-Note: a\x00b\r\n\r\n", 400),  # NUL in a header
        (b"GET /inventory HTTP/1.1\r\nHost: local\x00host\r\n\r\n", 400),
        (b"GET /inventory HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n", 400),
        (b"GET /inventory HTTP/2.0\r\nHost: localhost\r\n\r\n", 505),
        (b"GET /inventory HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"GET /inventory HTTP/1.1\r\nHost: localhost\r\nContent-Length: 99999999\r\n\r\n", 413),
        (b"GET /" + b"a" * 40_000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n", 414),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n", 414),
        (b"GET /inventory HTTP/1.1\r\nHost: localhost\r\n" + b"X-Big: " + b"b" * 1000 + b"\r\n" * 1 + b"\r\n", 200),
        (b"GET /inventory HTTP/1.1\r\nHost: localhost\r\n" + (b"X-Big: " + b"b" * 1000 + b"\r\n") * 100 + b"\r\n", 431),
        # a chunked body that is not chunked: refused, not a silent close (the answer had not started)
        (b"GET /inventory HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    ],
    ids=[
        "two-content-lengths",
        "content-length-list",
        "nul-in-header",
        "nul-in-host",
        "two-hosts",
        "http-2.0",
        "gzip-transfer-encoding",
        "huge-body",
        "long-target",
        "longer-target",
        "one-big-header",
        "headers-over-64k",
        "bad-chunk-header",
    ],
)
def test_malformed_or_oversized_requests_get_a_json_refusal_and_close(
    start: Callable[..., Started], request_bytes: bytes, status: int
) -> None:
    agent = start()
    with agent.connect() as sock:
        answer = raw_exchange(sock, request_bytes) if status != 200 else None
        if answer is None:
            sock.sendall(request_bytes)
            assert read_one_answer(sock)[0] == 200
            return
    assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer[:200]
    document = json.loads(answer.split(b"\r\n\r\n", 1)[1])  # one answer, then EOF (raw_exchange reads to it)
    assert document["error"] == "bad_request"
    assert b"node-1" not in answer
    assert agent.lines == []  # quiet without --access-log


@pytest.mark.parametrize(
    "target",
    [
        "http://evil.example/inventory",
        "http://evil.example:9835/check",
        "https://evil.example/metrics",
        "HTTP://EVIL.EXAMPLE/",
    ],
)
def test_an_absolute_form_target_naming_another_host_is_refused(start: Callable[..., Started], target: str) -> None:
    """RFC 9112 section 3.2.2: the authority of an absolute-form target is the host asked for, whatever Host says."""
    agent = start()
    with agent.connect() as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        status, body = read_one_answer(sock)
    assert status in (400, 421)
    assert json.loads(body)["error"] in ("host_not_allowed", "bad_request")
    assert b"node-1" not in body


@pytest.mark.parametrize("target", ["ftp://127.0.0.1/inventory", "http://user@127.0.0.1/inventory", "*", "inventory"])
def test_other_target_forms_are_400(start: Callable[..., Started], target: str) -> None:
    with start().connect() as sock:
        answer = raw_exchange(sock, f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 400 ")


def test_an_absolute_form_target_naming_this_agent_is_served(start: Callable[..., Started]) -> None:
    agent = start()
    with agent.connect() as sock:
        sock.sendall(f"GET http://127.0.0.1:{agent.port}/inventory HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        status, body = read_one_answer(sock)
    assert status == 200
    assert json.loads(body)["hostname"] == "node-1"


def test_a_client_that_half_closes_after_its_request_still_gets_the_answer(start: Callable[..., Started]) -> None:
    agent = start()
    with agent.connect() as sock:
        sock.sendall(b"GET /inventory HTTP/1.1\r\nHost: localhost\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        answer = b"".join(iter(lambda: sock.recv(65536), b""))
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b"node-1" in answer


def test_access_log_has_one_escaped_line_per_request(start: Callable[..., Started]) -> None:
    agent = start(access_log=True)
    assert agent.get("/check?context=%1b%5B31m")[0] == 400
    assert agent.get("/inventory")[0] == 200
    assert len(agent.lines) == 2
    assert agent.lines[1].startswith('127.0.0.1 "GET /inventory HTTP/1.1" 200 ')
    assert "%1b%5B31m" in agent.lines[0]


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
        ["--read-timeout", "nan"],
        ["--read-timeout", "inf"],
        ["--read-timeout", "0"],
        ["--max-requests", "0"],
    ],
)
def test_non_finite_or_negative_times_are_exit_2(cli: Any, write_inventory: Any, args: list[str]) -> None:
    result = cli(["serve", "--port", "0", "--inventory", write_inventory(NODE), *args])
    assert result.code == 2
    assert result.err.strip().count("\n") == 0
    assert args[0] in result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize("module", ["uvicorn", "starlette"])
def test_serve_without_the_serve_extra_says_which_extra_in_one_line(
    write_inventory: Any, tmp_path: Path, module: str
) -> None:
    """A bare install (no uvicorn or starlette): one line naming the extra, exit 2, and no traceback."""
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    code = (
        "import sys\n"
        f"sys.modules[{module!r}] = None\n"
        "from vram_advisor.cli import main\n"
        f"sys.exit(main(['serve', '--port', '0', '--inventory', {write_inventory(NODE)!r}]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=TIMEOUT * 4, check=False
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("vram-advisor: error: ")
    assert module in lines[0] and ".[serve]" in lines[0] and "pip install" in lines[0]
    assert result.stdout == ""


@pytest.mark.skipif(not Path("/proc/self/limits").exists(), reason="reads the limit from /proc (Linux)")
def test_serve_raises_the_open_file_limit_and_holds_more_connections_than_it_started_with(
    write_inventory: Any, tmp_path: Path
) -> None:
    """Started with a soft limit of 256 open files, the real command raises it toward the hard limit, holds 300
    half-open connections and still answers, and SIGTERM stops it cleanly."""
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 1024:
        pytest.skip(f"the hard open-file limit here is {hard}")
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    stderr_path = tmp_path / "serve.err"
    with stderr_path.open("w") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-m", "vram_advisor", "serve", "--port", "0", "--inventory", write_inventory(NODE)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard)),
        )
    half_open: list[socket.socket] = []
    try:
        wait_until(lambda: "serving http://" in stderr_path.read_text(), "the start-up line")
        port = int(stderr_path.read_text().split("serving http://127.0.0.1:", 1)[1].split(" ", 1)[0])
        limits = Path(f"/proc/{child.pid}/limits").read_text()
        raised = int(next(line for line in limits.splitlines() if line.startswith("Max open files")).split()[3])
        assert raised > 256
        for _ in range(300):
            sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
            sock.sendall(b"GET /inventory HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            half_open.append(sock)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        connection.request("GET", "/inventory")
        assert connection.getresponse().status == 200
        connection.close()
        assert sum(is_open(sock) for sock in half_open) == 300
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=TIMEOUT)
    finally:
        for sock in half_open:
            sock.close()
        if child.poll() is None:
            child.kill()
            child.wait(timeout=TIMEOUT)
    err = stderr_path.read_text()
    assert child.returncode == 0, err
    assert "Traceback" not in err and "error" not in err.lower(), err
    assert err.rstrip().endswith("vram-advisor: stopped"), err


def test_serve_command_stays_quiet_under_resets_and_slow_clients(write_inventory: Any, tmp_path: Path) -> None:
    """The real command: resets, a half-open flood and a slow client cost no traceback and at most a line."""
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    stderr_path = tmp_path / "serve.err"
    with stderr_path.open("w") as stderr:
        child = subprocess.Popen(
            [
                *(sys.executable, "-m", "vram_advisor", "serve", "--host", "0", "--port", "0"),
                *("--inventory", write_inventory(NODE), "--max-connections", "8"),  # the old name of --max-requests
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
    """bench/serve_load.py in miniature (5 clients, 60 requests; 20 slowloris connections for 2 s against a 0.5 s
    header deadline), so that the script cannot rot unnoticed."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    bench = SRC.parent / "bench" / "serve_load.py"
    result = subprocess.run(
        [
            *(sys.executable, str(bench), "--clients", "5", "--requests", "60", "--json"),
            *("--slowloris", "20", "--slowloris-seconds", "2", "--serve-arg=--read-timeout=0.5"),
        ],
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
    slow = figures["slowloris"]
    assert slow["attacker_connections"] >= 20
    assert 0 < slow["answered"] <= slow["attempts"]
    assert slow["p99_ms"] >= slow["p50_ms"] > 0
