"""Reading the inputs of ``cluster``: inventory files, folders of ``*.json``, streams on stdin (``-``), and the
listings the readers and the Ray scan produce, each turned into ``NodeInput`` (a node's facts) or ``Skipped``.

Streams are decoded by ``jsonstream`` (NDJSON, or pretty objects one after another, with or without the line
prefix of ``srun --label`` or pdsh; bounded line and object size; each line that is not JSON reported and skipped).
A pdsh host prefix names a node whose inventory has no hostname. Inventories come from other machines and are
untrusted: nothing is evaluated, and each one is validated as ``inventory.from_dict`` would (``nodefacts.read``), so
a bad one is reported with the field that is wrong and the rest are still planned.

Scale: lines that each hold one whole object (NDJSON, behind a launcher prefix or not) are read in batches; once a
stream has more than ``PARALLEL_AFTER_LINES`` lines and the caller's ``WorkerPolicy`` allows it (the command knows
whether the machine has a CPU to spare), every other batch is decoded in a worker process (``fork``). Results are
taken strictly in input order, and any line that is not a one-object line goes through the line-by-line reader
(``jsonstream.Router``), so the outcome is the same either way.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import IO, Any, NamedTuple

from vram_advisor.core import boundedjson
from vram_advisor.core.errors import InventoryError
from vram_advisor.core.inputfiles import STDIN, STDIN_NAME, open_input, read_limited
from vram_advisor.core.records import dataclass
from vram_advisor.fleet import fastlines, nodefacts
from vram_advisor.fleet.fastlines import decoded_facts as _decoded_facts
from vram_advisor.fleet.nodefacts import NodeFacts
from vram_advisor.fleet.stream import (
    PREFIX,
    PREFIX_BYTES,
    Document,
    Router,
    Skipped,
    host_of,
    numbered_lines,
    text_of,
)
from vram_advisor.inventory.model import MAX_INVENTORY_BYTES, Inventory

__all__ = ["STDIN", "STDIN_NAME", "Document", "GarbageBudget", "NodeInput", "RefusedItem", "Skipped", "Stopped"]

#: Files a folder argument contributes, in name order.
FOLDER_PATTERNS = ("*.json", "*.ndjson", "*.jsonl")
#: One-object lines decoded together (in this process or the worker).
BATCH_LINES = 200
#: A stream longer than this many lines gets a worker process (when the ``WorkerPolicy`` allows one).
PARALLEL_AFTER_LINES = 2000
#: Batches the worker may hold at once; more are decoded here meanwhile.
WORKER_QUEUE = 2

#: What one inventory line may hold (the bounded reader's limits).
LINE_LIMITS = fastlines.LINE_LIMITS
#: What a cluster listing may hold (its size is bounded by the reader's own limit as it is read).
LISTING_LIMITS = boundedjson.JsonLimits(max_bytes=sys.maxsize, max_string_chars=16 * 1024 * 1024)
#: Consecutive skipped inputs, and bytes, with no inventory among them, after which a stream is given up.
MAX_GARBAGE_SKIPS = 10_000
MAX_GARBAGE_BYTES = 64 * 1024 * 1024

#: Asked once per long stream: may a worker process help decode it?
WorkerPolicy = Callable[[], bool]


@dataclass(frozen=True, repr=False)
class Stopped(Skipped):
    """A stream given up at ``source`` (its garbage budget spent): the rest of it was not read. The nodes read before
    it are kept and planned; ``reason`` says why reading stopped."""


class _BudgetSpent(Exception):
    """Raised by ``GarbageBudget`` inside the reader; ``stream_inputs`` turns it into a ``Stopped`` record."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NodeInput(NamedTuple):
    """One node's facts and where they came from."""

    source: str
    facts: NodeFacts


