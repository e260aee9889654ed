"""A stand-in OpenAI-compatible server for ``verify``'s fault cases and for a stream of known pace, on 127.0.0.1.

Allowed only where a real engine cannot be made to misbehave on cue: a server that stalls, sends garbage, streams
forever, redirects elsewhere or asks for credentials; and one that streams at a known 40 tok/s after a 300 ms first
token, to check the client-side measurement against a pace set by the clock. Every request it receives is recorded
(method, path, headers), so tests can see what the client sent and where.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

MODELS = {"object": "list", "data": [{"id": "stand-in", "object": "model", "owned_by": "vllm", "max_model_len": 4096}]}


@dataclass
class Behaviour:
    """What the stand-in does. ``mode``: ``paced``, ``stall``, ``garbage``, ``endless``, ``redirect``, ``401``,
    ``stall-stream`` (answers the models, then stalls inside the stream), ``garbage-stream``, ``trickle-models`` and
    ``trickle-stream`` (a byte every 50 ms, never a whole line, on a connection it closes), ``chunk-overflow`` (a
    chunk size past any integer), ``deep-json`` (100,000 nested arrays), ``lying-usage`` (a token count of 10**9)."""

    mode: str
    first_token_s: float = 0.3
    tokens_per_s: float = 40.0
    location: str = "http://127.0.0.1:9/elsewhere"
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)


def _read_head(sock: socket.socket) -> tuple[str, str, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path = [*lines[0].split(" "), "", ""][:2]
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    length = int(headers.get("content-length") or 0)
    while len(rest) < length:
        chunk = sock.recv(4096)
        if not chunk:
            break
        rest += chunk
    return method, path, headers, rest


def _answer(status: str, body: bytes, content_type: str = "application/json", extra: str = "") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n{extra}"
    return (head + "Connection: close\r\n\r\n").encode() + body


def _event(text: str) -> bytes:
    chunk = {"object": "text_completion", "choices": [{"index": 0, "text": text, "finish_reason": None}]}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        behaviour = self.server.behaviour
        sock = self.request
        method, path, headers, _body = _read_head(sock)
        behaviour.requests.append((method, path, headers))
        mode = behaviour.mode
        try:
            if mode == "stall":
                behaviour.stop.wait(60)
                return
            if mode == "garbage":
                sock.sendall(b"\x00\xff\x13garbage that is not HTTP at all\r\n\r\n" * 4)
                return
            if mode == "redirect":
                sock.sendall(_answer("302 Found", b"", extra=f"Location: {behaviour.location}\r\n"))
                return
            if mode == "trickle-models":
                sock.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n")
                while not behaviour.stop.wait(0.05):
                    sock.sendall(b" ")
                return
            if mode == "chunk-overflow":
                sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffffffff\r\n")
                return
            if mode == "deep-json":
                sock.sendall(_answer("200 OK", b"[" * 100_000))
                return
            if mode == "401":
                sock.sendall(_answer("401 Unauthorized", b'{"error": "no key"}', extra="WWW-Authenticate: Bearer\r\n"))
                return
            if path.endswith("/v1/models"):
                sock.sendall(_answer("200 OK", json.dumps(MODELS).encode()))
                return
            if not path.endswith("/completions"):
                sock.sendall(_answer("404 Not Found", b'{"error": "not found"}'))
                return
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
            if mode == "stall-stream":
                sock.sendall(_event("a"))
                behaviour.stop.wait(60)
            elif mode == "garbage-stream":
                sock.sendall(b"data: {not json at all\n\n")
            elif mode == "endless":
                while not behaviour.stop.is_set():
                    sock.sendall(_event("x"))
            elif mode == "trickle-stream":
                while not behaviour.stop.wait(0.05):
                    sock.sendall(b"d")
            elif mode == "lying-usage":
                for _ in range(8):
                    sock.sendall(_event("x"))
                lie = {"choices": [], "usage": {"completion_tokens": 10**9}}
                sock.sendall(b"data: " + json.dumps(lie).encode() + b"\n\ndata: [DONE]\n\n")
            elif mode == "paced":
                self._paced(sock, behaviour)
        except OSError:  # the client went away (as it must, in the fault cases)
            return

    def _paced(self, sock: socket.socket, behaviour: Behaviour) -> None:
        """The first token ``first_token_s`` after the request, then one every 1/``tokens_per_s`` s, on the clock."""
        started = time.perf_counter()
        time.sleep(behaviour.first_token_s)
        first = time.perf_counter()
        step = 1.0 / behaviour.tokens_per_s
        for index in range(64):
            delay = first + index * step - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sock.sendall(_event(f"t{index} "))
        end = {"choices": [{"index": 0, "text": "", "finish_reason": "length"}], "usage": {"completion_tokens": 64}}
        sock.sendall(b"data: " + json.dumps(end).encode() + b"\n\ndata: [DONE]\n\n")
        del started


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    behaviour: Behaviour


@contextmanager
def standin(behaviour: Behaviour) -> Iterator[str]:
    """Serve ``behaviour`` on 127.0.0.1 (a free port); yields the base URL."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.behaviour = behaviour
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        behaviour.stop.set()
        server.shutdown()
        server.server_close()
