"""The MCP server's stdio wire, guarded: every request gets an answer, and no answer echoes a huge input.

The ``mcp`` SDK's stdio transport drops a line it cannot parse without a word (the client then waits for ever),
its parser refuses a lone surrogate escape (``"\\ud800"``) the same way, and an error can quote a 10 MB argument
back. This module sits below the SDK, on the bytes: ``guarded_stdio()`` gives the SDK a ``sys.stdin`` and
``sys.stdout`` that are not the process's file descriptors (so the SDK serves them as they are) and that

* read the client's lines with a bounded length (``MAX_LINE_BYTES``), check each with the SDK's own message
  parser, and answer a line it would drop: -32700 (parse error) for text that is not JSON (or holds a lone
  surrogate), -32600 (invalid request) for JSON that is not a JSON-RPC message or is too long, -32602 (invalid
  params) for params holding an integer of more than ``MAX_NUMBER_DIGITS`` digits (JSON all the same, which
  Python's parser and the SDK's refuse), with the request's id where it can be read, else null (as JSON-RPC 2.0
  says, https://www.jsonrpc.org/specification#error_object);
* answer -32600 a request whose id is an object, a list, a fraction, true/false or null, which the SDK would take
  for a notification and never answer (MCP wants a string or an integer:
  https://modelcontextprotocol.io/specification/2025-06-18/basic#requests);
* write whole lines, one writer at a time, with every string in an error reply cut to ``MAX_ERROR_CHARS``.

While it serves, file descriptor 0 reads /dev/null and 1 writes to stderr (as the SDK's transport arranges), so
nothing a library prints can corrupt the protocol; both are restored afterwards.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO, TextIO

from mcp.types import JSONRPCNotification, jsonrpc_message_adapter

from vram_advisor.core.jsonread import shortened

#: The longest line read as a message (tool arguments are short; a longer line is answered -32600 unread).
MAX_LINE_BYTES = 1024 * 1024
#: How much of any one string an error reply may carry (messages, data, the text of a tool's error).
MAX_ERROR_CHARS = 1000
#: The longest integer read (Python's ``int`` and the SDK's parser both stop at 4300 digits).
MAX_NUMBER_DIGITS = 4300
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
#: A request id at the very start of an over-long line: ``{"id": ...`` or ``{"jsonrpc": "2.0", "id": ...``.
_LEADING_ID = re.compile(
    rb'^\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*("(?:[^"\\]|\\.){0,200}"|-?\d{1,19})\s*[,}]'
)
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def error_reply(request_id: str | int | None, code: int, message: str) -> bytes:
    """One JSON-RPC error line (no newline)."""
    document = {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": cut(message)}}
    return json.dumps(document, ensure_ascii=False).encode("utf-8", "replace")


def cut(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying so (``core.jsonread.shortened``)."""
    return shortened(text, limit)


def _request_id(value: Any) -> str | int | None:
    """``value`` if it can be a JSON-RPC id (a string or an integer), else None."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    if isinstance(value, str):
        return cut(_LONE_SURROGATE.sub("\ufffd", value), 200)
    return value


class _LongNumber:
    """Stands in a parsed line for an integer longer than Python (and the SDK's parser) will read."""

    __slots__ = ("digits",)

    def __init__(self, digits: int) -> None:
        self.digits = digits


def _integer(text: str) -> int | _LongNumber:
    digits = len(text.lstrip("-"))
    return _LongNumber(digits) if digits > MAX_NUMBER_DIGITS else int(text)


_DECODER = json.JSONDecoder(parse_int=_integer)


def vet_line(line: bytes) -> bytes | None:
    """None when the SDK can take ``line`` as a message; else the error line to answer it with."""
    if not line.strip():
        return None  # blank lines are skipped by the caller
    text = line.decode("utf-8", "replace")
    try:
        message = jsonrpc_message_adapter.validate_json(text, by_name=False)
    except ValueError:
        return _refusal(text)
    if isinstance(message, JSONRPCNotification):
        return _vet_notification(text)
    return None


def _vet_notification(text: str) -> bytes | None:
    """A notification is answered only when it is a request with an id MCP does not allow (an object, a list, a
    fraction, true/false or null): the SDK would take it as a notification and the client would wait for ever.
    JSON-RPC 2.0 answers such a request -32600 with a null id; MCP (basic/#requests) wants a string or an integer."""
    try:
        document = _DECODER.decode(text)
    except (ValueError, RecursionError):
        return None  # the SDK's own parser took it; leave it to the SDK
    if not isinstance(document, dict) or "id" not in document:
        return None
    kind = "null" if document["id"] is None else _kind(document["id"])
    return error_reply(None, INVALID_REQUEST, f"Invalid Request: the id is {kind}; it must be a string or an integer")


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, _LongNumber):
        return f"a number of {value.digits} digits (at most {MAX_NUMBER_DIGITS})"
    names = {dict: "an object", list: "a list", float: "a fraction", str: "a string", int: "an integer"}
    return names.get(type(value), "not a string or an integer")