def _reason(message: str, source: str) -> str:
    prefix = f"{source}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def _facts(source: str, data: Any, host: str | None = None) -> NodeInput | Skipped:
    """The facts of one inventory; ``host`` (a pdsh line prefix) names the node when the inventory does not."""
    try:
        facts = nodefacts.read(data, source)
    except InventoryError as exc:
        return Skipped(source, _reason(exc.message, source))
    if host is not None and not (facts.hostname and facts.hostname.strip()):
        facts = facts._replace(hostname=host)
    return NodeInput(source, facts)


def node_inputs(items: Iterable[Document | Skipped]) -> Iterator[NodeInput | Skipped]:
    """Each document read as an inventory (its facts), or ``Skipped`` with the field that is wrong."""
    for item in items:
        yield item if isinstance(item, Skipped) else _facts(item.source, item.data, item.host)


def inventory_inputs(items: Iterable[tuple[str, Inventory] | Skipped]) -> Iterator[NodeInput | Skipped]:
    """Inventories built by a reader (Kubernetes, Slurm), as node inputs."""
    for item in items:
        if isinstance(item, Skipped):
            yield item
        else:
            source, inventory = item
            yield NodeInput(source, nodefacts.from_inventory(inventory))


# ------------------------------------------------------------------------------------------------ streams


def _one_object_line(line: Any) -> bool:
    """Whether a line looks like one whole object: starts with ``{`` and ends with ``}`` (the NDJSON case)."""
    if isinstance(line, bytes):
        return line[:1] == b"{" and (line[-1:] == b"}" or line.rstrip()[-1:] == b"}")
    return isinstance(line, str) and line[:1] == "{" and (line[-1:] == "}" or line.rstrip()[-1:] == "}")


def _prefixed_object(line: Any) -> tuple[Any, str] | None:
    """``(object text, label)`` for a line that is one whole object behind a launcher prefix (``0: {...}``)."""
    if isinstance(line, Skipped) or line[:1] in (b"{", "{"):
        return None
    match = (PREFIX_BYTES if isinstance(line, bytes) else PREFIX).match(line)
    if match is None:
        return None
    payload = line[match.end() :]
    if not _one_object_line(payload):
        return None
    label = match[1]
    return payload, label.decode("ascii") if isinstance(label, bytes) else label


def read_line(name: str, lineno: int, line: Any, label: str | None = None) -> NodeInput | Skipped | None:
    """A line holding one whole object (behind the launcher prefix ``label``, already cut off), read as an
    inventory; None when the line-by-line reader must look at it (several objects on the line, or broken JSON to be
    reported in context)."""
    source = f"{name}:{lineno}"
    facts = _decoded_facts(line)
    if facts is not None:
        host = host_of(label)
        if host is not None and not (facts.hostname and facts.hostname.strip()):
            facts = facts._replace(hostname=host)
        return NodeInput(source, facts)
    try:
        data = boundedjson.parse(line, LINE_LIMITS)
    except boundedjson.JsonRefused as exc:
        return None if exc.syntax else Skipped(source, str(exc))
    return _facts(source, data, host_of(label))


#: One line of a batch: line number, the whole line, the object's text, the launcher prefix (None: no prefix).
_Line = tuple[int, Any, Any, str | None]


def read_batch(name: str, batch: list[_Line]) -> list[NodeInput | Skipped | None]:
    """``read_line`` for each line of a batch, up to the first that needs the line-by-line reader."""
    results: list[NodeInput | Skipped | None] = []
    for lineno, _line, payload, label in batch:
        result = read_line(name, lineno, payload, label)
        results.append(result)
        if result is None:
            break
    return results


class _Slot(NamedTuple):
    batch: list[_Line]
    result: Future[list[NodeInput | Skipped | None]] | list[NodeInput | Skipped | None]


def _start_worker() -> Executor | None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    try:
        return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"))
    except (OSError, ValueError):  # no fork here: stay in one process
        return None


