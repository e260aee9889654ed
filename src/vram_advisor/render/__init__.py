"""Output: the only code that writes results to stdout.

JSON is written plainly with ``json.dumps`` (never through rich, which would apply markup and wrap lines); the
human views are built with rich on a ``Console`` the caller passes in, so tests can pin the width. Messages for
people (warnings, hints, progress) go to stderr through ``warn``.
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any

from vram_advisor.core.stderr import warn

__all__ = ["json_text", "warn", "write_json", "write_line", "write_text"]


def json_text(document: Any, *, indent: int | None = 2) -> str:
    """The one JSON serialisation of every result (CLI, HTTP agent, MCP), ending in a newline.

    ASCII escapes keep it valid in any output encoding, whatever text the inventories carried. The text is
    ``json.dumps(document, indent=indent, ensure_ascii=True)``, character for character: with an indent the standard
    library falls back to its pure-Python encoder (a 60 KB report takes ~2 ms), so the compact text from its C encoder
    is indented by ``msgspec.json.format``, which copies each token as written and only adds the line breaks and
    spaces (https://jcristharif.com/msgspec/api.html#msgspec.json.format).
    """
    if indent is None or indent < 1:
        return json.dumps(document, indent=indent, ensure_ascii=True) + "\n"
    import msgspec.json

    compact = json.dumps(document, ensure_ascii=True, separators=(",", ":"))
    try:
        return msgspec.json.format(compact, indent=indent) + "\n"
    except msgspec.DecodeError:  # NaN or Infinity, which json.dumps writes and JSON has not
        return json.dumps(document, indent=indent, ensure_ascii=True) + "\n"


def write_json(document: Any, stream: IO[str] | None = None, *, indent: int | None = 2) -> None:
    """Write ``document`` as JSON followed by a newline."""
    out = stream or sys.stdout
    out.write(json_text(document, indent=indent))
    out.flush()


def write_text(text: str, stream: IO[str] | None = None) -> None:
    """Write a piece of a result that is written as it is made (a large ``cluster --json``), without a newline or a
    flush: the stream's own buffer decides."""
    (stream or sys.stdout).write(text)


def write_line(text: str, stream: IO[str] | None = None) -> None:
    out = stream or sys.stdout
    out.write(text + "\n")
    out.flush()
