"""The HTTP agent's answers (``Agent``): ``GET /inventory``, ``/check`` and ``/metrics`` turned into responses,
knowing nothing of sockets (``agent.http`` serves them).

Every answer is built by the same code as the CLI (``service.run_check``), so ``GET /check?...`` returns exactly
what ``check --json ...`` prints for the same inventory. The work behind ``/check`` and ``/metrics`` is kept per
inventory snapshot (``AnswerMemo``): while the probe's cache holds the same inventory, a repeated query costs a
lookup, so a fleet of scrapers stays cheap.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import replace
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

from vram_advisor import __version__
from vram_advisor.agent.probe_cache import CachedProbe, ProbeUnavailable, Snapshot
from vram_advisor.catalog.profiles import Catalog
from vram_advisor.catalog.userprofiles import default_catalog
from vram_advisor.core import jsonread
from vram_advisor.core.errors import VramAdvisorError
from vram_advisor.core.jsonread import clean_text
from vram_advisor.core.records import Record, dataclass
from vram_advisor.inventory import model as inv
from vram_advisor.inventory import visibility
from vram_advisor.options import OPTIONS, REMOTE_OPTIONS, ordered, request_values
from vram_advisor.render import json_text
from vram_advisor.report import metrics
from vram_advisor.service import CheckRequest, check_json, run_check

MAX_QUERY_FIELDS = 32
#: At most this much of a client's text is quoted back (a name, a value), and an error message is at most
#: ``MAX_MESSAGE_CHARS`` long, whatever the request carried.
MAX_QUOTED_CHARS = 200
MAX_MESSAGE_CHARS = 1000
#: How many distinct answers ``AnswerMemo`` keeps for one inventory (each at most some tens of KB).
MEMO_ENTRIES = 64
T = TypeVar("T")

#: The ``check`` options ``/check`` takes: the table's options an agent takes (``options.REMOTE_OPTIONS``; each
#: other one says why not, e.g. ``inventory``/``model_dir`` are the agent's own, and it reads no file and asks no
#: network service on a client's behalf), listed in the order ``/check`` has always listed them (``ordered``);
#: options added since follow in the table's order.
QUERYABLE_CHECK_OPTIONS = tuple(
    option.name
    for option in ordered(
        REMOTE_OPTIONS,
        ("context", "require", "base", "allow_offload", "gpus", "ram", "all_gpus", "free", "kv_dtype", "sizes"),
    )
)


def check_parameters() -> dict[str, bool]:
    """The ``/check`` parameters, each mapped to whether it is a yes/no flag (from the option table)."""
    return {name: OPTIONS[name].kind == "flag" for name in QUERYABLE_CHECK_OPTIONS}


CHECK_PARAMETERS = tuple(check_parameters())
#: The order ``_preflight`` checks a query's values in (the first bad one is answered), as it always has.
PREFLIGHT_ORDER = ordered(
    REMOTE_OPTIONS, ("context", "require", "gpus", "ram", "kv_dtype", "sizes", "ram_bw", "disk_bw", "release")
)
INVENTORY_PARAMETERS = ("all_gpus",)
ENDPOINTS = {
    "/inventory": "the hardware inventory (probe --json); ?all_gpus=1 ignores CUDA_VISIBLE_DEVICES",
    "/check": "the recommendation (check --json), e.g. ?context=128k&require=MODEL:QUANT; parameters: "
    + ", ".join(CHECK_PARAMETERS),
    "/metrics": "Prometheus text format: usable VRAM, RAM, per-GPU memory, vram_advisor_option_fit{model,quant}",
}
_TRUE = ("", "1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class AnswerMemo:
    """Values computed from one inventory, reused while that inventory is the one answered for.

    Keyed by the inventory object itself (``CachedProbe`` hands out the same object until it probes again) and a
    key naming the query; bounded to ``size`` entries, least recently used first out, so distinct queries cannot
    grow it. Thread-safe; two threads asking for the same new value may both compute it (the first one is kept).
    """

    def __init__(self, size: int = MEMO_ENTRIES) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._inventory: inv.Inventory | None = None
        self._values: OrderedDict[tuple[object, ...], Any] = OrderedDict()

    def get(self, inventory: inv.Inventory, key: tuple[object, ...], compute: Callable[[], T]) -> T:
        with self._lock:
            if inventory is not self._inventory:
                self._inventory = inventory
                self._values.clear()
            elif key in self._values:
                self._values.move_to_end(key)
                value: T = self._values[key]
                return value
        value = compute()
        with self._lock:
            if inventory is self._inventory:
                self._values[key] = value
                while len(self._values) > self.size:
                    self._values.popitem(last=False)
        return value


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


def shortened(text: str, limit: int = MAX_QUOTED_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying so (``core.jsonread.shortened``)."""
    return jsonread.shortened(text, limit)