@dataclass
class GarbageBudget:
    """How much consecutive garbage a stream may send before it is given up: ``max_skips`` skipped inputs or
    ``max_bytes`` bytes with no inventory among them (one hostile node must not stall a fleet scan, and
    ``/dev/zero`` must end). Each inventory read starts the count again. Giving up stops the reading of that stream
    only: the nodes read before are kept (``Stopped``)."""

    max_skips: int = MAX_GARBAGE_SKIPS
    max_bytes: int = MAX_GARBAGE_BYTES
    skips: int = 0
    bytes_read: int = 0

    @classmethod
    def unlimited(cls) -> GarbageBudget:
        """No limit (benchmarks of the reader itself)."""
        return cls(max_skips=sys.maxsize, max_bytes=sys.maxsize)

    def inventory(self) -> None:
        self.skips = 0
        self.bytes_read = 0

    def skipped(self) -> None:
        self.skips += 1
        if self.skips > self.max_skips:
            raise _BudgetSpent(f"{self.max_skips} inputs in a row were not inventories")

    def read(self, count: int) -> None:
        self.bytes_read += count
        if self.bytes_read > self.max_bytes:
            raise _BudgetSpent(f"{self.max_bytes // (1024 * 1024)} MiB in a row held no inventory")


class _Metered:
    """A stream whose bytes are counted against a ``GarbageBudget`` as they are read."""

    def __init__(self, stream: IO[Any], budget: GarbageBudget) -> None:
        self.stream = stream
        self.budget = budget

    def read(self, size: int = -1) -> Any:
        chunk = self.stream.read(size)
        self.budget.read(len(chunk))
        return chunk


class _StreamInputs:
    """Batches of one-object lines (some decoded by the worker), and the line-by-line reader for the rest."""

    def __init__(self, name: str, limit: int, worker: WorkerPolicy | None) -> None:
        self.name = name
        self.router = Router(name, limit)
        self.slots: deque[_Slot] = deque()
        self.worker: Executor | None = None
        self.worker_policy = worker
        self.in_worker = 0

    def dispatch(self, batch: list[_Line], lineno: int) -> None:
        if self.worker is None and self.worker_policy is not None and lineno > PARALLEL_AFTER_LINES:
            wanted, self.worker_policy = self.worker_policy(), None
            self.worker = _start_worker() if wanted else None
        if self.worker is not None and self.in_worker < WORKER_QUEUE:
            self.in_worker += 1
            lines = [(lineno, None, payload, label) for lineno, _line, payload, label in batch]  # send each once
            self.slots.append(_Slot(batch, self.worker.submit(read_batch, self.name, lines)))
        else:
            self.slots.append(_Slot(batch, read_batch(self.name, batch)))

    def drain(self, wait: bool) -> Iterator[NodeInput | Skipped]:
        """Hand out finished batches in order (all of them when ``wait``)."""
        while self.slots:
            batch, result = self.slots[0]
            if isinstance(result, Future):
                if not wait and not result.done() and len(self.slots) <= 4 * WORKER_QUEUE:
                    return
                self.in_worker -= 1
                try:
                    results = result.result()
                except Exception:  # the worker died (killed, out of memory): decode here instead
                    results = read_batch(self.name, batch)
            else:
                results = result
            self.slots.popleft()
            yield from self._consume(batch, results)

    def _consume(self, batch: list[_Line], results: list[NodeInput | Skipped | None]) -> Iterator[NodeInput | Skipped]:
        for position, (lineno, line, _payload, label) in enumerate(batch):
            result = results[position] if position < len(results) else None
            if result is not None and not self.router.gathering:
                yield from self.router.object_ahead(label)
                yield result
            else:
                yield from self.slow(lineno, line)

    def slow(self, lineno: int, line: Any) -> Iterator[NodeInput | Skipped]:
        text = line if isinstance(line, Skipped) else text_of(lineno, line, self.name)
        if isinstance(text, Skipped):
            self.router.skipped_line(lineno)
            yield text
            return
        yield from node_inputs(self.router.line(lineno, text))

    def close(self) -> None:
        if self.worker is not None:
            self.worker.shutdown(wait=True, cancel_futures=True)
            self.worker = None


