"""Fuzz: hostile HTTP requests against a real ``serve`` agent on 127.0.0.1 (raw sockets, one server per module).

Properties, for any request line, target, Host and headers: the agent answers with an HTTP/1.1 status line (or,
for an empty request line, closes quietly), logs no traceback or internal error, and never quotes back more than
``MAX_QUOTED_CHARS`` characters of what it was sent. Bounded: ~550 examples, a few seconds.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import gpu, inventory_dict
from vram_advisor.agent import http as agent_http
from vram_advisor.agent.http_routes import MAX_QUOTED_CHARS
from vram_advisor.inventory import model as inv

TIMEOUT = 30  # a safety net against a hung server, not a measurement
MARKER = b"Z"
NODE = inventory_dict([gpu("NVIDIA H100 80GB HBM3", 81559, 480)], ram_gib=512, hostname="fuzz-node")

TOKEN_CHARS = st.characters(min_codepoint=0, max_codepoint=0x2FF, blacklist_characters="\r\n")
token = st.text(TOKEN_CHARS, min_size=1, max_size=40)
long_marker = st.integers(min_value=MAX_QUOTED_CHARS + 60, max_value=6000).map(lambda n: "Z" * n)
methods = st.one_of(st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "BREW"]), token)
paths = st.one_of(
    st.sampled_from(["/", "/check", "/metrics", "/inventory", "/check?context=128k", "/check?gpus=none"]),
    st.builds(lambda p, q: f"/{p}?{q}", token, token),
    st.builds(lambda p, m: f"/check?{p}={m}", st.sampled_from(["context", "gpus", "ram", "require", "x"]), long_marker),
    long_marker.map(lambda m: "/" + m),
    token,
)
versions = st.one_of(st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/0.9", "HTTP/2.0", ""]), token)
hosts = st.one_of(
    st.sampled_from(["localhost", "127.0.0.1:9835", "[::1]", "evil.example", "", "a:b:c", "[::1"]),
    token,
    long_marker,
)
headers = st.lists(
    st.tuples(st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20), token), max_size=5
)


@pytest.fixture(scope="module")
def agent() -> Iterator[tuple[int, list[str]]]:
    lines: list[str] = []
    source = agent_http.CachedProbe(lambda: inv.from_dict(NODE), 3600.0, 30.0)
    server = agent_http.AgentServer(
        ("127.0.0.1", 0), agent_http.Agent(source, environ={}), access_log=True, read_timeout=5.0, log=lines.append
    )
    server.start()
    yield server.bound_address[1], lines
    server.shutdown()
    server.server_close()


def exchange(port: int, request: bytes) -> bytes:
    """Send ``request``, close our side, read everything the agent answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        try:
            sock.sendall(request)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the agent may close first on a request it refuses early; its answer is still there to read
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
        return b"".join(chunks)


def check(port: int, lines: list[str], request: bytes, request_line_empty: bool) -> None:
    before = len(lines)
    answer = exchange(port, request)
    if not request_line_empty:
        assert answer.startswith(b"HTTP/1.1 "), (request[:200], answer[:200])
        assert answer[9:12].isdigit()
    assert MARKER * (MAX_QUOTED_CHARS + 50) not in answer, answer[:500]
    logged = lines[before:]
    assert not any("Traceback" in line or "internal error" in line for line in logged), logged
    assert all("\x1b" not in line and "\n" not in line for line in logged), logged


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=methods, path=paths, version=versions, host=hosts, extra=headers)
def test_any_request_gets_an_answer_and_no_echo(
    agent: tuple[int, list[str]], method: str, path: str, version: str, host: str, extra: list[tuple[str, str]]
) -> None:
    port, lines = agent
    line = " ".join(part for part in (method, path, version) if part)
    head = [line, f"Host: {host}", *(f"{name}: {value}" for name, value in extra)]
    request = ("\r\n".join(head) + "\r\n\r\n").encode("utf-8", "surrogateescape")
    check(port, lines, request, request_line_empty=not line.strip())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(min_size=1, max_size=3000))
def test_raw_bytes_never_crash_the_agent(agent: tuple[int, list[str]], raw: bytes) -> None:
    port, lines = agent
    first_line = raw.split(b"\n", 1)[0].strip()
    request = raw + b"\r\n\r\n"
    before = len(lines)
    answer = exchange(port, request)
    if first_line:
        assert answer == b"" or answer.startswith(b"HTTP/1.1 "), answer[:200]
    assert not any("Traceback" in line or "internal error" in line for line in lines[before:])
    assert exchange(port, b"GET /inventory HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.1 200")


def test_the_agent_still_answers_after_the_fuzzing(agent: tuple[int, list[str]]) -> None:
    port, _lines = agent
    answer: Any = exchange(port, b"GET /check HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200")


def _corpus_http_cases() -> list[str]:
    from test_fuzz_corpus import EXPECTED

    return sorted(name for name in EXPECTED if name.startswith("http-"))


@pytest.fixture(scope="module")
def quick_agent() -> Iterator[tuple[int, list[str]]]:
    """A second agent with a short header deadline, so that a half-sent request is cut off quickly."""
    lines: list[str] = []
    source = agent_http.CachedProbe(lambda: inv.from_dict(NODE), 3600.0, 30.0)
    server = agent_http.AgentServer(
        ("127.0.0.1", 0), agent_http.Agent(source, environ={}), access_log=True, read_timeout=0.5, log=lines.append
    )
    server.start()
    yield server.bound_address[1], lines
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("name", _corpus_http_cases())
def test_corpus_requests(quick_agent: tuple[int, list[str]], name: str) -> None:
    """The corpus's ``http-*`` cases (tests/fuzz/corpus): raw bytes sent as they are, without closing our side,
    listed in ``test_fuzz_corpus.EXPECTED`` with the answer's HTTP status (0: the connection is closed without
    one, at the header deadline) and a phrase of its message; the agent closes the connection either way."""
    from test_fuzz_corpus import CORPUS, EXPECTED

    port, lines = quick_agent
    status, phrase = EXPECTED[name]
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall((CORPUS / name).read_bytes())
        answer = b"".join(iter(lambda: sock.recv(65536), b""))  # to the close (an idle keep-alive one too)
    if status:
        assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer[:300]
        body = answer.split(b"\r\n\r\n", 1)[1]
        assert phrase in json.loads(body)["message"]
        assert b"fuzz-node" not in answer  # never the inventory
    else:
        assert answer == b""
    assert not any("Traceback" in line or "internal error" in line for line in lines)