def _refusal(text: str) -> bytes:
    """The error line for a line the SDK refused."""
    try:
        document = _DECODER.decode(text)
    except ValueError as exc:
        if isinstance(exc, json.JSONDecodeError):
            return error_reply(None, PARSE_ERROR, "Parse error: the line is not JSON")
        # an integer past a lower limit set with PYTHONINTMAXSTRDIGITS
        return error_reply(None, INVALID_REQUEST, "Invalid Request: a number too long to read")
    except RecursionError:
        return error_reply(None, PARSE_ERROR, "Parse error: the line is not JSON")
    request_id = _request_id(document.get("id")) if isinstance(document, dict) else None
    try:
        found = _first_problem(document)
    except RecursionError:
        return error_reply(None, PARSE_ERROR, "Parse error: the message is nested too deeply")
    if found is not None and isinstance(found[1], _LongNumber):
        where, number = found
        problem = f"{where or 'the message'} is a number of {number.digits} digits (at most {MAX_NUMBER_DIGITS})"
        if where.startswith("params"):
            return error_reply(request_id, INVALID_PARAMS, f"Invalid params: {problem}")
        return error_reply(request_id, INVALID_REQUEST, f"Invalid Request: {problem}")
    if found is not None:
        return error_reply(request_id, PARSE_ERROR, "Parse error: the message holds a lone surrogate (\\ud800-\\udfff)")
    if not isinstance(document, dict):
        return error_reply(None, INVALID_REQUEST, "Invalid Request: expected one JSON-RPC message object")
    return error_reply(request_id, INVALID_REQUEST, "Invalid Request: not a JSON-RPC 2.0 message")


