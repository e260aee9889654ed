"""What stands between hostile clients and ``agent.http_routes.Agent`` on uvicorn (ASGI) and starlette.

Stock uvicorn leaves gaps that this module fills (uvicorn 0.55 with its pure-Python ``h11`` parser, which refuses
two conflicting ``Content-Length`` headers and control characters such as NUL in a header, RFC 9112 section 6.3
and RFC 9110 section 5.5):

* ``guarded_protocol``: uvicorn's ``H11Protocol`` with a **header deadline**. From the moment a connection opens,
  and again after each answer, the next request line and all its headers must arrive within ``read_timeout``
  seconds however slowly they trickle (stock uvicorn has no deadline for a connection's first request, and restarts
  its keep-alive timer at every byte, so a slowloris holds a connection for ever); the same timer closes an idle
  kept-alive connection. Malformed requests get a short JSON answer (400, 414, 431, 501) and the connection
  closes, with no log line unless ``--access-log``. A client that half-closes after its request still gets the
  answer.
* ``AgentApp``: the ASGI application. It screens each request before any work (HTTP version 505, target length
  414, header size 431, body 413, the Host allow-list 421 for the Host header **and** an absolute-form target's
  authority), then holds a **work limit that counts requests in flight**, answering 503 beyond it (uvicorn's own
  ``limit_concurrency`` counts open connections, so idle and slow connections would use it up), and runs
  ``Agent.handle`` in starlette's thread pool. Access log lines escape whatever the client sent.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import h11
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response as StarletteResponse
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol

from vram_advisor.agent.http_routes import Agent, Response, shortened
from vram_advisor.core.jsonread import clean_text
from vram_advisor.core.records import dataclass

#: The request line and headers together may take at most this many bytes (beyond: 431, or 414 for the line).
MAX_HEAD_BYTES = 64 * 1024
#: The request target may be at most this long (beyond: 414).
MAX_TARGET_CHARS = 32 * 1024
#: The agent reads no request body; one declared larger than this is answered 413 (any body closes the connection).
MAX_BODY_BYTES = 64 * 1024
MAX_LOGGED_CHARS = 300


def loggable(text: object) -> str:
    """Client-supplied text as it may reach a log: control characters and terminal escapes escaped, cut short."""
    return clean_text(shortened(str(text), MAX_LOGGED_CHARS))


class _OneLineHandler(logging.Handler):
    """Log records as one escaped line each through ``log``, never with a traceback."""

    def __init__(self, log: Callable[[str], None], prefix: str) -> None:
        super().__init__(logging.ERROR)
        self._log = log
        self._prefix = prefix

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = " ".join(record.getMessage().split())
            if record.exc_info and record.exc_info[1] is not None:
                exc = record.exc_info[1]
                text = f"{text}: {exc.__class__.__name__}: {exc}"
            self._log(f"{self._prefix}{loggable(text)}")
        except Exception:  # a log line must never take the server down
            pass


def one_line_logger(name: str, log: Callable[[str], None], prefix: str) -> logging.Logger:
    """A logger of its own (not in the global registry) that writes errors only, one escaped line each."""
    logger = logging.Logger(name, logging.ERROR)
    logger.addHandler(_OneLineHandler(log, prefix))
    logger.propagate = False
    return logger


def route_library_logs(log: Callable[[str], None]) -> None:
    """Send uvicorn's and asyncio's own error records (say, ``accept`` out of file descriptors) through ``log`` as
    one line each, and drop their informational chatter; for the ``serve`` process, which owns its stderr."""
    for name in ("uvicorn", "asyncio"):
        logger = logging.getLogger(name)
        logger.handlers = [_OneLineHandler(log, f"{name}: ")]
        logger.propagate = False
        logger.setLevel(logging.ERROR)


@dataclass(frozen=True)
class Guard:
    """What the protocol of one server needs: its deadline, whether to log clients, and where."""

    read_timeout: float
    access_log: bool
    log: Callable[[str], None]
    logger: logging.Logger


def _problem_text(exc: BaseException | None, status: int) -> str:
    """h11's complaint about a malformed request, worded for the client (no bytes of the request echoed)."""
    text = str(exc) if exc is not None else ""
    if status == 414:
        return f"the request line is over {MAX_HEAD_BYTES // 1024} KiB"
    if status == 431:
        return f"the request line and headers are over {MAX_HEAD_BYTES // 1024} KiB"
    if text.startswith("Missing mandatory Host"):
        return "the request has no Host header"
    if text.startswith("Found multiple Host"):
        return "the request has more than one Host header"
    if text.startswith("illegal header line"):
        return "malformed header line (a control character such as NUL, a space before the colon, or no colon)"
    if text.startswith("illegal request line"):
        return "malformed request line"
    return shortened(text.split(":", 1)[0].strip()) or "malformed request"


