"""A bounded HTTP client for a server ``verify`` is pointed at. Its answers are untrusted input:

* only ``http://`` and ``https://`` URLs, without user or password in them;
* every wait bounded (``Limits.wait_s`` for the connection, the answer's head and each read) and the whole exchange
  too (``Limits.deadline_s``: a watchdog shuts the socket, so a server that trickles a byte at a time ends as one that
  stalls); every body bounded in bytes and every streamed line in length;
* no redirect is followed (a redirect is answered with where it leads, and exit 2), so a key never travels to
  another origin; a key is sent only when the user gave one (``--api-key``, ``VRAM_ADVISOR_API_KEY``), never read
  from ``OPENAI_API_KEY``, and never printed;
* a 401 or 403 is one line (the server asks for credentials), as is anything that is not HTTP.

stdlib ``http.client`` only (https://docs.python.org/3/library/http.client.html): its header limits (100 headers,
64 KiB a line) bound the head of an answer.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import urlsplit

from vram_advisor.core.errors import UsageError, VramAdvisorError
from vram_advisor.core.numbers import shown
from vram_advisor.core.records import Record, dataclass


class EngineError(VramAdvisorError):
    """The server did not answer as an OpenAI-compatible engine does (stalled, garbage, endless, redirected,
    asked for credentials): one line, exit 2."""


@dataclass(frozen=True, repr=False)
class Target(Record):
    """Where the server is: ``scheme://host:port`` and the path prefix before ``/v1`` (usually empty)."""

    scheme: str
    host: str
    port: int
    prefix: str

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def url(self) -> str:
        return self.origin + self.prefix

    @property
    def local(self) -> bool:
        """Whether the server runs on this machine (a loopback name or address)."""
        if self.host.lower() in ("localhost", "localhost."):
            return True
        import ipaddress

        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:  # a name: another machine, as far as the store is concerned
            return False


