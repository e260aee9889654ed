"""The agent's inventory cache (``CachedProbe``): the probe runs in a worker thread at most once per
``cache_seconds``, and a request never waits for it longer than ``timeout_seconds`` (then it gets the last good
inventory, marked stale, or ``ProbeUnavailable`` with the reason). Used by ``serve``'s HTTP agent."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from vram_advisor.agent.inventory_source import InventorySource
from vram_advisor.core.errors import VramAdvisorError
from vram_advisor.core.records import Record, dataclass
from vram_advisor.inventory import model as inv

DEFAULT_CACHE_SECONDS = 15.0
DEFAULT_PROBE_TIMEOUT_SECONDS = 5.0

Probe = InventorySource


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
        if not (math.isfinite(cache_seconds) and cache_seconds >= 0):
            raise ValueError(f"cache_seconds must be a finite number >= 0, got {cache_seconds}")
        if not (math.isfinite(timeout_seconds) and timeout_seconds > 0):
            raise ValueError(f"timeout_seconds must be a finite number > 0, got {timeout_seconds}")
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