def _error(status: HTTPStatus, code: str, message: str, **extra: Any) -> Response:
    document = {"error": code, "message": shortened(message, MAX_MESSAGE_CHARS), **extra}
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
            raise BadRequest(f"unknown parameter {shortened(name)!r} for {path} (known: {known})", shortened(name))
        if name in values:
            raise BadRequest(f"parameter {name!r} is given more than once", name)
        if len(value) > MAX_QUOTED_CHARS:
            raise BadRequest(f"{name}: the value is {len(value)} characters long (at most {MAX_QUOTED_CHARS})", name)
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
    raise BadRequest(f"{name}: expected 1 or 0 (true/false, yes/no), got {shortened(values[name])!r}", name)


class Agent:
    """Turns ``GET`` requests into answers; knows nothing of sockets (``agent.http.AgentServer`` does). Called from
    worker threads, several at once."""

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
        self.memo = AnswerMemo()

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
            return _error(
                HTTPStatus.NOT_FOUND, "not_found", f"no endpoint {shortened(path)!r} (try {', '.join(ENDPOINTS)})"
            )
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
            where = clean_text(shortened(path))
            sys.stderr.write(f"vram-advisor: internal error on {where}: {exc.__class__.__name__}: {exc}\n")
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
        request = CheckRequest(model_dir=self.model_dir, **request_values(options))
        self._preflight(values)
        return request

    def _preflight(self, values: Mapping[str, str]) -> None:
        """Each given value parsed by its table entry's ``parse`` (what ``run_check`` parses it with), so that a bad
        one is a 400 naming it even while the probe is down (it would be a 503 if ``run_check`` met it after the
        probe)."""
        catalog = self.catalog or default_catalog()
        for option in PREFLIGHT_ORDER:
            if option.name in values and option.parse is not None:
                try:
                    option.parse(values[option.name], catalog)
                except VramAdvisorError as exc:
                    raise BadRequest(_parameter_message(option.name, exc), option.name) from None

    def _check(self, values: Mapping[str, str]) -> Response:
        request = self._validated_request(values)
        snapshot = self.source.get()

        def body() -> bytes:
            try:
                outcome = run_check(replace(request, inventory=snapshot.inventory), self.environ, self.catalog)
            except VramAdvisorError as exc:
                parameter = _parameter_of(exc, values)
                if parameter is None:
                    raise
                raise BadRequest(_parameter_message(parameter, exc), parameter) from None
            return _json_body(check_json(outcome))

        key = ("check", *sorted(values.items()))
        return Response(200, self.memo.get(snapshot.inventory, key, body), headers=self._snapshot_headers(snapshot))

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
        fits = self.memo.get(
            snapshot.inventory, ("metrics",), lambda: metrics.check_families(self.check_documents(snapshot))
        )
        families = [*fits, *metrics.agent_families(snapshot.age_seconds, snapshot.stale, __version__)]
        body = metrics.exposition(families).encode("utf-8")
        return Response(200, body, content_type=metrics.CONTENT_TYPE, headers=self._snapshot_headers(snapshot))