def parse_url(text: str) -> Target:
    """``--url`` as a ``Target``: http or https, a host, no credentials; a trailing ``/v1`` is the API's own path."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"--url {shown(text)}: not a URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise UsageError(f"--url {shown(text)}: only http:// and https:// URLs are measured")
    if not parts.hostname:
        raise UsageError(f"--url {shown(text)}: no host in it")
    if parts.username is not None or parts.password is not None:
        raise UsageError("--url: credentials in the URL are refused; give a key with --api-key or VRAM_ADVISOR_API_KEY")
    if parts.query or parts.fragment:
        raise UsageError(f"--url {shown(text)}: give the server's address alone, without ?query or #fragment")
    scheme = parts.scheme.lower()
    prefix = parts.path.rstrip("/")
    if prefix.endswith("/v1"):
        prefix = prefix[: -len("/v1")]
    return Target(scheme, parts.hostname, port or (443 if scheme == "https" else 80), prefix)


@dataclass(frozen=True, repr=False)
class Limits(Record):
    """The bounds of one exchange."""

    #: The longest wait for anything: the connection, an answer's head, each read of a body or stream.
    wait_s: float = 30.0
    #: The most a whole exchange (one request and its answer) may take.
    deadline_s: float = 300.0
    #: The largest JSON or text answer read (``/v1/models``, ``/props``, ``/metrics``).
    body_bytes: int = 4 * 1024 * 1024
    #: The longest line of a stream.
    line_bytes: int = 256 * 1024


@dataclass(frozen=True, repr=False)
class Answer(Record):
    """A whole answer: its status, content type and body (at most ``Limits.body_bytes``)."""

    status: int
    content_type: str
    body: bytes

    def json(self, what: str) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):
            raise EngineError(f"{what}: the answer is not JSON") from None


class Client:
    """Requests to one ``Target``, each bounded by ``limits``."""

    def __init__(self, target: Target, limits: Limits, api_key: str | None = None) -> None:
        self.target = target
        self.limits = limits
        self._api_key = api_key

    def _headers(self, body: bool) -> dict[str, str]:
        headers = {"Accept": "application/json, text/event-stream, text/plain", "User-Agent": "vram-advisor-verify"}
        if body:
            headers["Content-Type"] = "application/json"
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    @contextmanager
    def _exchange(
        self, method: str, path: str, payload: dict[str, Any] | None, deadline_s: float
    ) -> Iterator[http.client.HTTPResponse]:
        target = self.target
        kind = http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
        connection = kind(target.host, target.port, timeout=self.limits.wait_s)
        where = f"{method} {target.url}{path}"
        expired = threading.Event()
        held: list[socket.socket] = []  # the connection's socket: http.client lets go of it on Connection: close

        def cut() -> None:  # the deadline: shut the socket under whatever read is waiting
            expired.set()
            for sock in held:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

        watchdog = threading.Timer(deadline_s, cut)
        watchdog.daemon = True
        watchdog.start()
        try:
            body = json.dumps(payload).encode() if payload is not None else None
            try:
                connection.connect()
                if connection.sock is not None:
                    held.append(connection.sock)
                if expired.is_set():
                    cut()
                connection.request(method, target.prefix + path, body=body, headers=self._headers(body is not None))
                response = connection.getresponse()
            except (OSError, http.client.HTTPException, ValueError, ArithmeticError, RecursionError) as exc:
                raise _failure(
                    exc, where, "no answer within", "is not HTTP", self.limits.wait_s, expired, deadline_s
                ) from None
            _check_status(response, where, self._api_key is not None)
            try:
                yield response
            except EngineError:
                if expired.is_set():  # what the reader saw of a socket the deadline shut: the deadline is the cause
                    raise EngineError(f"{where}: no whole answer within {deadline_s:g} s") from None
                raise
            except (OSError, http.client.HTTPException, ValueError, ArithmeticError, RecursionError) as exc:
                raise _failure(
                    exc, where, "the server stalled: nothing for", "broke off or is not HTTP", self.limits.wait_s,
                    expired, deadline_s,
                ) from None  # fmt: skip
            if expired.is_set():
                raise EngineError(f"{where}: no whole answer within {deadline_s:g} s")
        finally:
            watchdog.cancel()
            connection.close()

    def get(self, path: str) -> Answer:
        """GET ``path`` (after the prefix): the answer, whatever its status (a redirect or 401/403 raise)."""
        with self._exchange("GET", path, None, min(self.limits.deadline_s, self.limits.wait_s * 2)) as response:
            body = response.read(self.limits.body_bytes + 1)
            if len(body) > self.limits.body_bytes:
                raise EngineError(f"GET {self.target.url}{path}: the answer is over {self.limits.body_bytes:,} bytes")
            return Answer(response.status, response.getheader("Content-Type") or "", body)

    @contextmanager
    def stream(self, path: str, payload: dict[str, Any]) -> Iterator[tuple[int, Iterator[tuple[float, bytes]]]]:
        """POST ``payload`` to ``path`` and read the answer line by line: its status, and each line with the time
        (``time.perf_counter``) it arrived. The exchange is bounded by ``Limits.deadline_s``."""
        where = f"POST {self.target.url}{path}"
        with self._exchange("POST", path, payload, self.limits.deadline_s) as response:

            def lines() -> Iterator[tuple[float, bytes]]:
                limit = self.limits.line_bytes
                ends = time.monotonic() + self.limits.deadline_s
                while True:
                    if time.monotonic() > ends:
                        raise EngineError(f"{where}: no whole answer within {self.limits.deadline_s:g} s")
                    line = response.readline(limit + 1)
                    if not line:
                        return
                    if len(line) > limit:
                        raise EngineError(f"{where}: a line of the stream is over {limit:,} bytes")
                    yield time.perf_counter(), line

            yield response.status, lines()


def _failure(
    exc: BaseException,
    where: str,
    waiting: str,
    not_http: str,
    wait_s: float,
    expired: threading.Event,
    deadline_s: float,
) -> EngineError:
    """An exchange's failure as one line: a wait past ``wait_s`` (``waiting``), an answer that is not HTTP
    (``not_http``), the deadline's watchdog, or the socket's own error."""
    if expired.is_set():
        return EngineError(f"{where}: no whole answer within {deadline_s:g} s")
    if isinstance(exc, TimeoutError):
        return EngineError(f"{where}: {waiting} {wait_s:g} s")
    import ssl  # http.client has imported it already

    if isinstance(exc, ssl.SSLError):
        return EngineError(f"{where}: TLS failed ({exc.reason or exc.__class__.__name__})")
    if isinstance(exc, (http.client.HTTPException, ValueError, ArithmeticError, RecursionError)):
        return EngineError(f"{where}: the answer {not_http} ({exc.__class__.__name__})")
    assert isinstance(exc, OSError)
    return EngineError(f"{where}: {exc.strerror or exc.__class__.__name__}")


def _check_status(response: http.client.HTTPResponse, where: str, key_given: bool) -> None:
    """A redirect or a request for credentials ends the run with one line (nothing is followed or retried)."""
    status = response.status
    if 300 <= status < 400:
        location = response.getheader("Location") or "nowhere said"
        raise EngineError(
            f"{where}: the server redirects (HTTP {status}) to {shown(location, 80)}; verify follows no redirect: "
            "give the final address with --url"
        )
    if status in (401, 403) and key_given:
        raise EngineError(f"{where}: the server refused the key given (HTTP {status})")
    if status in (401, 403):
        raise EngineError(
            f"{where}: the server asks for credentials (HTTP {status}); give a key with --api-key or "
            "VRAM_ADVISOR_API_KEY (OPENAI_API_KEY is never read)"
        )
