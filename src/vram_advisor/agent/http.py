"""The read-only HTTP agent behind ``vram-advisor serve``: the server around ``agent.http_routes.Agent``.

Standard library only (``socketserver`` and ``http.server``), built to hold under a fleet's scrapers and hostile
clients:

* HTTP/1.1 keep-alive, a listen backlog of ``LISTEN_BACKLOG``, and a bounded pool of worker threads: one per open
  connection, at most ``max_connections``; a connection beyond that is answered 503 and closed;
* a read deadline per request (``read_timeout`` for the request line and headers together, so a client trickling
  bytes, a slowloris, cannot hold a worker longer) and the same limit on an idle kept-alive connection;
* quiet about clients: a reset, a timeout or a malformed request costs no traceback and, without ``--access-log``,
  no line at all; whatever a client sent is escaped before it reaches a log (``core.jsonread.clean_text``);
* a Host header check against DNS rebinding (``HostPolicy``): loopback names, IP addresses and the bound host,
  plus the names given with ``--allow-host``; any other Host is answered 421.

Binds 127.0.0.1 unless told otherwise. Imported only by ``vram-advisor serve`` (never by ``check``).
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import queue
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler
from typing import Any, cast

from vram_advisor import __version__
from vram_advisor.agent.http_routes import (
    CHECK_PARAMETERS,
    ENDPOINTS,
    QUERYABLE_CHECK_OPTIONS,
    Agent,
    Response,
    check_parameters,
    shortened,
)
from vram_advisor.agent.probe_cache import CachedProbe, Probe, ProbeUnavailable, Snapshot
from vram_advisor.core.jsonread import clean_text

__all__ = [
    "CHECK_PARAMETERS",
    "ENDPOINTS",
    "QUERYABLE_CHECK_OPTIONS",
    "Agent",
    "AgentHTTPServer",
    "CachedProbe",
    "HostPolicy",
    "Probe",
    "ProbeUnavailable",
    "Snapshot",
    "check_parameters",
    "exposure_warning",
    "is_loopback",
    "make_server",
    "normalise_host",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9835
#: Connections the kernel queues before ``accept`` (it caps this at ``net.core.somaxconn``).
LISTEN_BACKLOG = 1024
#: Open connections served at once (one worker thread each); more are answered 503.
DEFAULT_MAX_CONNECTIONS = 128
#: A request line and its headers must arrive within this many seconds, and a kept-alive connection that sends
#: nothing for this long is closed.
DEFAULT_READ_TIMEOUT_SECONDS = 10.0
#: A blocked write (a client that stopped reading) fails after this long.
WRITE_TIMEOUT_SECONDS = 30.0
#: How long the refusal of a connection over the cap waits for the client's request and for it to read the 503.
REFUSAL_SECONDS = 0.5
MAX_LOGGED_CHARS = 300
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is reachable from this machine only."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def normalise_host(host: str) -> str:
    """The address ``--host`` names, written out: ``0`` (which the C library reads as 0.0.0.0) is ``0.0.0.0``,
    ``127.1`` is ``127.0.0.1``; brackets around an IPv6 address go; a name stays as given."""
    text = host.strip().strip("[]")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    if text and all(ch in "0123456789abcdefxABCDEFX." for ch in text) and text[0].isdigit():
        try:
            return socket.inet_ntoa(socket.inet_aton(text))
        except OSError:
            pass
    return text


def binds_everything(host: str) -> bool:
    return normalise_host(host) in ("", "0.0.0.0", "::")


def exposure_warning(host: str) -> str | None:
    """The warning ``serve`` prints when asked to listen beyond loopback, or None."""
    if is_loopback(normalise_host(host)):
        return None
    where = "every network interface (0.0.0.0)" if binds_everything(host) else normalise_host(host)
    if binds_everything(host) and ":" in normalise_host(host):
        where = "every network interface (::)"
    return (
        f"listening on {where}, beyond loopback: anyone who can reach this port can read this machine's "
        "hardware inventory (there is no authentication; put it behind a firewall or a reverse proxy); clients "
        "must address it by IP address, by this machine's host name or by a name given with --allow-host"
    )


class HostPolicy:
    """Which ``Host`` headers the agent answers (a defence against DNS rebinding, where a web page at a name the
    attacker controls reaches the agent through the victim's browser: such a request carries that name).

    Allowed: ``localhost``, any IP address literal (a rebinding page cannot use one: its origin would then be the
    agent itself), this machine's own name (``socket.gethostname()``, no DNS lookup), the host the agent is bound
    to, and each name in ``allowed`` (``*`` allows every Host: behind
    a reverse proxy that checks it); each with or without a port. An HTTP/1.0 request without Host is allowed
    (browsers always send one); an HTTP/1.1 request needs one (RFC 9112).
    """

    def __init__(self, bound_host: str = DEFAULT_HOST, allowed: Iterable[str] = ()) -> None:
        names = {name.strip().lower().rstrip(".") for name in allowed}
        own = socket.gethostname().strip().lower().rstrip(".")
        self.any_host = "*" in names
        self.names = frozenset(
            {"localhost", normalise_host(bound_host).lower(), own, own.split(".")[0], *names} - {"", "*"}
        )

    def problem(self, host: str | None, http_version: str) -> str | None:
        """Why a request with this Host header is refused, or None when it is answered."""
        if host is None:
            return "the request has no Host header" if http_version == "HTTP/1.1" else None
        if self.any_host:
            return None
        name = _host_name(host)
        if name is not None:
            if name in self.names or name.endswith(".localhost"):
                return None
            try:
                ipaddress.ip_address(name)
                return None
            except ValueError:
                pass
        quoted = clean_text(shortened(host))
        return (
            f"Host {quoted!r} is not allowed: this agent answers to localhost, IP addresses and its own host name only (a defence "
            f"against DNS rebinding); to use this name, start it with --allow-host {quoted.split(':')[0]}"
        )


def _host_name(host: str) -> str | None:
    """The name or address in a Host header value (``name[:port]``, ``[v6][:port]``), lower case; None if malformed."""
    text = host.strip().lower()
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or (text[end + 1 :] and not (text[end + 1] == ":" and text[end + 2 :].isdigit())):
            return None
        return text[1:end]
    name, _, port = text.partition(":")
    if port and not port.isdigit():
        return None
    return name.rstrip(".") if name and " " not in name else None


def loggable(text: object) -> str:
    """Client-supplied text as it may reach a log: control characters and terminal escapes escaped, cut short."""
    return clean_text(shortened(str(text), MAX_LOGGED_CHARS))


class _DeadlineReader(io.RawIOBase):
    """The connection's incoming bytes, each read failing with ``TimeoutError`` once ``deadline`` has passed, so a
    request must arrive whole in time however slowly a client trickles it (a per-read timeout alone would not
    stop a slowloris)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.deadline = float("inf")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the client took too long to send its request")
        self._sock.settimeout(min(remaining, WRITE_TIMEOUT_SECONDS))
        return self._sock.recv_into(buffer)


class _Handler(BaseHTTPRequestHandler):
    server_version = f"vram-advisor/{__version__}"
    protocol_version = "HTTP/1.1"
    error_content_type = "application/json"

    def version_string(self) -> str:
        return self.server_version

    @property
    def agent_server(self) -> AgentHTTPServer:
        return cast(AgentHTTPServer, self.server)

    def setup(self) -> None:
        super().setup()
        self._reader = _DeadlineReader(self.connection)
        self.rfile = io.BufferedReader(self._reader)

    def handle_one_request(self) -> None:
        self._reader.deadline = time.monotonic() + self.agent_server.read_timeout
        super().handle_one_request()

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        if self.request_version not in ("HTTP/1.0", "HTTP/1.1"):  # HTTP/0.9 has no status line to say anything
            self.send_error(505, "only HTTP/1.0 and HTTP/1.1 are served")
            return False
        return True

    def _answer(self, method: str) -> None:
        self._reader.deadline = float("inf")
        self.connection.settimeout(WRITE_TIMEOUT_SECONDS)
        server = self.agent_server
        refusal = server.host_policy.problem(self.headers.get("Host"), self.request_version)
        if len(self.headers.get_all("Host") or ()) > 1:
            refusal = "the request has more than one Host header"
        if refusal is not None:
            status = 400 if "Host header" in refusal else 421
            code = "bad_request" if status == 400 else "host_not_allowed"
            body = json.dumps({"error": code, "message": refusal}).encode("ascii")
            response = Response(status, body)
        else:
            response = server.agent.handle(method, self.path)
        if self.headers.get("Content-Length", "0") != "0" or "Transfer-Encoding" in self.headers:
            self.close_connection = True  # the body is never read: the next bytes are not a request
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in response.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(response.body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """A malformed request (400, 414, 431, 501...): a short JSON answer, and the connection closes."""
        self.close_connection = True
        self.request_version = "HTTP/1.0"  # whatever the request line said: an answer with a status line
        self.connection.settimeout(WRITE_TIMEOUT_SECONDS)
        text = shortened(" ".join((message or self.responses.get(code, ("error",))[0]).split()))
        body = json.dumps({"error": "bad_request", "message": text}).encode("ascii")
        self.log_error("code %d, message %s", code, text)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer("GET")

    def do_HEAD(self) -> None:
        self._answer("HEAD")

    def do_POST(self) -> None:
        self._answer("POST")

    def do_PUT(self) -> None:
        self._answer("PUT")

    def do_DELETE(self) -> None:
        self._answer("DELETE")

    def do_PATCH(self) -> None:
        self._answer("PATCH")

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.agent_server.access_log:
            super().log_request(code, size)

    def log_error(self, format: str, *args: Any) -> None:
        if self.agent_server.access_log:  # a client's mistake is the client's business; the log shows it
            super().log_error(format, *args)

    def log_message(self, format: str, *args: Any) -> None:
        self.agent_server.log(f"{self.address_string()} {loggable(format % args)}")


class _WorkerPool:
    """At most ``size`` daemon threads, started when needed and kept for the next job."""

    def __init__(self, size: int, name: str) -> None:
        self.size = size
        self._name = name
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self.threads = 0
        self._idle = 0

    def submit(self, job: Callable[[], None]) -> None:
        """Run ``job`` on an idle worker or a new one; the caller never submits more than ``size`` at once."""
        with self._lock:
            if self._idle > 0:
                self._idle -= 1
            else:
                self.threads += 1
                threading.Thread(target=self._work, name=f"{self._name}-{self.threads}", daemon=True).start()
        self._jobs.put(job)

    def _work(self) -> None:
        while True:
            self._jobs.get()()
            with self._lock:
                self._idle += 1


class AgentHTTPServer(socketserver.TCPServer):
    """An HTTP/1.1 server around an ``Agent``: a bounded pool of workers, one per connection, 503 beyond it."""

    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(
        self,
        address: tuple[str, int],
        agent: Agent,
        access_log: bool = False,
        allowed_hosts: Iterable[str] = (),
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        read_timeout: float = DEFAULT_READ_TIMEOUT_SECONDS,
        log: Callable[[str], None] | None = None,
    ) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {max_connections}")
        self.agent = agent
        self.access_log = access_log
        self.max_connections = max_connections
        self.read_timeout = read_timeout
        self.host_policy = HostPolicy(address[0], allowed_hosts)
        self._log = log or (lambda line: sys.stderr.write(f"vram-advisor: {line}\n"))
        self._slots = threading.BoundedSemaphore(max_connections)
        self._workers = _WorkerPool(max_connections, "vram-advisor-http")
        self._refusals = _WorkerPool(2, "vram-advisor-refusal")
        self._refusal_slots = threading.BoundedSemaphore(2)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self.refused = 0
        super().__init__(address, _Handler)

    def log(self, line: str) -> None:
        self._log(line)

    @property
    def bound_address(self) -> tuple[str, int]:
        """The address and port actually bound (the real port when asked for port 0)."""
        host, port = cast(tuple[str, int], self.server_address[:2])
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.bound_address
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    @property
    def worker_threads(self) -> int:
        """Worker threads started so far (never more than ``max_connections``)."""
        return self._workers.threads

    def process_request(self, request: Any, client_address: Any) -> None:
        sock = cast(socket.socket, request)
        if not self._slots.acquire(blocking=False):
            self._refuse(sock)
            return
        with self._open_lock:
            self._open.add(sock)
        self._workers.submit(lambda: self._serve(sock, client_address))

    def _serve(self, sock: socket.socket, client_address: Any) -> None:
        try:
            self.finish_request(sock, client_address)
        except (OSError, ValueError) as exc:  # a reset, a timeout, a closed socket: the client's doing
            if self.access_log:
                self.log(f"{client_address[0]} connection ended: {loggable(exc.__class__.__name__)}")
        except Exception as exc:  # a bug: one line, and keep serving
            self.log(f"internal error serving {client_address[0]}: {exc.__class__.__name__}: {loggable(exc)}")
        finally:
            with self._open_lock:
                self._open.discard(sock)
            self.shutdown_request(sock)
            self._slots.release()

    def _refuse(self, sock: socket.socket) -> None:
        """503 for a connection over the cap, from a small pool of its own (never the accepting thread)."""
        self.refused += 1
        if self.refused == 1:
            self.log(
                f"warning: {self.max_connections} connections open, the limit (--max-connections): further ones "
                "are answered 503 (reported once)"
            )
        if not self._refusal_slots.acquire(blocking=False):
            self.shutdown_request(sock)  # refusals are backed up too: drop it
            return
        self._refusals.submit(lambda: self._send_refusal(sock))

    def _send_refusal(self, sock: socket.socket) -> None:
        body = json.dumps(
            {
                "error": "busy",
                "message": f"this agent is serving {self.max_connections} connections, its limit; retry shortly",
            }
        ).encode("ascii")
        head = (
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
        )
        try:
            sock.settimeout(REFUSAL_SECONDS)
            with contextlib.suppress(TimeoutError):
                sock.recv(65536)  # the request, if it came: closing with it unread would reset the connection
            sock.sendall(head.encode("ascii") + body)
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):
                pass
        except OSError:
            pass
        finally:
            sock.close()
            self._refusal_slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.log(f"internal error serving {client_address[0]}: {loggable(sys.exc_info()[1])}")

    def server_close(self) -> None:
        """Stop listening and end every open connection (their workers then finish at once)."""
        super().server_close()
        with self._open_lock:
            connections = list(self._open)
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _AgentHTTPServer6(AgentHTTPServer):
    address_family = socket.AF_INET6


def make_server(
    agent: Agent,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    access_log: bool = False,
    allowed_hosts: Iterable[str] = (),
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    read_timeout: float = DEFAULT_READ_TIMEOUT_SECONDS,
) -> AgentHTTPServer:
    """Bind (port 0: a free port) and return the server; ``serve_forever`` runs it. Raises OSError if it cannot bind.

    ``host`` is normalised first (``0`` is 0.0.0.0): the address shown is the address bound."""
    address = normalise_host(host)
    server_class = _AgentHTTPServer6 if ":" in address else AgentHTTPServer
    return server_class((address, port), agent, access_log, allowed_hosts, max_connections, read_timeout)
