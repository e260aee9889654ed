"""The read-only HTTP agent behind ``vram-advisor serve``: ``agent.http_routes.Agent`` served by uvicorn (ASGI) and
starlette, with the guards of ``agent.http_guard``.

Built to hold under a fleet's scrapers and hostile clients:

* one event loop holds thousands of open connections cheaply (the open-file limit is raised toward its hard limit
  at start, ``raise_open_file_limit``), with HTTP/1.1 keep-alive and a listen backlog of ``LISTEN_BACKLOG``;
* a work limit that counts requests being answered, not connections: beyond ``max_requests`` a request is
  answered 503, and idle or slow connections cost none of it;
* a header deadline: a request line and its headers must arrive within ``read_timeout`` of the connection opening
  (or of the previous answer), however slowly they trickle, and an idle kept-alive connection is closed after as
  long, so a slowloris holds nothing but a socket for a while;
* limits on the head (431, 414) and the body (413); conflicting ``Content-Length`` headers and control characters
  in a header are 400 (h11);
* quiet about clients: a reset, a timeout or a malformed request costs no traceback and, without
  ``--access-log``, no line at all; whatever a client sent is escaped before it reaches a log
  (``core.jsonread.clean_text``);
* a Host check against DNS rebinding (``HostPolicy``): loopback names, IP addresses and the bound host, plus the
  names given with ``--allow-host``; any other Host, or an absolute-form target naming another host, is 421.

Binds 127.0.0.1 unless told otherwise. Imported only by ``vram-advisor serve`` (never by ``check``), after it has
checked that uvicorn and starlette (the ``serve`` extra) are installed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import sys
import threading
from collections.abc import Callable, Iterable

import uvicorn

from vram_advisor import __version__
from vram_advisor.agent.http_guard import (
    MAX_HEAD_BYTES,
    AgentApp,
    Guard,
    guarded_protocol,
    loggable,
    one_line_logger,
    route_library_logs,
)
from vram_advisor.agent.http_routes import (
    CHECK_PARAMETERS,
    ENDPOINTS,
    QUERYABLE_CHECK_OPTIONS,
    Agent,
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
    "AgentServer",
    "CachedProbe",
    "HostPolicy",
    "Probe",
    "ProbeUnavailable",
    "Snapshot",
    "check_parameters",
    "exposure_warning",
    "is_loopback",
    "loggable",
    "make_server",
    "normalise_host",
    "raise_open_file_limit",
    "route_library_logs",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9835
#: Connections the kernel queues before ``accept`` (it caps this at ``net.core.somaxconn``).
LISTEN_BACKLOG = 1024
#: Requests answered at once (in flight: being worked on or waiting for a worker thread); more are answered 503.
DEFAULT_MAX_REQUESTS = 128
#: A request line and its headers must arrive within this many seconds of the connection opening or of the
#: previous answer, and a kept-alive connection that sends nothing for this long is closed.
DEFAULT_READ_TIMEOUT_SECONDS = 10.0
#: On shutdown, answers under way get this long to finish.
GRACEFUL_SHUTDOWN_SECONDS = 3
#: The open-file limit ``raise_open_file_limit`` asks for at most (each open connection holds a descriptor).
OPEN_FILES_WANTED = 1 << 20
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


def raise_open_file_limit(wanted: int = OPEN_FILES_WANTED) -> int | None:
    """Raise this process's soft ``RLIMIT_NOFILE`` toward its hard limit (at most ``wanted``), so that thousands of
    idle or slow connections can be held; the soft limit in force afterwards, or None where there is none."""
    try:
        import resource
    except ImportError:  # not a Unix
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):  # a kernel cap below the hard limit (fs.nr_open)
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class AgentServer:
    """An ``Agent`` served over HTTP/1.1 by uvicorn: bound (and listening) when made, run by ``serve_forever``."""

    def __init__(
        self,
        address: tuple[str, int],
        agent: Agent,
        access_log: bool = False,
        allowed_hosts: Iterable[str] = (),
        max_requests: int = DEFAULT_MAX_REQUESTS,
        read_timeout: float = DEFAULT_READ_TIMEOUT_SECONDS,
        log: Callable[[str], None] | None = None,
    ) -> None:
        if not read_timeout > 0:
            raise ValueError(f"read_timeout must be above 0, got {read_timeout}")
        self._log = log or (lambda line: sys.stderr.write(f"vram-advisor: {line}\n"))
        self.host_policy = HostPolicy(address[0], allowed_hosts)
        self.app = AgentApp(agent, self.host_policy.problem, max_requests, access_log, self.log)
        self.read_timeout = read_timeout
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        # IPPROTO_TCP named, so that asyncio sets TCP_NODELAY on each connection (it checks the protocol number):
        # an answer goes out as two writes (head, body), and Nagle's algorithm would hold the second for the
        # client's delayed ACK, some 40 ms
        self.socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind(address)
            self.socket.listen(LISTEN_BACKLOG)
        except BaseException:
            self.socket.close()
            raise
        self.socket.setblocking(False)
        guard = Guard(
            read_timeout, access_log, self.log, one_line_logger("vram-advisor.http", self.log, "internal error: ")
        )
        config = uvicorn.Config(
            self.app,
            http=guarded_protocol(guard),
            interface="asgi3",
            loop="asyncio",
            lifespan="off",
            ws="none",
            proxy_headers=False,
            server_header=False,
            headers=[("server", f"vram-advisor/{__version__}")],
            access_log=False,
            log_config=None,
            backlog=LISTEN_BACKLOG,
            h11_max_incomplete_event_size=MAX_HEAD_BYTES,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def log(self, line: str) -> None:
        self._log(line)

    @property
    def bound_address(self) -> tuple[str, int]:
        """The address and port actually bound (the real port when asked for port 0)."""
        host, port = self.socket.getsockname()[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.bound_address
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    def serve_forever(self) -> None:
        """Serve until SIGINT or SIGTERM (in the main thread; uvicorn then raises the signal again once stopped)
        or ``shutdown``."""
        self._server.run(sockets=[self.socket])

    def start(self) -> None:
        """Serve in a daemon thread (tests, embedding); ``shutdown`` stops it."""
        self._thread = threading.Thread(target=self.serve_forever, name="vram-advisor-http", daemon=True)
        self._thread.start()

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop serving, close every connection, and wait (at most ``timeout`` s) for ``serve_forever`` to end."""
        self._server.should_exit = True
        self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(timeout)

    def server_close(self) -> None:
        self.socket.close()


def make_server(
    agent: Agent,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    access_log: bool = False,
    allowed_hosts: Iterable[str] = (),
    max_requests: int = DEFAULT_MAX_REQUESTS,
    read_timeout: float = DEFAULT_READ_TIMEOUT_SECONDS,
) -> AgentServer:
    """Bind (port 0: a free port) and return the server; ``serve_forever`` runs it. Raises OSError if it cannot bind.

    ``host`` is normalised first (``0`` is 0.0.0.0): the address shown is the address bound."""
    return AgentServer((normalise_host(host), port), agent, access_log, allowed_hosts, max_requests, read_timeout)
