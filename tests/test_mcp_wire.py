"""mcp: the guarded stdio wire under the SDK (agent/mcp_wire.py): every request is answered, nothing huge is echoed.

The end-to-end test drives the real ``vram-advisor mcp`` with raw lines, as a broken or hostile client would."""

from __future__ import annotations

import io
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import gpu, inventory_dict

pytest.importorskip("mcp.server.mcpserver")
from vram_advisor.agent import mcp_wire

SRC = Path(__file__).resolve().parents[1] / "src"
TIMEOUT = 60  # a safety net against a hung server, not a measurement
NODE = inventory_dict([gpu("NVIDIA RTX 4090", 24564, 300)], ram_gib=64, hostname="ws")


def reply_of(line: bytes) -> dict[str, Any] | None:
    reply = mcp_wire.vet_line(line)
    return None if reply is None else json.loads(reply)


def test_good_messages_pass_to_the_sdk() -> None:
    assert reply_of(b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}\n') is None
    assert reply_of(b'{"jsonrpc":"2.0","method":"notifications/initialized"}') is None


@pytest.mark.parametrize("line", [b'{"jsonrpc": "2.0", "id": 2, "method": ', b"hello", b"\xff\xfe", b"[1, 2"])
def test_malformed_json_is_a_parse_error_with_a_null_id(line: bytes) -> None:
    assert reply_of(line) == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32700, "message": "Parse error: the line is not JSON"},
    }


def test_a_lone_surrogate_is_answered_on_its_id() -> None:
    line = b'{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"check","arguments":{"gpus":"\\ud800"}}}'
    reply = reply_of(line)
    assert reply is not None
    assert reply["id"] == 3 and reply["error"]["code"] == -32700
    assert "surrogate" in reply["error"]["message"]


@pytest.mark.parametrize(
    ("line", "request_id"),
    [(b'{"id": 7, "method": "tools/list"}', 7), (b'{"jsonrpc": "2.0", "id": "a", "method": 5}', "a"), (b"[1]", None)],
)
def test_json_that_is_not_json_rpc_is_an_invalid_request(line: bytes, request_id: object) -> None:
    reply = reply_of(line)
    assert reply is not None
    assert reply["id"] == request_id and reply["error"]["code"] == -32600


def test_an_over_long_line_is_answered_unread_on_its_id() -> None:
    huge = json.dumps({"jsonrpc": "2.0", "id": 9, "params": {"x": "y" * (mcp_wire.MAX_LINE_BYTES + 10)}})
    sent = io.BytesIO()
    wire = mcp_wire.Wire(io.BytesIO(huge.encode() + b"\n" + b'{"next": 1}\n'), sent)
    assert wire.receive() == b'{"next": 1}\n'
    reply = json.loads(sent.getvalue())
    assert reply["id"] == 9 and reply["error"]["code"] == -32600
    assert len(sent.getvalue()) < 200


def test_error_replies_are_cut_but_results_are_not() -> None:
    error = json.dumps({"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "x", "data": "z" * 10**6}})
    assert len(mcp_wire.shorten_errors(error.encode())) < 2 * mcp_wire.MAX_ERROR_CHARS
    failed = json.dumps({"jsonrpc": "2.0", "id": 2, "result": {"isError": True, "content": [{"text": "q" * 10**5}]}})
    assert len(mcp_wire.shorten_errors(failed.encode())) < 2 * mcp_wire.MAX_ERROR_CHARS
    fine = json.dumps({"jsonrpc": "2.0", "id": 3, "result": {"content": [{"text": "r" * 10**5}]}}).encode()
    assert mcp_wire.shorten_errors(fine) == fine


class RawClient:
    """``vram-advisor mcp`` in a child process, spoken to line by line."""

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

    def send(self, line: bytes) -> None:
        assert self.child.stdin is not None
        self.child.stdin.write(line + b"\n")
        self.child.stdin.flush()

    def receive(self) -> dict[str, Any]:
        assert self.child.stdout is not None
        ready, _, _ = select.select([self.child.stdout], [], [], TIMEOUT)
        assert ready, f"no answer within {TIMEOUT} s"
        line = self.child.stdout.readline()
        assert line, "the server closed stdout"
        # a check document lists every option with its download (up to 20 shard names) and offload plans: ~70 KB
        # indented, then escaped into the MCP text: bounded, never an echo of a huge input
        assert len(line) < 250_000, f"a {len(line)}-byte answer"
        return dict(json.loads(line))

    def close(self) -> bytes:
        assert self.child.stdin is not None and self.child.stderr is not None
        self.child.stdin.close()
        try:
            self.child.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait(timeout=TIMEOUT)
        return self.child.stderr.read()


def test_every_request_gets_an_answer_from_the_real_server(write_inventory: Any) -> None:
    client = RawClient(write_inventory(NODE))
    try:
        init = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}
        client.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init}).encode())
        assert "result" in client.receive()
        client.send(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
        started = time.monotonic()
        client.send(b'{"jsonrpc": "2.0", "id": 2, "method": ')
        assert client.receive()["error"]["code"] == -32700
        client.send(
            b'{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"check","arguments":{"gpus":"\\udc80"}}}'
        )
        assert client.receive()["id"] == 3
        big = {"name": "check", "arguments": {"gpus": "x" * 3_000_000}}
        client.send(json.dumps({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": big}).encode())
        assert client.receive()["id"] == 4
        quoted = {"name": "check", "arguments": {"gpus": "x" * 500_000}}  # under the line limit: the tool answers
        client.send(json.dumps({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": quoted}).encode())
        answer = client.receive()
        assert answer["id"] == 5 and answer["result"]["isError"] is True
        assert len(json.dumps(answer)) < 5000
        client.send(json.dumps({"jsonrpc": "2.0", "id": 6, "method": "y" * 500_000}).encode())
        assert client.receive()["error"]["code"] == -32601
        client.send(b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"check","arguments":{}}}')
        answer = client.receive()
        assert answer["id"] == 7 and not answer["result"].get("isError")
        assert time.monotonic() - started < TIMEOUT
    finally:
        stderr = client.close()
    assert b"Traceback" not in stderr
    assert client.child.returncode == 0