def stream_inputs(
    stream: IO[Any],
    name: str,
    limit: int = MAX_INVENTORY_BYTES,
    worker: WorkerPolicy | None = None,
    budget: GarbageBudget | None = None,
) -> Iterator[NodeInput | Skipped]:
    """Every inventory in a stream as a node input, in order, and every line or object that had to be skipped.

    ``worker`` is asked once, when the stream grows past ``PARALLEL_AFTER_LINES`` lines, whether a worker process
    may decode every other batch (the caller knows the machine; None: stay in this process). Past ``budget`` (by
    default ``GarbageBudget()``) of consecutive garbage, reading stops: a last ``Stopped`` record says where and why,
    and the nodes yielded before it stand (one node printing garbage must not cost the fleet its other nodes).
    """
    budget = budget if budget is not None else GarbageBudget()
    items = _stream_items(_Metered(stream, budget), name, limit, worker)
    try:
        for item in items:
            if isinstance(item, Skipped):
                try:
                    budget.skipped()
                except _BudgetSpent as spent:  # this input is where reading stops
                    yield _stopped(item.source, spent)
                    return
            else:
                budget.inventory()
            yield item
    except _BudgetSpent as spent:  # too many bytes without an inventory, in the middle of a read
        yield _stopped(name, spent)
    finally:
        items.close()


def _stopped(where: str, spent: _BudgetSpent) -> Stopped:
    return Stopped(
        where,
        f"stopped reading: {spent.reason} (is this the output of `vram-advisor probe --json`?); the rest of this "
        "input was not read",
    )


def _stream_items(
    stream: Any, name: str, limit: int, worker: WorkerPolicy | None
) -> Generator[NodeInput | Skipped, None, None]:
    state = _StreamInputs(name, limit, worker)
    batch: list[_Line] = []
    lineno = 0
    try:
        for lineno, line in numbered_lines(stream, name, limit):
            if not state.router.gathering:
                if not isinstance(line, Skipped) and not line.strip():
                    continue  # a blank line between objects: nothing to do, no need to wait for the worker
                if _one_object_line(line):
                    batch.append((lineno, line, line, None))
                else:
                    prefixed = _prefixed_object(line)
                    if prefixed is not None:
                        batch.append((lineno, line, *prefixed))
                if batch and batch[-1][0] == lineno:
                    if len(batch) >= BATCH_LINES:
                        state.dispatch(batch, lineno)
                        batch = []
                        yield from state.drain(wait=False)
                    continue
            if batch:
                state.dispatch(batch, lineno)
                batch = []
            yield from state.drain(wait=True)
            yield from state.slow(lineno, line)
        if batch:
            state.dispatch(batch, lineno)
        yield from state.drain(wait=True)
        yield from node_inputs(state.router.end(lineno))
    finally:
        state.close()


# -------------------------------------------------------------------------------------------------- paths


def path_inputs(
    path: str,
    worker: WorkerPolicy | None = None,
    *,
    follow_symlinks: bool = False,
    timeout_s: float | None = None,
) -> Iterator[NodeInput | Skipped]:
    """The nodes of one command-line argument: ``-`` (stdin), a file, or a folder of ``*.json`` files (``worker``:
    see ``stream_inputs``; ``timeout_s``: how long a FIFO, a device or a pipe may stay silent, see
    ``core.inputfiles``).

    A folder's symbolic links that lead out of the folder are not read unless ``follow_symlinks`` (a link to
    ``~/.cache/huggingface/token`` must not end up in a report); a link inside the folder is read as its target."""
    target = Path(path)
    if path != STDIN and _is_folder(target):
        files = sorted({f for pattern in FOLDER_PATTERNS for f in target.glob(pattern)})
        if not files:
            yield Skipped(path, f"no {', '.join(FOLDER_PATTERNS)} files in this folder")
        inside = target.resolve()
        for file in files:
            refused = _refused_entry(file, inside, follow_symlinks)
            if refused is not None:
                yield Skipped(str(file), refused)
            elif file.is_file():
                yield from _file_inputs(str(file), worker, timeout_s)
        return
    yield from _file_inputs(path, worker, timeout_s)


