"""Fuzz: hostile lines to the MCP server: the guard's checks in-process, then the real ``vram-advisor mcp``.

Properties: every line that is not blank and not a valid notification gets exactly one reply, on the request's id
where one can be read; a reply is JSON-RPC, never a traceback, and never quotes more than ``MAX_ERROR_CHARS``
characters of one string. Bounded: a few hundred in-process examples and ~60 lines to one server process.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import gpu, inventory_dict

pytest.importorskip("mcp.server.mcpserver")
from vram_advisor.agent import mcp_wire

SRC = Path(__file__).resolve().parents[2] / "src"
TIMEOUT = 30  # a safety net against a hung server, not a measurement
NODE = inventory_dict([gpu("NVIDIA RTX 4090", 24564, 300)], ram_gib=64, hostname="fuzz-ws")
REPLY_LIMIT = 3 * mcp_wire.MAX_ERROR_CHARS + 500

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False),
    st.text(max_size=30),  # lone surrogates included: json.dumps writes them as \\udXXX escapes
    st.integers(min_value=2000, max_value=20000).map(lambda n: "Z" * n),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
request_ids = st.one_of(st.integers(min_value=1, max_value=10**6), st.text(min_size=1, max_size=12))
methods = st.one_of(st.sampled_from(["tools/call", "tools/list", "ping", "resources/list"]), st.text(max_size=40))
tool_calls = st.fixed_dictionaries(
    {"name": st.one_of(st.sampled_from(["check", "estimate", "probe"]), st.text(max_size=20)), "arguments": json_value}
)
requests = st.builds(
    lambda request_id, method, params: {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params},
    request_ids,
    methods,
    st.one_of(tool_calls, json_value),
)
garbage = st.binary(min_size=1, max_size=400).filter(lambda raw: b"\n" not in raw and raw.strip() != b"")


def encoded(document: Any) -> bytes:
    return json.dumps(document).encode("ascii")


@settings(max_examples=300, deadline=None)
@given(line=st.one_of(garbage, requests.map(encoded), json_value.map(encoded)))
def test_the_guard_passes_or_answers_every_line(line: bytes) -> None:
    reply = mcp_wire.vet_line(line)
    if reply is None:
        return  # the SDK parses it, and the SDK answers it
    assert len(reply) < REPLY_LIMIT
    document = json.loads(reply)
    assert document["jsonrpc"] == "2.0" and document["error"]["code"] in (
        mcp_wire.PARSE_ERROR,
        mcp_wire.INVALID_REQUEST,
    )


class Server:
    def __init__(self, inventory: str) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
        self.child = subprocess.Popen(
            [sys.executable, "-m", "vram_advisor", "mcp", "--inventory", inventory],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )

    def ask(self, line: bytes) -> dict[str, Any]:
        assert self.child.stdin is not None and self.child.stdout is not None
        self.child.stdin.write(line + b"\n")
        self.child.stdin.flush()
        ready, _, _ = select.select([self.child.stdout], [], [], TIMEOUT)
        assert ready, f"no reply within {TIMEOUT} s to {line[:200]!r}"
        reply = self.child.stdout.readline()
        assert reply and len(reply) < 200_000, reply[:200]
        return dict(json.loads(reply))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    path = tmp_path_factory.mktemp("mcp-fuzz") / "node.json"
    path.write_text(json.dumps(NODE))
    running = Server(str(path))
    init = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "fuzz", "version": "0"}}
    assert "result" in running.ask(encoded({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": init}))
    assert running.child.stdin is not None
    running.child.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
    yield running
    running.child.stdin.close()
    try:
        running.child.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        running.child.kill()
        running.child.wait(timeout=TIMEOUT)
    assert running.child.stderr is not None
    assert b"Traceback" not in running.child.stderr.read()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(line=st.one_of(garbage, requests.map(encoded)))
def test_the_real_server_answers_every_request(server: Server, line: bytes) -> None:
    reply = server.ask(line)
    assert reply["jsonrpc"] == "2.0"
    if line.startswith(b"{") and b'"id"' in line:
        try:
            sent_id = json.loads(line)["id"]
        except (ValueError, KeyError, TypeError):
            sent_id = None
        if sent_id is not None and reply.get("id") is not None:
            assert reply["id"] == sent_id
    if "error" in reply:
        assert len(json.dumps(reply)) < REPLY_LIMIT
    else:
        result = reply["result"]
        if isinstance(result, dict) and result.get("isError"):
            assert len(json.dumps(reply)) < REPLY_LIMIT
