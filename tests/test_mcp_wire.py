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


@pytest.mark.parametrize(
    ("request_id", "kind"),
    [
        ("{}", "an object"),
        ('{"a": 1}', "an object"),
        ("null", "null"),
        ("[1]", "a list"),
        ("1.5", "a fraction"),
        ("true", "true or false"),
        ("9" * 5000, "a number of 5000 digits"),
    ],
)
def test_a_request_whose_id_is_not_a_string_or_an_integer_is_an_invalid_request(request_id: str, kind: str) -> None:
    """The SDK takes such a request for a notification and never answers it; JSON-RPC 2.0 answers -32600 with a
    null id (MCP: the id is a string or an integer, never null)."""
    for method in ("ping", "tools/list", "tools/call"):
        reply = reply_of(f'{{"jsonrpc": "2.0", "id": {request_id}, "method": "{method}"}}'.encode())
        assert reply is not None, (request_id, method)
        assert reply["id"] is None and reply["error"]["code"] == -32600
        assert kind in reply["error"]["message"] and len(reply["error"]["message"]) < 200


def test_a_notification_is_still_not_answered() -> None:
    assert reply_of(b'{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}') is None
    assert reply_of(b'{"jsonrpc":"2.0","method":"notifications/initialized","params":{"id":{}}}') is None


@pytest.mark.parametrize("digits", [4301, 5000, 100_000])
def test_a_huge_integer_argument_is_invalid_params_on_its_id_not_a_parse_error(digits: int) -> None:
    """JSON all the same: Python's parser (and the SDK's) refuse integers past 4300 digits, which is no reason to
    call the line "not JSON"."""
    arguments = '{"context": ' + "9" * digits + ', "gpus": "1xH100"}'
    line = f'{{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{{"name":"check","arguments":{arguments}}}}}'
    reply = reply_of(line.encode())
    assert reply is not None
    assert reply["id"] == 12 and reply["error"]["code"] == -32602
    message = reply["error"]["message"]
    assert f"params.arguments.context is a number of {digits} digits (at most 4300)" in message
    assert "99999" not in message


def test_an_integer_of_4300_digits_is_left_to_the_sdk() -> None:
    line = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"check","arguments":{"x":%s}}}'
    assert reply_of((line % ("9" * 4300)).encode()) is None
    assert reply_of((line % ("-" + "9" * 4300)).encode()) is None


def test_a_huge_integer_outside_the_params_is_an_invalid_request() -> None:
    reply = reply_of(b'{"jsonrpc":"2.0","id":"q","method":"ping","extra":' + b"1" * 5000 + b"}")
    assert reply is not None
    assert reply["id"] == "q" and reply["error"]["code"] == -32600
    assert "extra is a number of 5000 digits" in reply["error"]["message"]


def test_an_over_long_line_is_answered_unread_on_its_id() -> None:
    huge = json.dumps({"jsonrpc": "2.0", "id": 9, "params": {"x": "y" * (mcp_wire.MAX_LINE_BYTES + 10)}})
    sent = io.BytesIO()
    wire = mcp_wire.Wire(io.BytesIO(huge.encode() + b"\n" + b'{"next": 1}\n'), sent)
    assert wire.receive() == b'{"next": 1}\n'
    reply = json.loads(sent.getvalue())
    assert reply["id"] == 9 and reply["error"]["code"] == -32600
    assert len(sent.getvalue()) < 200


def test_a_client_that_cannot_be_written_to_ends_the_session_at_the_next_read() -> None:
    class Full(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, data: Any) -> int:
            raise OSError(28, "No space left on device")

    wire = mcp_wire.Wire(io.BytesIO(b'{"a": 1}\n{"b": 2}\n'), Full())  # type: ignore[arg-type]
    wire.send(b'{"reply": 1}')  # no exception into the SDK's writer task
    assert isinstance(wire.broken, OSError) and wire.broken.errno == 28
    wire.send(b'{"reply": 2}')
    assert wire.receive() is None


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
        for bad_id in (b"{}", b"null", b"[7]", b"7.5", b"false"):
            client.send(b'{"jsonrpc":"2.0","id":' + bad_id + b',"method":"ping"}')  # no answer before issue 19
            answer = client.receive()
            assert answer["id"] is None and answer["error"]["code"] == -32600, bad_id
        huge = b'{"context":' + b"9" * 5000 + b"}"
        client.send(
            b'{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"check","arguments":' + huge + b"}}"
        )
        answer = client.receive()
        assert answer["id"] == 8 and answer["error"]["code"] == -32602
        assert "a number of 5000 digits" in answer["error"]["message"]
        client.send(b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"check","arguments":{}}}')
        answer = client.receive()
        assert answer["id"] == 7 and not answer["result"].get("isError")
        assert time.monotonic() - started < TIMEOUT
    finally:
        stderr = client.close()
    assert b"Traceback" not in stderr
    assert client.child.returncode == 0