def _is_folder(target: Path) -> bool:
    """Whether ``target`` is a folder; a path the system refuses to look at (too long, no permission) is not one,
    and opening it then says why in one line."""
    try:
        return target.is_dir()
    except OSError:  # Python 3.11's is_dir raises ENAMETOOLONG and EACCES
        return False


def _refused_entry(file: Path, folder: Path, follow_symlinks: bool) -> str | None:
    """Why a folder's entry is not read (a link out of the folder), or None."""
    if not file.is_symlink():
        return None
    try:
        resolved = file.resolve(strict=True)
    except (OSError, RuntimeError):  # a dangling link, or a loop
        return "a symbolic link that leads nowhere, not read"
    if follow_symlinks or resolved.is_relative_to(folder):
        return None
    return "a symbolic link to a file outside this folder, not read (--follow-symlinks reads it)"


def _file_inputs(path: str, worker: WorkerPolicy | None, timeout_s: float | None) -> Iterator[NodeInput | Skipped]:
    name = STDIN_NAME if path == STDIN else path
    try:
        handle, name = open_input(path, InventoryError, timeout_s, "an inventory JSON object")
    except InventoryError as exc:
        yield Skipped(path, _reason(exc.message, path))
        return
    try:
        found = False
        try:
            for item in stream_inputs(handle, name, worker=worker):
                found = True
                yield item
        except OSError as exc:
            yield Skipped(name, f"cannot be read ({exc.__class__.__name__}: {exc.strerror or 'error'})")
            return
        if not found and path != STDIN:  # an empty stdin is "the input was empty", said by the command
            yield Skipped(name, "empty, expected an inventory JSON object")
    finally:
        handle.close()


# ----------------------------------------------------------------------------------------------- listings


def read_text(path: str, limit: int, what: str, timeout_s: float | None = None) -> tuple[str, str]:
    """The whole text of a file (or stdin for ``-``), at most ``limit`` bytes, and its display name.

    For the readers of cluster listings (``kubectl get nodes -o json``, ``scontrol show nodes --json``), which are
    one JSON document each. Raises ``InventoryError`` when it cannot be read.
    """
    raw, name = read_limited(path, limit, InventoryError, what, timeout_s)
    try:
        return boundedjson.decode_utf8(raw), name
    except boundedjson.JsonRefused as exc:
        raise InventoryError(f"{name}: {exc}") from None


class RefusedItem(NamedTuple):
    """An element of a listing's list (a node) that holds a number the bounded reader refused (5000 digits, NaN):
    the element as read, and the refusal, whose field is relative to the element. The readers skip such a node."""

    data: Any
    refusal: boundedjson.JsonRefused


def parse_listing(text: str, name: str, what: str) -> Any:
    """One JSON document (a cluster listing), through the bounded reader; ``InventoryError`` names the file and the
    position or field.

    A number the reader refuses inside an element of a top-level list (``items[3]``, ``nodes[1]``) costs only that
    element: it is replaced by a ``RefusedItem``, which the readers report as a skipped node. Anywhere else, and for
    every other limit (size, nesting, strings) and broken JSON, the whole document is refused."""
    try:
        data, refused = boundedjson.parse_keeping_refused(text, LISTING_LIMITS)
    except boundedjson.JsonRefused as exc:
        raise InventoryError(f"{name}: {exc}" + (f"; expected {what}" if exc.syntax else "")) from None
    if refused:
        if isinstance(data, dict):
            for value in data.values():
                if isinstance(value, list):
                    for position, item in enumerate(value):
                        refusal = boundedjson.refused_number(item)
                        if refusal is not None:
                            value[position] = RefusedItem(item, refusal)
        refusal = boundedjson.refused_number(data)
        if refusal is not None:
            raise InventoryError(f"{name}: {refusal}")
    return data
