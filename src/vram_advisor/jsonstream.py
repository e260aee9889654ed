"""A stream of JSON objects, read safely: one object a line (NDJSON), or whole objects one after another, pretty
printed over many lines, or both mixed.

Lines are read in large chunks and split here, each at most ``limit`` long (a longer one is refused unread). A line
that holds a whole object is decoded at once; an object that spans lines is gathered until its braces balance
(braces inside strings do not count) and then decoded. Nothing else is kept, so memory stays flat however long the
stream. Whatever is not a JSON object (garbage, a cut-off object, trailing text) becomes a ``Skipped`` record naming
where it was (``<stdin>:12``, ``nodes/a.json:1-40``) and why, and reading goes on with the next line (after a broken
multi-line object: with the next line that starts an object at column 0).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, NamedTuple

#: Bytes read from a stream at a time.
CHUNK_BYTES = 1024 * 1024

_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_DECODER = json.JSONDecoder()
_SNIPPET = 60


@dataclass(frozen=True)
class Skipped:
    """An input that was not used: where it was and why."""

    source: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


class Document(NamedTuple):
    """One parsed JSON object and where it came from."""

    source: str
    data: Any


def where(name: str, first: int, last: int) -> str:
    """``name:first`` or ``name:first-last``."""
    return f"{name}:{first}" if first == last else f"{name}:{first}-{last}"


def snippet(text: str) -> str:
    """The start of some text, quoted with escapes, for a message."""
    text = text.strip()
    return repr(text if len(text) <= _SNIPPET else text[: _SNIPPET - 3] + "...")


def value_error(exc: Exception) -> str:
    """The reason for a JSON value Python refuses (too deep, an integer with too many digits)."""
    if isinstance(exc, RecursionError):
        return "JSON nested too deeply, not read"
    return f"not valid JSON ({exc})"


def _mib(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit} bytes"


def numbered_lines(stream: IO[Any], name: str, limit: int) -> Iterator[tuple[int, Any]]:
    """``(line number, line)`` for a binary or text stream, without the line end; a line longer than ``limit``
    comes as a ``Skipped`` instead, and its rest is not kept."""
    lineno = 0
    tail: Any = None
    newline: Any = None
    overlong = False
    while True:
        chunk = stream.read(CHUNK_BYTES)
        if not chunk:
            break
        if newline is None:
            newline = b"\n" if isinstance(chunk, bytes) else "\n"
            tail = chunk[:0]
            chunk = chunk.removeprefix(b"\xef\xbb\xbf" if isinstance(chunk, bytes) else "\ufeff")  # a UTF-8 BOM
        parts = (tail + chunk).split(newline)
        tail = parts.pop()
        for part in parts:
            lineno += 1
            if overlong or len(part) > limit:
                overlong = False
                yield lineno, Skipped(where(name, lineno, lineno), f"line longer than {_mib(limit)}, not read")
            else:
                yield lineno, part
        if len(tail) > limit:
            overlong = True
            tail = tail[:0]
    if overlong or tail:
        lineno += 1
        if overlong:
            yield lineno, Skipped(where(name, lineno, lineno), f"line longer than {_mib(limit)}, not read")
        else:
            yield lineno, tail


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


class StreamReader:
    """The line-by-line state: a multi-line object being gathered, a run of garbage lines, a resynchronisation."""

    def __init__(self, name: str, limit: int) -> None:
        self.name = name
        self.limit = limit
        self.pending: list[str] = []
        self.pending_start = 0
        self.pending_size = 0
        self.depth = 0
        self.resync = False
        self.garbage: tuple[int, int, str] | None = None

    @property
    def gathering(self) -> bool:
        """Whether an object spanning lines is being gathered (the next lines belong to it)."""
        return bool(self.pending)

    @property
    def idle(self) -> bool:
        """Whether a blank line would change nothing (no object being gathered, no garbage run to end)."""
        return not self.pending and self.garbage is None

    # ------------------------------------------------------------------------------------------ garbage

    def _note_garbage(self, lineno: int, text: str) -> None:
        if self.garbage is None:
            self.garbage = (lineno, lineno, text)
        else:
            self.garbage = (self.garbage[0], lineno, self.garbage[2])

    def flush_garbage(self) -> Iterator[Skipped]:
        """Report the run of non-JSON lines seen since the last object, as one record."""
        if self.garbage is None:
            return
        first, last, text = self.garbage
        self.garbage = None
        if text.lstrip().startswith("["):
            reason = (
                f"a JSON array, not an inventory object ({snippet(text)}); give one inventory a line "
                "(jq -c '.[]' turns an array into that)"
            )
        else:
            reason = f"not an inventory (expected a JSON object): {snippet(text)}"
        yield Skipped(where(self.name, first, last), reason)

    def object_line_ahead(self) -> Iterator[Skipped]:
        """Prepare for a line known to hold whole objects: report pending garbage, end a resynchronisation."""
        yield from self.flush_garbage()
        self.resync = False

    # -------------------------------------------------------------------------------------------- lines

    def line(self, lineno: int, text: str) -> Iterator[Document | Skipped]:
        """Take one line (without its line end)."""
        if self.pending:
            if text.startswith("{") and self._starts_new_object():
                yield Skipped(
                    where(self.name, self.pending_start, lineno - 1),
                    f"incomplete JSON object (a new object starts at line {lineno})",
                )
                self.pending = []
            else:
                yield from self._continue(lineno, text)
                return
        if self.resync:
            if not text.startswith("{"):
                return
            self.resync = False
        stripped = text.strip()
        if not stripped:
            yield from self.flush_garbage()
            return
        if stripped[0] != "{":
            self._note_garbage(lineno, text)
            return
        yield from self.flush_garbage()
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            pass  # several objects on the line, the start of a multi-line object, or garbage: look closer
        except (ValueError, RecursionError) as exc:
            yield Skipped(where(self.name, lineno, lineno), value_error(exc))
            return
        else:
            yield Document(where(self.name, lineno, lineno), data)
            return
        yield from self._scan(text, lineno, lineno, can_continue=True)

    def _starts_new_object(self) -> bool:
        """Whether a line opening an object at column 0 begins a new top-level object (the gathered one was cut
        off) rather than a nested one. Pretty printers indent nested objects, so in indented output it always does;
        in unindented output only where the gathered text does not expect a value next."""
        if any(line[:1] in (" ", "\t") for line in self.pending[1:]):
            return True
        return self.pending[-1].rstrip()[-1:] not in (",", "[", ":", "{")

    def _continue(self, lineno: int, text: str) -> Iterator[Document | Skipped]:
        self.pending.append(text + "\n")
        self.pending_size += len(text) + 1
        if self.pending_size > self.limit:
            yield Skipped(
                where(self.name, self.pending_start, lineno),
                f"JSON object larger than {_mib(self.limit)}, not read; skipping to the next object",
            )
            self.pending = []
            self.resync = True
            return
        self.depth += _depth_change(text)
        if self.depth > 0:
            return
        blob = "".join(self.pending)
        start = self.pending_start
        self.pending = []
        yield from self._scan(blob, start, lineno, can_continue=False)

    def _scan(self, text: str, first: int, last: int, can_continue: bool) -> Iterator[Document | Skipped]:
        """Decode the objects in ``text`` (lines ``first``..``last``), one after another."""
        place = where(self.name, first, last)
        position = len(text) - len(text.lstrip())
        end_of_text = len(text.rstrip())
        while position < end_of_text:
            try:
                data, end = _DECODER.raw_decode(text, position)
            except json.JSONDecodeError as exc:
                if exc.pos >= end_of_text and can_continue:
                    self.pending = [text[position:] + "\n"]
                    self.pending_start = first
                    self.pending_size = len(text) - position + 1
                    self.depth = _depth_change(text[position:])
                    return
                line = first + exc.lineno - 1
                broken = "" if can_continue else "; skipping to the next object"
                yield Skipped(place, f"not valid JSON ({exc.msg} at line {line} column {exc.colno}){broken}")
                self.resync = not can_continue
                return
            except (ValueError, RecursionError) as exc:
                yield Skipped(place, value_error(exc))
                return
            yield Document(place, data)
            position = end
            while position < end_of_text and text[position].isspace():
                position += 1
            if position < end_of_text and text[position] != "{":
                yield Skipped(place, f"unexpected text after the JSON object: {snippet(text[position:])}")
                return

    def skipped_line(self) -> None:
        """A line that could not be read at all (too long, not UTF-8) breaks an object being gathered."""
        if self.pending:
            self.pending = []
            self.resync = True

    def end(self, lineno: int) -> Iterator[Skipped]:
        """The stream ended at ``lineno``: report what is left."""
        yield from self.flush_garbage()
        if self.pending:
            yield Skipped(
                where(self.name, self.pending_start, lineno),
                "incomplete JSON object at the end of the input (cut off?)",
            )
            self.pending = []


def documents(stream: IO[Any], name: str, limit: int) -> Iterator[Document | Skipped]:
    """The JSON objects in a stream (NDJSON, or pretty objects one after another), and what had to be skipped."""
    reader = StreamReader(name, limit)
    lineno = 0
    for lineno, line in numbered_lines(stream, name, limit):
        text = line if isinstance(line, Skipped) else text_of(lineno, line, name)
        if isinstance(text, Skipped):
            yield from reader.flush_garbage()
            reader.skipped_line()
            yield text
            continue
        yield from reader.line(lineno, text)
    yield from reader.end(lineno)
