"""The calibration store: the decode speeds ``vram-advisor verify`` measured on this machine, kept on its disk.

One JSON file (``vram-advisor/calibration/v1``): ``$VRAM_ADVISOR_CALIBRATION`` where set, else
``$XDG_DATA_HOME/vram-advisor/calibration.json`` (``~/.local/share/...``; ``~/Library/Application Support`` on macOS,
``%LOCALAPPDATA%`` on Windows). Each point is an ``inventory.MeasuredSpeed``, keyed by the machine's fingerprint,
the engine, the model option and the placement.

* Bounded: at most ``MAX_PER_KEY`` points per key (the newest) and ``MAX_POINTS`` in all; a file over ``MAX_BYTES``
  is not read.
* Written atomically: a new file (mode 0600, in a 0700 folder) written, flushed to disk and renamed over the old.
* Read with care, as any file on disk: only a regular file of this user that nobody else may write; a point that
  does not read is skipped, and a store that does not read at all is a note, never an error. ``verify`` writing
  over a store that did not read starts it afresh and says so.

A point changes only the speed ``check``/``estimate`` show (``plan.measured``), never a verdict or an exit code.
The store is the user's own state, as the catalogue cache is (``catalog.compiled``): it lives beside the inventory
it travels with (``probe --json`` carries its points), so that ``check --inventory`` reads it without loading the
probe.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from vram_advisor.core.stderr import warn
from vram_advisor.inventory.fingerprint import fingerprint
from vram_advisor.inventory.model import Inventory, MeasuredSpeed, plain_point, read_point

SCHEMA = "vram-advisor/calibration/v1"
ENV = "VRAM_ADVISOR_CALIBRATION"
#: The newest points kept for one key (machine, engine, model option, placement).
MAX_PER_KEY = 5
#: The most points kept in all (the oldest go first).
MAX_POINTS = 200
#: The largest store read (200 points are ~80 KB).
MAX_BYTES = 1024 * 1024


def store_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """Where the store is; None where there is no safe folder for it (HOME empty, relative or ``/``)."""
    env = os.environ if environ is None else environ
    given = env.get(ENV)
    if given:
        return Path(given)
    xdg = env.get("XDG_DATA_HOME") or ""
    if os.path.isabs(xdg) and xdg.strip("/"):
        return Path(xdg) / "vram-advisor" / "calibration.json"
    if sys.platform == "win32":
        base = env.get("LOCALAPPDATA")
        return Path(base) / "vram-advisor" / "calibration.json" if base else None
    home = env.get("HOME") or ""
    if not os.path.isabs(home) or not home.strip("/"):
        return None
    if sys.platform == "darwin":
        return Path(home) / "Library" / "Application Support" / "vram-advisor" / "calibration.json"
    return Path(home) / ".local" / "share" / "vram-advisor" / "calibration.json"


def key_of(point: MeasuredSpeed) -> tuple[str, str, str, str, str]:
    return (point.fingerprint, point.engine, point.model, point.quant, point.placement)


def read_points(path: Path | None) -> tuple[tuple[MeasuredSpeed, ...], tuple[str, ...]]:
    """Every point the store at ``path`` holds, and notes on what did not read (nothing there: no points, no note)."""
    if path is None:
        return (), ()
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return (), ()
    except OSError as exc:
        return (), (f"calibration store {path}: not read ({exc.strerror or exc.__class__.__name__})",)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        problem = _unsafe(info)
        if problem is not None:
            return (), (f"calibration store {path}: not read ({problem})",)
        data = handle.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        return (), (f"calibration store {path}: not read (over {MAX_BYTES:,} bytes)",)
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return (), (f"calibration store {path}: not read (not JSON)",)
    if (
        not isinstance(document, dict)
        or document.get("schema") != SCHEMA
        or not isinstance(document.get("points"), list)
    ):
        return (), (f'calibration store {path}: not read (not a "{SCHEMA}" document)',)
    points, skipped = points_of(document["points"])
    notes = (f"calibration store {path}: {skipped} point(s) that did not read were skipped",) if skipped else ()
    return points, notes


def points_of(items: Sequence[Any]) -> tuple[tuple[MeasuredSpeed, ...], int]:
    """The points of a parsed list that read as ``MeasuredSpeed`` (positive, finite speeds), and how many did not."""
    found = [point for point in (read_point(item) for item in items) if point is not None]
    return tuple(found), len(items) - len(found)


def _unsafe(info: os.stat_result) -> str | None:
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        return "owned by another user"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "others may write it"
    return None


def attach(inventory: Inventory, environ: Mapping[str, str] | None = None) -> tuple[Inventory, tuple[str, ...]]:
    """``inventory`` carrying this machine's stored points for its fingerprint (beside those it carries already),
    and notes on a store that did not read."""
    points, notes = read_points(store_path(environ))
    if not points:
        return inventory, notes
    mine = fingerprint(inventory)
    ours = [point for point in points if point.fingerprint == mine and point not in inventory.measured]
    if not ours:
        return inventory, notes
    return inventory.replace(measured=(*inventory.measured, *ours)), notes


def calibrated(inventory: Inventory, environ: Mapping[str, str] | None = None, use: bool = True) -> Inventory:
    """``inventory`` with the speeds ``verify`` measured on that machine: the store's points for its fingerprint
    beside those it carries (they apply only where the fingerprint matches: ``plan.measured``); with ``use`` False
    (``--no-calibration``), none at all. A store that does not read is a warning on stderr, never an error."""
    if not use:
        return inventory.replace(measured=()) if inventory.measured else inventory
    inventory, notes = attach(inventory, environ)
    for note in notes:
        warn(f"warning: {note}")
    return inventory


def add_point(point: MeasuredSpeed, path: Path) -> tuple[int, tuple[str, ...]]:
    """Add ``point`` to the store at ``path`` (bounded, atomic, 0600); the number of points it then holds, and notes
    (a store that did not read was started afresh). Raises OSError where it cannot be written."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _locked(path):
        return _add(point, path)


def _add(point: MeasuredSpeed, path: Path) -> tuple[int, tuple[str, ...]]:
    points, notes = read_points(path)
    kept = [p for p in points if key_of(p) != key_of(point)]
    same = [p for p in points if key_of(p) == key_of(point)][-(MAX_PER_KEY - 1) :] if MAX_PER_KEY > 1 else []
    merged = [*kept, *same, point]
    merged.sort(key=lambda p: p.measured_at)
    merged = merged[-MAX_POINTS:]
    if point not in merged:  # a clock far behind the others' stamps: the new point still stays
        merged = [*merged[1:], point]
    _write(path, merged)
    started = tuple(f"{note}; started afresh" for note in notes if "point(s)" not in note)
    return len(merged), started


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """The store's lock (a ``.lock`` file beside it, ``flock``): two verify runs add their points one after the
    other, neither losing the other's. Where there is no ``fcntl`` (Windows), no lock."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def forget(path: Path) -> bool:
    """Remove the store; whether there was one."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(info.st_mode):
        raise OSError(f"{path} is not a regular file")
    os.unlink(path)
    with suppress(FileNotFoundError):
        os.unlink(path.with_name(path.name + ".lock"))
    return True


def _write(path: Path, points: Sequence[MeasuredSpeed]) -> None:
    import tempfile

    body = json.dumps({"schema": SCHEMA, "points": [plain_point(p) for p in points]}, indent=1, ensure_ascii=True)
    fd, temp = tempfile.mkstemp(prefix=".calibration-", suffix=".tmp", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(body + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
