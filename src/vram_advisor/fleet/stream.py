"""A stream of JSON objects, read safely: one object a line (NDJSON), or whole objects one after another, pretty
printed over many lines, or both mixed; with or without the line prefix a parallel launcher adds.

Lines are read in large chunks and split here, each at most ``limit`` long (a longer one is refused unread). A line
that holds a whole object is decoded at once; an object that spans lines is gathered until its braces balance
(braces inside strings do not count) and then decoded. Nothing else is kept, so memory stays flat however long the
stream.

Launcher prefixes: ``srun --label`` starts every line with the task number (``0: {...}``, `` 7: {...}``), and pdsh
without ``-N`` with the host (``gpu-07: {...}``, ``gpu-07.example.org: {...}``). A line whose text after such a
prefix starts an object is read without the prefix, and the lines of a pretty object that carry the same prefix are
gathered apart from the others (``Router``), so objects from several nodes may interleave line by line. A host
prefix travels with the object (``Document.host``) as the hostname to use when the inventory has none.

Whatever is not a JSON object becomes a ``Skipped`` record naming where it was (``<stdin>:12``,
``nodes/a.json:1-40``) and why: every line that is not JSON on its own, an object that does not decode, text after an
object (at its own line). An object broken off in the middle (larger than ``limit``, or interrupted by a line that
could not be read) is skipped to its end: the lines up to the next line that starts an object are counted into its
record rather than read as lines of their own. An object cut off and followed by the next inventory on the same line
(no line end between) is one record, and the inventory after it is read (``resync``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import IO, Any, NamedTuple

from vram_advisor.core import boundedjson
from vram_advisor.core.records import Record, dataclass
from vram_advisor.fleet.resync import MAX_RESTARTS, LineCounter, next_start

#: Bytes read from a stream at a time.
CHUNK_BYTES = 1024 * 1024

_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
#: ``srun --label`` (task number, right-aligned) or pdsh (host name, as DNS spells one) before ": ".
PREFIX = re.compile(r" *([0-9]+|[A-Za-z0-9](?:[A-Za-z0-9._-]{0,252}[A-Za-z0-9])?): ")
PREFIX_BYTES = re.compile(PREFIX.pattern.encode())
#: A line holding an object's member (``"key": ...``): ending in ``,``, it is followed by a key, never an object.
_MEMBER = re.compile(r'\s*"(?:[^"\\\n]|\\.)*"\s*:')
#: The schema an inventory line names: such a line always starts a new object (see ``StreamReader.line``).
_INVENTORY_SCHEMA = re.compile(r'^\{\s*"schema"\s*:\s*"vram-advisor/inventory/')


@dataclass(frozen=True, repr=False)
class Skipped(Record):
    """An input that was not used: where it was and why."""

    source: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


class Document(NamedTuple):
    """One parsed JSON object, where it came from, and the host named by its line prefix (pdsh), if any."""

    source: str
    data: Any
    host: str | None = None


def where(name: str, first: int, last: int) -> str:
    """``name:first`` or ``name:first-last``."""
    return f"{name}:{first}" if first == last else f"{name}:{first}-{last}"


def described(text: str) -> str:
    """Some text of the input as a message may name it: its size, never its content (the file may be a token or
    a secret that a symlink or a wrong argument sent here)."""
    size = len(text.strip())
    return f"{size} character{'s' if size != 1 else ''}"


def value_error(exc: Exception) -> str:
    """The reason for a JSON value Python refuses (too deep, an integer with too many digits)."""
    if isinstance(exc, RecursionError):
        return "JSON nested too deeply, not read"
    return f"not valid JSON ({exc})"


def host_of(label: str | None) -> str | None:
    """The host a line prefix names: a pdsh host, not an srun task number."""
    return None if label is None or label.isdigit() else label  # the pattern allows ASCII only


def _mib(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit} bytes"


def numbered_lines(stream: IO[Any], name: str, limit: int) -> Iterator[tuple[int, Any]]:
    """``(line number, line)`` for a binary or text stream, without the line end; a line longer than ``limit``
    comes as a ``Skipped`` instead, and its rest is not kept.

    Linear in the input: the pieces of a line that spans reads are kept in a list and joined once, at its end."""
    lineno = 0
    pieces: list[Any] = []  # the start of the current line, read so far
    held = 0  # its length
    newline: Any = None
    overlong = False
    while True:
        chunk = stream.read(CHUNK_BYTES)
        if not chunk:
            break
        if newline is None:
            newline = b"\n" if isinstance(chunk, bytes) else "\n"
            chunk = chunk.removeprefix(b"\xef\xbb\xbf" if isinstance(chunk, bytes) else "\ufeff")  # a UTF-8 BOM
        parts = chunk.split(newline)
        last = parts.pop()
        for part in parts:
            lineno += 1
            if pieces:
                pieces.append(part)
                held += len(part)
                part = part[:0].join(pieces) if not overlong and held <= limit else None
                pieces, held = [], 0
            if overlong or part is None or len(part) > limit:
                overlong = False
                yield lineno, Skipped(where(name, lineno, lineno), f"line longer than {_mib(limit)}, not read")
            else:
                yield lineno, part
        if overlong:
            continue  # the rest of an overlong line: not kept
        pieces.append(last)
        held += len(last)
        if held > limit:
            overlong = True
            pieces, held = [], 0
    if overlong or held:
        lineno += 1
        if overlong:
            yield lineno, Skipped(where(name, lineno, lineno), f"line longer than {_mib(limit)}, not read")
        else:
            yield lineno, pieces[0][:0].join(pieces)


def _depth_change(line: str) -> int:
    """How many JSON objects a line opens minus how many it closes (braces inside strings do not count)."""
    if '"' in line:
        line = _STRING.sub("", line)
    return line.count("{") - line.count("}")


def text_of(lineno: int, line: Any, name: str) -> str | Skipped:
    """A line as text (bytes are read as UTF-8)."""
    if isinstance(line, str):
        return line
    try:
        return str(line.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return Skipped(where(name, lineno, lineno), f"not UTF-8 text (byte {exc.start + 1})")


def _not_an_object(text: str) -> str:
    if text.lstrip().startswith("["):
        return (
            f"a JSON array, not an inventory object ({described(text)}); give one inventory a line "
            "(jq -c '.[]' turns an array into that)"
        )
    return f"not an inventory (expected a JSON object; a line of {described(text)})"


def _cut_record(name: str, first: int, text: str, restart: int, line_at: LineCounter) -> Skipped:
    """The record of an object from line ``first`` cut off where the next one starts (``restart`` in ``text``)."""
    line = line_at(restart)
    column = restart - text.rfind("\n", 0, restart)
    return Skipped(
        where(name, first, line), f"incomplete JSON object (a new object starts at line {line} column {column})"
    )


class StreamReader:
    """The line-by-line state of one stream (or of the lines of one launcher prefix): a multi-line object being
    gathered, or a broken one being skipped to its end."""

    def __init__(self, name: str, limit: int, host: str | None = None) -> None:
        self.name = name
        self.limit = limit
        self.json_limits = boundedjson.JsonLimits(max_bytes=limit, fast_integers=True)
        self.host = host
        self.pending: list[str] = []
        #: The line numbers of the pending lines (not consecutive when other prefixes' lines come in between).
        self.pending_lines: list[int] = []
        self.pending_size = 0
        #: Whether a pending line after the first is indented (pretty printed output): kept as lines come, so the
        #: question "does a line at column 0 start a new object" costs the same however long the object.
        self.indented = False
        self.depth = 0
        #: An object broken off in the middle, skipped up to the next line that starts an object: (first, last, why).
        self.broken: tuple[int, int, str] | None = None

    @property
    def gathering(self) -> bool:
        """Whether an object spanning lines is being gathered (the next lines belong to it)."""
        return bool(self.pending)

    @property
    def idle(self) -> bool:
        """Whether this reader holds nothing (no object being gathered, none being skipped)."""
        return not self.pending and self.broken is None

    def end_skip(self) -> Iterator[Skipped]:
        """Report the broken object being skipped, now that something else starts."""
        if self.broken is not None:
            first, last, reason = self.broken
            self.broken = None
            yield Skipped(where(self.name, first, last), reason)

    @property
    def pending_start(self) -> int:
        return self.pending_lines[0] if self.pending_lines else 0

    def _break(self, last: int, reason: str) -> None:
        self.broken = (self.pending_start, last, reason)
        self.pending = []
        self.pending_lines = []

    # -------------------------------------------------------------------------------------------- lines

    def line(self, lineno: int, text: str) -> Iterator[Document | Skipped]:
        """Take one line (without its line end, and without the launcher's prefix)."""
        if self.pending:
            if text.startswith("{") and (self._starts_new_object() or _INVENTORY_SCHEMA.match(text)):
                yield from self._cut_off(f"incomplete JSON object (a new object starts at line {lineno})")
            else:
                yield from self._continue(lineno, text)
                return
        stripped = text.strip()
        if self.broken is not None:
            if not text.startswith("{"):
                if stripped:
                    self.broken = (self.broken[0], lineno, self.broken[2])
                return
            yield from self.end_skip()
        if not stripped:
            return
        if stripped[0] != "{":
            yield Skipped(where(self.name, lineno, lineno), _not_an_object(text))
            return
        try:
            data = boundedjson.parse(text, self.json_limits)
        except boundedjson.JsonRefused as exc:
            if not exc.syntax:
                yield Skipped(where(self.name, lineno, lineno), str(exc))
                return
            # else several objects on the line, the start of a multi-line object, or garbage: look closer
        else:
            yield Document(where(self.name, lineno, lineno), data, self.host)
            return
        yield from self._scan(text, [lineno])

    def _starts_new_object(self) -> bool:
        """Whether a line opening an object at column 0 begins a new top-level object (the gathered one was cut
        off) rather than a nested one.

        Pretty printers indent nested objects, so in indented output it always does. A compact object (one line
        holding more than its opening brace) never goes on on a new line that opens an object: one gathered from a
        single such line was cut off. In unindented output over many lines (``json.dumps(indent=0)``) a nested
        object opens at column 0 only as an array's element: after ``[``, or after ``,`` ending an element. After a
        ``"key": value,`` line a key comes, and no printer puts a value's brace on the line after its key (``:``), so
        there it is a new object."""
        if self.indented:
            return True
        if len(self.pending) == 1 and self.pending[0].strip() != "{":
            return True
        last = self.pending[-1].rstrip()
        if last.endswith(","):
            return _MEMBER.match(last) is not None
        return not last.endswith("[")

    def _continue(self, lineno: int, text: str) -> Iterator[Document | Skipped]:
        self.indented = self.indented or text[:1] in (" ", "\t")
        self.pending.append(text + "\n")
        self.pending_lines.append(lineno)
        self.pending_size += len(text) + 1
        if self.pending_size > self.limit:
            self._break(lineno, f"JSON object larger than {_mib(self.limit)}, not read")
            return
        self.depth += _depth_change(text)
        if self.depth > 0:
            return
        blob = "".join(self.pending)
        numbers = self.pending_lines
        self.pending = []
        self.pending_lines = []
        yield from self._scan(blob, numbers)

    def _scan(self, text: str, numbers: list[int]) -> Iterator[Document | Skipped]:
        """Decode the objects in ``text`` (whose lines have the line numbers ``numbers``), one after another; each
        one, and each thing that is wrong, is named by its own lines. An object that starts on the last line and goes
        on is gathered."""
        position = len(text) - len(text.lstrip())
        end_of_text = len(text.rstrip())
        last = numbers[text.count("\n", 0, end_of_text)]
        line_at = LineCounter(text, numbers)  # line numbers found as the position moves on: linear, however many
        restarts = 0  # objects cut off and followed by another (see ``resync.next_start``)
        while position < end_of_text:
            start = line_at(position)
            try:
                data, end = boundedjson.raw_decode(text, position, self.json_limits)
            except json.JSONDecodeError as exc:
                # an object cut off and followed by another: that one is read, even where the cut one could go on on
                # the next lines (``{"schema": ..., "ram": {"schema": ...}``: no inventory nests another)
                restart = next_start(text, position, exc.pos) if restarts < MAX_RESTARTS else None
                if restart is None and exc.pos >= end_of_text and start == last:  # goes on on the next lines
                    rest = text[position:end_of_text]
                    self.pending = [rest + "\n"]
                    self.indented = False
                    self.pending_lines = [start]
                    self.pending_size = len(rest) + 1
                    self.depth = _depth_change(rest)
                    return
                if restart is None:
                    line = numbers[exc.lineno - 1]
                    yield Skipped(
                        where(self.name, start, last), f"not valid JSON ({exc.msg} at line {line} column {exc.colno})"
                    )
                    return
                yield _cut_record(self.name, start, text, restart, line_at)
                position, restarts = restart, restarts + 1
                continue
            except boundedjson.JsonRefused as exc:
                yield Skipped(where(self.name, start, last), str(exc))
                return
            except (ValueError, RecursionError) as exc:
                yield Skipped(where(self.name, start, last), value_error(exc))
                return
            yield Document(where(self.name, start, line_at(end - 1)), data, self.host)
            position = end
            while position < end_of_text and text[position].isspace():
                position += 1
            if position < end_of_text and text[position] != "{":
                line = line_at(position)
                yield Skipped(
                    where(self.name, line, line),
                    f"unexpected text after the JSON object ({described(text[position:end_of_text])})",
                )
                return

    def skipped_line(self, lineno: int) -> None:
        """A line that could not be read at all (too long, not UTF-8) breaks an object being gathered."""
        if self.pending:
            self._break(self.pending_lines[-1], f"JSON object broken by line {lineno}, which could not be read")

    def end(self, lineno: int) -> Iterator[Document | Skipped]:
        """The stream ended at ``lineno``: report what is left."""
        yield from self.end_skip()
        if self.pending:
            yield from self._cut_off("incomplete JSON object at the end of the input (cut off?)")

    def _cut_off(self, reason: str) -> tuple[Document | Skipped, ...]:
        """Report the object being gathered as cut off (``reason``); a whole inventory after the cut that ends its
        lines (``    {{"schema": ...}``: the next node's line written on after the cut) is read. One pass, once."""
        text = "".join(self.pending) if len(self.pending) > 1 else self.pending[0]
        numbers = self.pending_lines
        self.pending = []
        self.pending_lines = []
        restart = next_start(text, 0, len(text))
        if restart is not None:
            try:
                data, end = boundedjson.raw_decode(text, restart, self.json_limits)
            except (ValueError, RecursionError):  # not JSON, or beyond the limits: part of the cut object
                pass
            else:
                if not text[end:].strip():
                    line_at = LineCounter(text, numbers)
                    cut = _cut_record(self.name, numbers[0], text, restart, line_at)
                    return cut, Document(where(self.name, line_at(restart), line_at(end - 1)), data, self.host)
        return (Skipped(where(self.name, numbers[0], numbers[-1]), reason),)


class Router:
    """Sends each line to the reader of its launcher prefix (``srun --label``, pdsh), or to the reader of plain
    lines, so that a pretty object's lines are gathered with the others of its prefix.

    A line goes to its prefix's reader when that reader holds something (an object being gathered or skipped);
    else, when the text after its prefix starts an object and the plain reader is not gathering one, to its prefix's
    reader; else to the plain reader as it is (``srun: error: ...`` is not JSON behind a prefix but a line that is
    not JSON). A prefix before nothing is a blank line. A line that starts an object ends the plain reader's
    skipping of a broken object. Readers with nothing pending are dropped, so a prefix costs nothing once its object
    is read.
    """

    def __init__(self, name: str, limit: int) -> None:
        self.name = name
        self.limit = limit
        self.plain = StreamReader(name, limit)
        self.labelled: dict[str, StreamReader] = {}
        self._gathering: set[str] = set()

    @property
    def gathering(self) -> bool:
        """Whether some reader is gathering an object (the next lines may belong to it)."""
        return self.plain.gathering or bool(self._gathering)

    def object_ahead(self, label: str | None) -> Iterator[Skipped]:
        """Prepare for a line that holds one whole object (with the prefix ``label``, or none), read elsewhere:
        what a reader would do before decoding it (end the broken object it was skipping)."""
        if self.plain.broken is None and not self.labelled:
            return
        yield from self.plain.end_skip()
        if label is not None:
            reader = self.labelled.get(label)
            if reader is not None:
                yield from reader.end_skip()
                self._settle(label, reader)

    def _settle(self, label: str, reader: StreamReader) -> None:
        if reader.gathering:
            self._gathering.add(label)
        else:
            self._gathering.discard(label)
            if reader.idle:
                del self.labelled[label]

    def _labelled(self, label: str, lineno: int, rest: str) -> Iterator[Document | Skipped]:
        reader = self.labelled.get(label)
        if reader is None:
            reader = self.labelled[label] = StreamReader(self.name, self.limit, host_of(label))
        yield from reader.line(lineno, rest)
        self._settle(label, reader)

    def line(self, lineno: int, text: str) -> Iterator[Document | Skipped]:
        """Take one line (without its line end)."""
        match = PREFIX.match(text) if text[:1] != "{" else None
        if match is not None:
            label, rest = match[1], text[match.end() :]
            reader = self.labelled.get(label)
            if reader is not None and reader.gathering:
                yield from self._labelled(label, lineno, rest)
                return
            if not rest.strip() and not self.plain.gathering:
                return  # a blank line of a node's output, as the launcher prefixes it
            opens = rest.lstrip()[:1] == "{"
            if reader is not None or (opens and not self.plain.gathering):
                if opens:
                    yield from self.plain.end_skip()
                yield from self._labelled(label, lineno, rest)
                return
        yield from self.plain.line(lineno, text)

    def skipped_line(self, lineno: int) -> None:
        """A line that could not be read: it breaks the plain object being gathered (its prefix is unknown)."""
        self.plain.skipped_line(lineno)

    def end(self, lineno: int) -> Iterator[Document | Skipped]:
        """The stream ended at ``lineno``: report what every reader has left."""
        yield from self.plain.end(lineno)
        for reader in sorted(self.labelled.values(), key=lambda r: r.broken[0] if r.broken else r.pending_start):
            yield from reader.end(lineno)
        self.labelled.clear()
        self._gathering.clear()


def documents(stream: IO[Any], name: str, limit: int) -> Iterator[Document | Skipped]:
    """The JSON objects in a stream (NDJSON, or pretty objects one after another, launcher prefixes or none), and
    what had to be skipped."""
    router = Router(name, limit)
    lineno = 0
    for lineno, line in numbered_lines(stream, name, limit):
        text = line if isinstance(line, Skipped) else text_of(lineno, line, name)
        if isinstance(text, Skipped):
            router.skipped_line(lineno)
            yield text
            continue
        yield from router.line(lineno, text)
    yield from router.end(lineno)
