"""Fuzz: hostile lines to the MCP server: the guard's checks in-process, then the real ``vram-advisor mcp``.

Properties: every line that is not blank and not a valid notification gets exactly one reply, on the request's id
where one can be read; a reply is JSON-RPC, never a traceback, and never quotes more than ``MAX_ERROR_CHARS``
characters of one string. Bounded: a few hundred in-process examples and ~60 lines to one server process.
"""

from __future__ import annotations

import json
import os
import re
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

#: Stands for an integer too long for ``json.dumps`` to write: ``encoded`` puts the digits in.
HUGE = "@@HUGE@@"
_HUGE_NUMBER = re.compile(f'"{HUGE}(\\d+){HUGE}"')

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False),
    st.text(max_size=30),  # lone surrogates included: json.dumps writes them as \\udXXX escapes
    st.integers(min_value=2000, max_value=20000).map(lambda n: "Z" * n),
    st.integers(min_value=4301, max_value=9000).map(lambda n: f"{HUGE}{n}{HUGE}"),  # an integer of n digits
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
request_ids = st.one_of(st.integers(min_value=1, max_value=10**6), st.text(min_size=1, max_size=12))
#: Ids MCP does not allow (basic/#requests: a string or an integer, never null), which the SDK took for
#: notifications and never answered.
bad_ids = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: x != int(x)),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    st.lists(st.integers(), max_size=2),
    st.integers(min_value=4301, max_value=6000).map(lambda n: f"{HUGE}{n}{HUGE}"),
)
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
    text = json.dumps(document)
    return _HUGE_NUMBER.sub(lambda found: "9" * int(found.group(1)), text).encode("ascii")


bad_id_requests = st.builds(
    lambda request_id, method, params: {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params},
    bad_ids,
    methods,
    st.one_of(st.none(), tool_calls),
)


@settings(max_examples=300, deadline=None)
@given(line=st.one_of(garbage, requests.map(encoded), json_value.map(encoded), bad_id_requests.map(encoded)))
def test_the_guard_passes_or_answers_every_line(line: bytes) -> None:
    reply = mcp_wire.vet_line(line)
    huge = re.search(rb"\d{4301}", line) is not None
    surrogate = re.search(rb"\\u[dD][89a-fA-F]", line) is not None
    if reply is None:
        assert not huge, "an integer past 4300 digits, which the SDK cannot read, was passed on"
        return  # the SDK parses it, and the SDK answers it
    assert len(reply) < REPLY_LIMIT
    document = json.loads(reply)
    code = document["error"]["code"]
    assert document["jsonrpc"] == "2.0" and code in (
        mcp_wire.PARSE_ERROR,
        mcp_wire.INVALID_REQUEST,
        mcp_wire.INVALID_PARAMS,
    )
    if huge and not surrogate and line.startswith(b"{"):
        assert code != mcp_wire.PARSE_ERROR, document  # JSON all the same: never "not JSON"
        assert "digits (at most 4300)" in document["error"]["message"]


@settings(max_examples=200, deadline=None)
@given(request=bad_id_requests)
def test_a_request_with_an_id_mcp_does_not_allow_is_answered_with_a_null_id(request: dict[str, Any]) -> None:
    line = encoded(request)
    reply = mcp_wire.vet_line(line)
    assert reply is not None, line[:200]
    document = json.loads(reply)
    assert document["id"] is None and document["error"]["code"] in (
        mcp_wire.INVALID_REQUEST,
        mcp_wire.INVALID_PARAMS,
        mcp_wire.PARSE_ERROR,  # a lone surrogate elsewhere in the request
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
@given(line=st.one_of(garbage, requests.map(encoded), bad_id_requests.map(encoded)))
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


def _corpus_mcp_cases() -> list[str]:
    from test_fuzz_corpus import EXPECTED

    return sorted(name for name in EXPECTED if name.startswith("mcp-"))


@pytest.mark.parametrize("name", _corpus_mcp_cases())
def test_corpus_lines(server: Server, name: str) -> None:
    """The corpus's ``mcp-*`` cases (tests/fuzz/corpus): one line each to the real server, listed in
    ``test_fuzz_corpus.EXPECTED`` with the reply's JSON-RPC error code (0: a result that is a clean tool error)
    and a phrase of its message. The guard answers the same in-process."""
    from test_fuzz_corpus import CORPUS, EXPECTED

    code, phrase = EXPECTED[name]
    line = (CORPUS / name).read_bytes().strip()
    reply = server.ask(line)
    assert reply["jsonrpc"] == "2.0" and len(json.dumps(reply)) < REPLY_LIMIT
    if code:
        assert reply["error"]["code"] == code, reply
        assert phrase in reply["error"]["message"], reply
        guarded = mcp_wire.vet_line(line)
        assert guarded is not None and json.loads(guarded) == reply
    else:
        result = reply["result"]
        text = " ".join(item.get("text", "") for item in result["content"])
        assert result["isError"] is True and phrase in text, text[:300]
        assert "internal error" not in text and "9" * 60 not in text, text[:300]
