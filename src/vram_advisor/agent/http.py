"""The read-only HTTP agent behind ``vram-advisor serve``: ``/inventory``, ``/check`` and ``/metrics``.

Standard library only (``http.server.ThreadingHTTPServer``). Every answer is built by the same code as the CLI
(``service.run_check``), so ``GET /check?...`` returns exactly what ``check --json ...`` prints for the same
inventory. The probe runs in a worker thread behind ``CachedProbe``: its result is reused for ``cache_seconds``
so scrapes stay cheap, and a request never waits for it longer than ``timeout_seconds`` (then it gets the last
good inventory, marked stale, or a 503 with the reason). Binds 127.0.0.1 unless told otherwise.

Imported only by ``vram-advisor serve`` (never by ``check``), so its standard-library imports cost nothing there.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

from vram_advisor import __version__
from vram_advisor.agent.inventory_source import InventorySource
from vram_advisor.catalog.profiles import Catalog
from vram_advisor.catalog.userprofiles import default_catalog
from vram_advisor.core.errors import VramAdvisorError
from vram_advisor.core.records import Record
from vram_advisor.inventory import model as inv
from vram_advisor.inventory import visibility, whatif
from vram_advisor.plan.check_estimates import EstimateOptions
from vram_advisor.plan.rules import parse_requirement
from vram_advisor.render import json_text
from vram_advisor.report import metrics
from vram_advisor.service import CheckRequest, check_json, parse_context, run_check

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9835
DEFAULT_CACHE_SECONDS = 15.0
DEFAULT_PROBE_TIMEOUT_SECONDS = 5.0
#: A client that sends nothing for this long loses its connection (and the thread serving it).
CLIENT_SOCKET_TIMEOUT_SECONDS = 30.0
MAX_QUERY_FIELDS = 32

Probe = InventorySource
#: The machine ``_preflight`` hands to ``whatif.apply`` to have a what-if parsed (the inventory itself is unused).
_NO_MACHINE = inv.Inventory(ram=inv.Ram(total_bytes=0))

#: The ``check`` options ``/check`` takes (``-`` read as ``_``), each one that ``CheckRequest`` has. Deliberately
#: not here: ``inventory``/``model_dir`` (the agent's own) and options that read files or the network on the
#: client's behalf (user profiles, Hugging Face repositories); the agent answers from the inventory alone.
QUERYABLE_CHECK_OPTIONS = (
    "context",
    "require",
    "base",
    "allow_offload",
    "gpus",
    "ram",
    "all_gpus",
    "free",
    "kv_dtype",
    "sizes",
    "ram_bw",
    "disk_bw",
)


def check_parameters() -> dict[str, bool]:
    """The ``/check`` parameters, each mapped to whether it is a yes/no flag (from ``CheckRequest``'s defaults)."""
    defaults = {field.name: field.default for field in fields(CheckRequest)}
    return {name: isinstance(defaults[name], bool) for name in QUERYABLE_CHECK_OPTIONS if name in defaults}


CHECK_PARAMETERS = tuple(check_parameters())
INVENTORY_PARAMETERS = ("all_gpus",)
ENDPOINTS = {
    "/inventory": "the hardware inventory (probe --json); ?all_gpus=1 ignores CUDA_VISIBLE_DEVICES",
    "/check": "the recommendation (check --json), e.g. ?context=128k&require=MODEL:QUANT; parameters: "
    + ", ".join(CHECK_PARAMETERS),
    "/metrics": "Prometheus text format: usable VRAM, RAM, per-GPU memory, vram_advisor_option_fit{model,quant}",
}
_TRUE = ("", "1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


# ------------------------------------------------------------------------------------------------ the probe


class ProbeUnavailable(Exception):
    """No inventory to answer with: the probe failed or is still running past its timeout, and none is cached."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, repr=False)
class Snapshot(Record):
    """The inventory to answer with, how old it is, and (when ``stale``) why a newer one is missing."""

    inventory: inv.Inventory
    age_seconds: float
    stale: bool = False
    problem: str | None = None


class _Attempt:
    """One run of the probe in its worker thread."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.done = threading.Event()
        self.inventory: inv.Inventory | None = None
        self.error: str | None = None


def _probe_failure(exc: Exception) -> str:
    detail = exc.message if isinstance(exc, VramAdvisorError) else f"{exc.__class__.__name__}: {exc}"
    return "the probe failed: " + " ".join(detail.split())


class CachedProbe:
    """Runs ``probe`` in a worker thread at most once per ``cache_seconds`` and never waits on it past a timeout.

    At most one probe runs at a time: requests that arrive while it runs wait for that one, until
    ``timeout_seconds`` after it started. A failed probe is not retried within ``cache_seconds`` either.
    """

    def __init__(
        self,
        probe: Probe,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        timeout_seconds: float = DEFAULT_PROBE_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if cache_seconds < 0:
            raise ValueError(f"cache_seconds must be >= 0, got {cache_seconds}")
        if timeout_seconds <= 0:
            raise ValueError(f"timeout_seconds must be > 0, got {timeout_seconds}")
        self.cache_seconds = cache_seconds
        self.timeout_seconds = timeout_seconds
        self._probe = probe
        self._clock = clock
        self._lock = threading.Lock()
        self._good: inv.Inventory | None = None
        self._good_at = 0.0
        self._attempt: _Attempt | None = None
        self._failure: tuple[float, str] | None = None

    def prime(self) -> None:
        """Start a probe in the background now (``serve`` does at start-up, so the first scrape is quick)."""
        with self._lock:
            if self._good is None and self._attempt is None:
                self._start(self._clock())

    def get(self) -> Snapshot:
        """The cached inventory while fresh; else the result of a (shared) probe; else the last good one, stale.

        Raises ``ProbeUnavailable`` when there is no inventory at all to answer with.
        """
        with self._lock:
            now = self._clock()
            if self._good is not None and now - self._good_at < self.cache_seconds:
                return Snapshot(self._good, now - self._good_at)
            attempt = self._attempt
            if attempt is None:
                if self._failure is not None and now - self._failure[0] < self.cache_seconds:
                    return self._fallback(now, self._failure[1])
                attempt = self._start(now)
        attempt.done.wait(max(0.0, attempt.started + self.timeout_seconds - self._clock()))
        with self._lock:
            now = self._clock()
            if attempt.inventory is not None and self._good is not None:
                return Snapshot(self._good, now - self._good_at)
            if attempt.done.is_set() and attempt.error is not None:
                return self._fallback(now, attempt.error)
            return self._fallback(now, f"the probe has not answered within {self.timeout_seconds:g} s")

    def _fallback(self, now: float, problem: str) -> Snapshot:
        if self._good is None:
            raise ProbeUnavailable(problem)
        return Snapshot(self._good, now - self._good_at, stale=True, problem=problem)

    def _start(self, now: float) -> _Attempt:
        attempt = _Attempt(now)
        self._attempt = attempt
        worker = threading.Thread(target=self._run, args=(attempt,), name="vram-advisor-probe", daemon=True)
        worker.start()
        return attempt

    def _run(self, attempt: _Attempt) -> None:
        inventory: inv.Inventory | None = None
        error: str | None = None
        try:
            inventory = self._probe()
        except Exception as exc:
            error = _probe_failure(exc)
        finally:
            with self._lock:
                finished = self._clock()
                if inventory is not None:
                    self._good, self._good_at, self._failure = inventory, finished, None
                else:
                    error = error or "the probe stopped without an inventory"
                    self._failure = (finished, error)
                attempt.inventory, attempt.error = inventory, error
                if self._attempt is attempt:
                    self._attempt = None
            attempt.done.set()


# ---------------------------------------------------------------------------------------------- the answers


@dataclass(frozen=True, repr=False)
class Response(Record):
    """One HTTP answer."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


class BadRequest(Exception):
    """A query the agent cannot answer (400), naming the parameter at fault where there is one."""

    def __init__(self, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.parameter = parameter


def _json_body(document: Any) -> bytes:
    """JSON exactly as ``check --json`` writes it (``render.json_text``)."""
    return json_text(document).encode("ascii")


def _error(status: HTTPStatus, code: str, message: str, **extra: Any) -> Response:
    document = {"error": code, "message": message, **extra}
    return Response(int(status), _json_body(document))


def _header_text(text: str) -> str:
    """A value safe for an HTTP header: one line of ASCII."""
    return " ".join(text.split()).encode("ascii", "replace").decode("ascii")[:500]


def _parameter_message(parameter: str, exc: VramAdvisorError) -> str:
    """``exc``'s message worded for a query parameter: ``--context: x`` becomes ``context: x``."""
    text = " ".join(str(exc).split())
    option = f"--{parameter.replace('_', '-')}"
    if text.startswith(option):
        text = text[len(option) :].lstrip(" :")
    return f"{parameter}: {text}"


def _parameter_of(exc: VramAdvisorError, values: Mapping[str, str]) -> str | None:
    """The query parameter a CLI-worded error is about (``--kv-dtype 'x': ...`` -> ``kv_dtype``), if any."""
    for name in values:
        option = f"--{name.replace('_', '-')}"
        rest = exc.message[len(option) :]
        if exc.message.startswith(option) and (not rest or rest[0] in " :"):
            return name
    return None


def parse_query(query: str, allowed: tuple[str, ...], path: str) -> dict[str, str]:
    """The query string as a dict; unknown, repeated or undecodable parameters are a ``BadRequest``."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, errors="strict", max_num_fields=MAX_QUERY_FIELDS)
    except ValueError as exc:
        raise BadRequest(f"malformed query string: {exc}") from None
    values: dict[str, str] = {}
    for name, value in pairs:
        if name not in allowed:
            known = ", ".join(allowed) if allowed else "none"
            raise BadRequest(f"unknown parameter {name!r} for {path} (known: {known})", name)
        if name in values:
            raise BadRequest(f"parameter {name!r} is given more than once", name)
        values[name] = value
    return values


def parse_flag(values: Mapping[str, str], name: str) -> bool:
    """A yes/no parameter: absent is false; ``?base``, ``1``, ``true``, ``yes``, ``on`` are true; ``0``... false."""
    if name not in values:
        return False
    text = values[name].strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise BadRequest(f"{name}: expected 1 or 0 (true/false, yes/no), got {values[name]!r}", name)


class Agent:
    """Turns ``GET`` requests into answers; knows nothing of sockets (``AgentHTTPServer`` does)."""

    def __init__(
        self,
        source: CachedProbe,
        environ: Mapping[str, str] | None = None,
        model_dir: str | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        self.source = source
        self.environ = dict(os.environ if environ is None else environ)
        self.model_dir = model_dir
        self.catalog = catalog

    def handle(self, method: str, target: str) -> Response:
        """The answer to ``method`` on ``target`` (path and query). Never raises."""
        if method not in ("GET", "HEAD"):
            response = _error(
                HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed", f"{method} is not allowed: this agent is read-only"
            )
            return Response(response.status, response.body, headers=(("Allow", "GET, HEAD"),))
        parts = urlsplit(target)
        path = parts.path.rstrip("/") or "/"
        try:
            if path == "/":
                parse_query(parts.query, (), path)
                return Response(
                    200, _json_body({"service": "vram-advisor", "version": __version__, "endpoints": ENDPOINTS})
                )
            if path == "/inventory":
                return self._inventory(parse_query(parts.query, INVENTORY_PARAMETERS, path))
            if path == "/check":
                return self._check(parse_query(parts.query, CHECK_PARAMETERS, path))
            if path == "/metrics":
                parse_query(parts.query, (), path)
                return self._metrics()
            return _error(HTTPStatus.NOT_FOUND, "not_found", f"no endpoint {path!r} (try {', '.join(ENDPOINTS)})")
        except BadRequest as exc:
            extra = {} if exc.parameter is None else {"parameter": exc.parameter}
            return _error(HTTPStatus.BAD_REQUEST, "bad_request", exc.message, **extra)
        except ProbeUnavailable as exc:
            response = _error(HTTPStatus.SERVICE_UNAVAILABLE, "probe_unavailable", exc.message)
            retry = str(max(1, round(self.source.timeout_seconds)))
            return Response(response.status, response.body, headers=(("Retry-After", retry),))
        except VramAdvisorError as exc:
            return _error(HTTPStatus.BAD_REQUEST, "bad_request", " ".join(exc.message.split()))
        except Exception as exc:  # a bug: answer 500 and keep serving
            sys.stderr.write(f"vram-advisor: internal error on {path}: {exc.__class__.__name__}: {exc}\n")
            return _error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", f"{exc.__class__.__name__}: {exc}")

    # --------------------------------------------------------------------------------------------- endpoints

    def _snapshot_headers(self, snapshot: Snapshot) -> tuple[tuple[str, str], ...]:
        headers = [("X-Vram-Advisor-Inventory-Age", f"{snapshot.age_seconds:.1f}")]
        if snapshot.stale and snapshot.problem:
            headers.append(("X-Vram-Advisor-Stale", _header_text(snapshot.problem)))
        return tuple(headers)

    def _inventory(self, values: Mapping[str, str]) -> Response:
        all_gpus = parse_flag(values, "all_gpus")
        snapshot = self.source.get()
        inventory = visibility.apply(snapshot.inventory, self.environ, ignore=all_gpus)
        return Response(200, _json_body(inv.to_dict(inventory)), headers=self._snapshot_headers(snapshot))

    def _validated_request(self, values: Mapping[str, str]) -> CheckRequest:
        """The request the query asks for, its values parsed before the probe runs (``_preflight``)."""
        options: dict[str, Any] = {}
        for name, is_flag in check_parameters().items():
            if is_flag:
                options[name] = parse_flag(values, name)
            elif name in values:
                options[name] = values[name]
        request = CheckRequest(model_dir=self.model_dir, **options)
        self._preflight(request, values)
        return request

    def _preflight(self, request: CheckRequest, values: Mapping[str, str]) -> None:
        """Each given value parsed by the function ``run_check`` parses it with, so that a bad one is a 400 naming
        it even while the probe is down (it would be a 503 if ``run_check`` met it after the probe)."""
        catalog = self.catalog or default_catalog()

        def require(text: str) -> None:
            model_id, quant_id = parse_requirement(text)
            catalog.model(model_id).quant(quant_id)

        parsers: dict[str, Callable[[str], object]] = {
            "context": parse_context,
            "require": require,
            "gpus": lambda text: whatif.apply(_NO_MACHINE, gpus=text),
            "ram": lambda text: whatif.apply(_NO_MACHINE, ram=text),
            "kv_dtype": lambda text: EstimateOptions.parse(kv_dtype=text),
            "sizes": lambda text: EstimateOptions.parse(sizes=text),
            "ram_bw": lambda text: EstimateOptions.parse(ram_bw=text),
            "disk_bw": lambda text: EstimateOptions.parse(disk_bw=text),
        }
        for name, parse in parsers.items():
            if name in values:
                try:
                    parse(values[name])
                except VramAdvisorError as exc:
                    raise BadRequest(_parameter_message(name, exc), name) from None

    def _check(self, values: Mapping[str, str]) -> Response:
        request = self._validated_request(values)
        snapshot = self.source.get()
        request = replace(request, inventory=snapshot.inventory)
        try:
            outcome = run_check(request, environ=self.environ, catalog=self.catalog)
        except VramAdvisorError as exc:
            parameter = _parameter_of(exc, values)
            if parameter is None:
                raise
            raise BadRequest(_parameter_message(parameter, exc), parameter) from None
        return Response(200, _json_body(check_json(outcome)), headers=self._snapshot_headers(snapshot))

    def check_documents(self, snapshot: Snapshot) -> list[dict[str, Any]]:
        """The instruct and the Base check documents behind ``/metrics`` (as ``check --json`` and ``--base``)."""
        return [
            check_json(
                run_check(
                    CheckRequest(inventory=snapshot.inventory, model_dir=self.model_dir, base=base),
                    environ=self.environ,
                    catalog=self.catalog,
                )
            )
            for base in (False, True)
        ]

    def _metrics(self) -> Response:
        snapshot = self.source.get()
        families = metrics.check_families(self.check_documents(snapshot))
        families += metrics.agent_families(snapshot.age_seconds, snapshot.stale, __version__)
        body = metrics.exposition(families).encode("utf-8")
        return Response(200, body, content_type=metrics.CONTENT_TYPE, headers=self._snapshot_headers(snapshot))


# ---------------------------------------------------------------------------------------------- the server


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is reachable from this machine only."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str) -> str | None:
    """The warning ``serve`` prints when asked to listen beyond loopback, or None."""
    if is_loopback(host):
        return None
    where = "every network interface" if host.strip("[]") in ("", "0.0.0.0", "::") else host
    return (
        f"listening on {where}, beyond loopback: anyone who can reach this port can read this machine's "
        "hardware inventory (there is no authentication; put it behind a firewall or a reverse proxy)"
    )


class _Handler(BaseHTTPRequestHandler):
    server_version = f"vram-advisor/{__version__}"
    timeout = CLIENT_SOCKET_TIMEOUT_SECONDS

    def version_string(self) -> str:
        return self.server_version

    def _answer(self, method: str) -> None:
        server = cast(AgentHTTPServer, self.server)
        response = server.agent.handle(method, self.path)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(response.body)

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
        if cast(AgentHTTPServer, self.server).access_log:
            super().log_request(code, size)

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"vram-advisor: {self.address_string()} {format % args}\n")


class AgentHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server around an ``Agent``; one thread per request, none left behind at exit."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], agent: Agent, access_log: bool = False) -> None:
        self.agent = agent
        self.access_log = access_log
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host up in DNS (socket.getfqdn), which can stall start-up; not needed.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.bound_address

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


class _AgentHTTPServer6(AgentHTTPServer):
    address_family = socket.AF_INET6


def make_server(
    agent: Agent, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, access_log: bool = False
) -> AgentHTTPServer:
    """Bind (port 0: a free port) and return the server; ``serve_forever`` runs it. Raises OSError if it cannot bind."""
    address = host.strip().strip("[]")
    server_class = _AgentHTTPServer6 if ":" in address else AgentHTTPServer
    return server_class((address, port), agent, access_log)
