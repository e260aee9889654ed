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

import json
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import IO, Any, NamedTuple

from vram_advisor.core.errors import InventoryError
from vram_advisor.fleet import nodefacts
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
    value_error,
)
from vram_advisor.inventory.model import MAX_INVENTORY_BYTES, Inventory

__all__ = ["Document", "NodeInput", "Skipped"]

STDIN = "-"
STDIN_NAME = "<stdin>"
#: Files a folder argument contributes, in name order.
FOLDER_PATTERNS = ("*.json", "*.ndjson", "*.jsonl")
#: One-object lines decoded together (in this process or the worker).
BATCH_LINES = 200
#: A stream longer than this many lines gets a worker process (when the ``WorkerPolicy`` allows one).
PARALLEL_AFTER_LINES = 2000
#: Batches the worker may hold at once; more are decoded here meanwhile.
WORKER_QUEUE = 2

#: Asked once per long stream: may a worker process help decode it?
WorkerPolicy = Callable[[], bool]


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
    try:
        data = json.loads(line)
    except UnicodeDecodeError as exc:
        return Skipped(source, f"not UTF-8 text (byte {exc.start + 1})")
    except json.JSONDecodeError:
        return None
    except (ValueError, RecursionError) as exc:
        return Skipped(source, value_error(exc))
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
    stream: IO[Any], name: str, limit: int = MAX_INVENTORY_BYTES, worker: WorkerPolicy | None = None
) -> Iterator[NodeInput | Skipped]:
    """Every inventory in a stream as a node input, in order, and every line or object that had to be skipped.

    ``worker`` is asked once, when the stream grows past ``PARALLEL_AFTER_LINES`` lines, whether a worker process
    may decode every other batch (the caller knows the machine; None: stay in this process).
    """
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


def _stdin_stream() -> IO[Any]:
    buffer = getattr(sys.stdin, "buffer", None)
    return buffer if buffer is not None else sys.stdin


def path_inputs(path: str, worker: WorkerPolicy | None = None) -> Iterator[NodeInput | Skipped]:
    """The nodes of one command-line argument: ``-`` (stdin), a file, or a folder of ``*.json`` files (``worker``:
    see ``stream_inputs``)."""
    if path == STDIN:
        yield from stream_inputs(_stdin_stream(), STDIN_NAME, worker=worker)
        return
    target = Path(path)
    if target.is_dir():
        files = sorted({f for pattern in FOLDER_PATTERNS for f in target.glob(pattern) if f.is_file()})
        if not files:
            yield Skipped(path, f"no {', '.join(FOLDER_PATTERNS)} files in this folder")
        for file in files:
            yield from _file_inputs(str(file), worker)
        return
    yield from _file_inputs(path, worker)


def _file_inputs(path: str, worker: WorkerPolicy | None) -> Iterator[NodeInput | Skipped]:
    try:
        handle = Path(path).open("rb")  # noqa: SIM115 (closed below; opening errors are reported, not raised)
    except FileNotFoundError:
        yield Skipped(path, "no such file")
        return
    except OSError as exc:
        yield Skipped(path, f"cannot be read ({exc.__class__.__name__}: {exc.strerror or exc})")
        return
    with handle:
        found = False
        try:
            for item in stream_inputs(handle, path, worker=worker):
                found = True
                yield item
        except OSError as exc:
            yield Skipped(path, f"cannot be read ({exc.__class__.__name__}: {exc.strerror or exc})")
            return
        if not found:
            yield Skipped(path, "empty, expected an inventory JSON object")


# ----------------------------------------------------------------------------------------------- listings


def read_text(path: str, limit: int, what: str) -> tuple[str, str]:
    """The whole text of a file (or stdin for ``-``), at most ``limit`` bytes, and its display name.

    For the readers of cluster listings (``kubectl get nodes -o json``, ``scontrol show nodes --json``), which are
    one JSON document each. Raises ``InventoryError`` when it cannot be read.
    """
    if path == STDIN:
        name = STDIN_NAME
        raw = _stdin_stream().read(limit + 1)
    else:
        name = path
        try:
            with Path(path).open("rb") as handle:
                raw = handle.read(limit + 1)
        except FileNotFoundError:
            raise InventoryError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise InventoryError(f"{path}: is a directory, expected {what}") from None
        except OSError as exc:
            raise InventoryError(f"{path}: cannot be read ({exc.__class__.__name__}: {exc.strerror or exc})") from None
    if len(raw) > limit:
        raise InventoryError(f"{name}: larger than {limit // (1024 * 1024)} MiB, not read")
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InventoryError(f"{name}: not UTF-8 text (byte {exc.start + 1})") from None
    else:
        text = raw
    if not text.strip():
        raise InventoryError(f"{name}: empty, expected {what}")
    return text, name


def parse_listing(text: str, name: str, what: str) -> Any:
    """One JSON document (a cluster listing), or ``InventoryError`` naming the file and the position."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InventoryError(
            f"{name}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); expected {what}"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise InventoryError(f"{name}: {value_error(exc)}") from None