def _first_problem(value: Any) -> tuple[str, Any] | None:
    """Where a parsed line holds a number too long to read or a lone surrogate (Python's parser takes
    ``"\\ud800"``; the SDK's does not), and which: its path (``params.arguments.x``) and the value; None if
    neither. Iterative, so nesting costs no stack."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, where = stack.pop()
        if isinstance(item, _LongNumber):
            return _shown_path(where), item
        if isinstance(item, str):
            if _LONE_SURROGATE.search(item):
                return _shown_path(where), item
        elif isinstance(item, dict):
            for key, child in item.items():
                if _LONE_SURROGATE.search(key):
                    return _shown_path(where), key
                stack.append((child, f"{where}.{key}" if where else key))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{index}]") for index, child in enumerate(item))
    return None


def _shown_path(where: str) -> str:
    """A field path as an error may quote it: keys come from the client, so escapes shown and length cut."""
    shown = where.encode("ascii", "backslashreplace").decode("ascii")
    shown = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in shown)
    return cut(shown, 200)


def shorten_errors(line: bytes) -> bytes:
    """An outgoing line with every string in an error (``error``, or a tool result with ``isError``) cut short."""
    if len(line) <= 2 * MAX_ERROR_CHARS:
        return line
    try:
        document = json.loads(line)
    except ValueError:
        return line
    if not isinstance(document, dict):
        return line
    result = document.get("result")
    if "error" in document or (isinstance(result, dict) and result.get("isError") is True):
        return json.dumps(_cut_strings(document), ensure_ascii=False).encode("utf-8", "replace")
    return line


def _cut_strings(value: Any) -> Any:
    if isinstance(value, str):
        return cut(value)
    if isinstance(value, dict):
        return {key: _cut_strings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_cut_strings(item) for item in value]
    return value


class Wire:
    """The byte streams to and from the client: lines in, whole lines out, one writer at a time."""

    def __init__(self, incoming: BinaryIO, outgoing: BinaryIO) -> None:
        self._in = incoming
        self._out = outgoing
        self._lock = threading.Lock()
        #: Why the client can no longer be written to (a closed pipe, a full disk), once that happened.
        self.broken: OSError | None = None

    def send(self, line: bytes) -> None:
        """Write one whole line; when the client cannot be written to, remember why and drop this and every later
        line (the next ``receive`` then ends the session, as the end of input would)."""
        with self._lock:
            if self.broken is not None:
                return
            try:
                data = memoryview(line + b"\n")
                while data:  # an unbuffered stream may take part of it
                    written = self._out.write(data)
                    data = data[len(data) if written is None else written :]
                self._out.flush()
            except OSError as exc:
                self.broken = exc

    def receive(self) -> bytes | None:
        """The next line (at most ``MAX_LINE_BYTES``; a longer one is answered here and skipped); None at EOF, or
        once the client can no longer be answered."""
        while True:
            if self.broken is not None:
                return None
            line = self._in.readline(MAX_LINE_BYTES + 1)
            if not line:
                return None
            if len(line) <= MAX_LINE_BYTES or line.endswith(b"\n"):
                return line
            head = line[:4096]
            while line and not line.endswith(b"\n"):
                line = self._in.readline(MAX_LINE_BYTES)
            match = _LEADING_ID.match(head)
            request_id = _request_id(json.loads(match.group(1))) if match else None
            self.send(error_reply(request_id, INVALID_REQUEST, f"Invalid Request: longer than {MAX_LINE_BYTES} bytes"))


class _GuardedInput(io.RawIOBase):
    """What the SDK reads: only the lines it can parse; the others are answered on the wire instead."""

    def __init__(self, wire: Wire) -> None:
        self._wire = wire
        self._ready = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._ready:
            line = self._wire.receive()
            if line is None:
                return 0
            reply = vet_line(line)
            if reply is None:
                self._ready = line if line.endswith(b"\n") else line + b"\n"
            else:
                self._wire.send(reply)
        count = min(len(buffer), len(self._ready))
        buffer[:count] = self._ready[:count]
        self._ready = self._ready[count:]
        return count


class _GuardedOutput(io.RawIOBase):
    """What the SDK writes: gathered into lines, error replies cut short, sent whole."""

    def __init__(self, wire: Wire) -> None:
        self._wire = wire
        self._pending = b""

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._pending += chunk
        while b"\n" in self._pending:
            line, self._pending = self._pending.split(b"\n", 1)
            if line.strip():
                self._wire.send(shorten_errors(line))
        return len(chunk)


def guarded_streams(wire: Wire) -> tuple[TextIO, TextIO]:
    """A text stdin and stdout for the SDK over ``wire`` (neither has a file descriptor)."""
    stdin = io.TextIOWrapper(io.BufferedReader(_GuardedInput(wire)), encoding="utf-8", errors="replace")
    stdout = io.TextIOWrapper(io.BufferedWriter(_GuardedOutput(wire)), encoding="utf-8", errors="replace")
    return stdin, stdout


@contextmanager
def guarded_stdio() -> Iterator[Wire]:
    """``sys.stdin``/``sys.stdout`` replaced by the guarded streams over private copies of fd 0 and 1.

    A stdout closed when the program started (``>&-``) raises ``OSError(EBADF)`` here, before serving anyone."""
    sys.stdout.flush()
    try:
        sys.stdout.fileno()
    except OSError as exc:
        if exc.errno == errno.EBADF:
            raise
    wire_in, wire_out = os.dup(0), os.dup(1)
    saved_in, saved_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    os.close(devnull)
    # unbuffered out: a write that failed leaves nothing behind to fail again when the stream is closed at exit
    wire = Wire(os.fdopen(wire_in, "rb"), os.fdopen(wire_out, "wb", buffering=0))
    old_stdin, old_stdout = sys.stdin, sys.stdout
    sys.stdin, sys.stdout = guarded_streams(wire)
    try:
        yield wire
    finally:
        sys.stdin, sys.stdout = old_stdin, old_stdout
        os.dup2(saved_in, 0)
        os.dup2(saved_out, 1)
        os.close(saved_in)
        os.close(saved_out)