class _GuardedH11(H11Protocol):
    """uvicorn's h11 protocol with the header deadline, JSON refusals and half-close handling (module docstring).

    Hooks into uvicorn 0.55's ``H11Protocol``: ``timeout_keep_alive_task`` is the one timer, armed when the
    connection opens and after each answer and cancelled (``_unset_keepalive_if_required``) only when a whole
    request head has arrived, never by a byte of one. ``pyproject.toml`` pins uvicorn to the range tested.
    """

    guard: Guard  # set on the subclass each server makes (``guarded_protocol``)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.logger = self.guard.logger
        self._awaiting_head = True
        self._head = bytearray()  # the first bytes of the head under way, for the access log
        self._line_done = False  # whether its request line has ended
        self._peer_done = False  # the client half-closed: close once the answer under way is sent

    # the deadline -----------------------------------------------------------------------------------------

    def _arm_deadline(self) -> None:
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
        self._awaiting_head = True
        self._head.clear()
        self._line_done = False
        self.timeout_keep_alive_task = self.loop.call_later(self.guard.read_timeout, self._deadline_passed)

    def _unset_keepalive_if_required(self) -> None:
        # uvicorn calls this when a request head is complete (and when the connection ends)
        super()._unset_keepalive_if_required()
        self._awaiting_head = False

    def _deadline_passed(self) -> None:
        self.timeout_keep_alive_task = None
        if self.transport.is_closing():
            return
        if self.guard.access_log and self._head:
            self.guard.log(
                f'{self._client_text()} "{loggable(self._first_line())}": the request line and headers did not '
                f"arrive within {self.guard.read_timeout:g} s; connection closed"
            )
        if self.transport.get_write_buffer_size():
            self.transport.abort()  # a client that stopped reading: do not wait for it
        else:
            self.transport.close()

    # the connection -----------------------------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None

    def data_received(self, data: bytes) -> None:
        # unlike uvicorn's, a byte does not restart the timer: only a whole head stops it
        if self._awaiting_head:
            if len(self._head) < MAX_LOGGED_CHARS:
                self._head += data[: MAX_LOGGED_CHARS - len(self._head)]
            if not self._line_done and b"\n" in data:
                self._line_done = True
        self.conn.receive_data(data)
        self.handle_events()

    def eof_received(self) -> bool | None:  # type: ignore[override]  # asyncio.Protocol's own signature
        """The client shut its side after sending a request: keep the connection to send the answer."""
        self._peer_done = True
        if self.cycle is not None and not self.cycle.response_complete:
            return True
        return None  # nothing under way: close

    def on_response_complete(self) -> None:
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._arm_deadline()
        self.flow.resume_reading()
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
            self.handle_events()
        if self._peer_done and (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing():
            self.transport.close()

    def shutdown(self) -> None:
        try:
            super().shutdown()
        except h11.LocalProtocolError:  # a connection h11 has given up on (a refusal still being flushed)
            self.transport.close()

    # malformed requests -------------------------------------------------------------------------------------

    def send_400_response(self, msg: str) -> None:
        """A short JSON answer to a request h11 refused (uvicorn calls this inside its ``except``), then close."""
        exc = sys.exc_info()[1]
        status = getattr(exc, "error_status_hint", 400)
        if status == 431 and not self._line_done:
            status = 414
        if status not in STATUS_PHRASES or not 400 <= status < 600:
            status = 400
        text = _problem_text(exc, status)
        if self.guard.access_log:
            self.guard.log(f'{self._client_text()} "{loggable(self._first_line())}" {status} {loggable(text)}')
        if self.cycle is not None and not self.cycle.response_complete:
            if self.cycle.response_started:
                self.transport.close()  # a broken body while an answer is being sent: the framing is lost
                return
            self.cycle.disconnected = True  # the app's answer, when it comes, is dropped: this 400 replaces it
        body = json.dumps({"error": "bad_request", "message": text}).encode("ascii")
        headers = [
            (b"Content-Type", b"application/json"),
            (b"Content-Length", str(len(body)).encode("ascii")),
            (b"Connection", b"close"),
            *self.server_state.default_headers,
        ]
        try:
            for event in (
                h11.Response(status_code=status, headers=headers, reason=STATUS_PHRASES[status]),
                h11.Data(data=body),
                h11.EndOfMessage(),
            ):
                self.transport.write(self.conn.send(event) or b"")
        except h11.LocalProtocolError:
            pass
        self.transport.close()

    def _first_line(self) -> str:
        return bytes(self._head).split(b"\n", 1)[0].rstrip(b"\r").decode("latin-1")

    def _client_text(self) -> str:
        return self.client[0] if self.client else "-"


def guarded_protocol(guard: Guard) -> type[H11Protocol]:
    """The protocol class for one server (uvicorn builds one instance per connection)."""
    return type("AgentH11Protocol", (_GuardedH11,), {"guard": guard})


# ------------------------------------------------------------------------------------------------- the app


def _header_name(name: bytes) -> bytes:
    """``content-type`` -> ``Content-Type`` (h11 sends a name as it is given)."""
    return b"-".join(part[:1].upper() + part[1:] for part in name.split(b"-"))


def _json(status: int, code: str, message: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    body = json.dumps({"error": code, "message": shortened(message, 1000)}).encode("ascii")
    return Response(status, body, headers=headers)


class AgentApp:
    """The ASGI application around an ``Agent`` (module docstring): screen, limit, answer, log."""

    def __init__(
        self,
        agent: Agent,
        host_problem: Callable[[str | None, str], str | None],
        max_requests: int,
        access_log: bool,
        log: Callable[[str], None],
    ) -> None:
        if max_requests < 1:
            raise ValueError(f"max_requests must be at least 1, got {max_requests}")
        self.agent = agent
        self.host_problem = host_problem
        self.max_requests = max_requests
        self.access_log = access_log
        self.log = log
        self.in_flight = 0
        self.refused = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        method: str = scope["method"]
        raw_target = bytes(scope.get("raw_path") or scope["path"].encode("utf-8", "replace"))
        if scope.get("query_string"):
            raw_target += b"?" + bytes(scope["query_string"])
        target = raw_target.decode("latin-1")
        response, served, close = self._screen(scope, target)
        if response is None:
            if self.in_flight >= self.max_requests:
                response = self._busy()
            else:
                self.in_flight += 1
                try:
                    response = await run_in_threadpool(self.agent.handle, method, served)
                finally:
                    self.in_flight -= 1
        headers = {"cache-control": "no-store", **dict(response.headers)}
        if close:
            headers["connection"] = "close"
        reply = StarletteResponse(response.body, response.status, headers, media_type=response.content_type)
        # header names as the agent has always written them (Content-Type, Retry-After; starlette lowercases them)
        reply.raw_headers = [(_header_name(name), value) for name, value in reply.raw_headers]
        if self.access_log:  # before the answer goes out, so that the log is complete once a client has it
            client = scope.get("client")
            where = client[0] if client else "-"
            line = f"{method} {target} HTTP/{scope['http_version']}"
            self.log(f'{where} "{loggable(line)}" {response.status} {len(response.body)}')
        await reply(scope, receive, send)

    def _screen(self, scope: Scope, target: str) -> tuple[Response | None, str, bool]:
        """The refusal of a request (or None), the target to serve, and whether to close the connection after."""
        headers: list[tuple[bytes, bytes]] = list(scope["headers"])
        length = next((value for name, value in headers if name == b"content-length"), None)
        has_body = any(name == b"transfer-encoding" for name, _ in headers) or length not in (None, b"0")
        version = scope["http_version"]
        if version not in ("1.0", "1.1"):
            return _json(505, "bad_request", "only HTTP/1.0 and HTTP/1.1 are served"), target, True
        if len(target) > MAX_TARGET_CHARS:
            return _json(414, "bad_request", f"the request target is over {MAX_TARGET_CHARS} characters"), target, True
        if len(target) + sum(len(name) + len(value) + 4 for name, value in headers) > MAX_HEAD_BYTES:
            message = f"the request line and headers are over {MAX_HEAD_BYTES // 1024} KiB"
            return _json(431, "bad_request", message), target, True
        if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
            message = f"this agent reads no request body; the one declared is over {MAX_BODY_BYTES // 1024} KiB"
            return _json(413, "bad_request", message), target, True
        hosts = [value for name, value in headers if name == b"host"]
        if len(hosts) > 1:
            return _json(400, "bad_request", "the request has more than one Host header"), target, True
        host = hosts[0].decode("latin-1") if hosts else None
        served = target
        authority: str | None = None
        if not target.startswith("/"):
            try:
                parts = urlsplit(target)
            except ValueError:  # an unclosed [ in the authority
                parts = urlsplit("")
            if parts.scheme.lower() not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
                message = "the request target must be a path (/check) or an http:// URL"
                return _json(400, "bad_request", message), target, True
            authority = parts.netloc  # absolute-form: RFC 9112 section 3.2.2 makes this the host asked for
            served = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        refusal = self.host_problem(host, f"HTTP/{version}")
        if refusal is None and authority is not None:
            refusal = self.host_problem(authority, f"HTTP/{version}")
        if refusal is not None:
            if "Host header" in refusal:
                return _json(400, "bad_request", refusal), target, True
            return _json(421, "host_not_allowed", refusal), target, has_body
        return None, served, has_body

    def _busy(self) -> Response:
        self.refused += 1
        if self.refused == 1:
            self.log(
                f"warning: {self.max_requests} requests in progress, the limit (--max-requests): further ones "
                "are answered 503 (reported once)"
            )
        message = f"this agent is answering {self.max_requests} requests, its limit; retry shortly"
        return _json(503, "busy", message, headers=(("Retry-After", "1"),))
