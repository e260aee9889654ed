"""Output: the only code that writes results to stdout.

JSON is written plainly with ``json.dumps`` (never through rich, which would apply markup and wrap lines); the
human views are built with rich on a ``Console`` the caller passes in, so tests can pin the width. Messages for
people (warnings, hints, progress) go to stderr through ``warn``.
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any


def json_text(document: Any, *, indent: int | None = 2) -> str:
    """The one JSON serialisation of every result (CLI, HTTP agent, MCP), ending in a newline.

    ASCII escapes keep it valid in any output encoding, whatever text the inventories carried.
    """
    return json.dumps(document, indent=indent, ensure_ascii=True) + "\n"


def write_json(document: Any, stream: IO[str] | None = None, *, indent: int | None = 2) -> None:
    """Write ``document`` as JSON followed by a newline."""
    out = stream or sys.stdout
    out.write(json_text(document, indent=indent))
    out.flush()


def write_line(text: str, stream: IO[str] | None = None) -> None:
    out = stream or sys.stdout
    out.write(text + "\n")
    out.flush()


def warn(message: str) -> None:
    """A one-line note for people, on stderr (control characters from outside shown as their escapes)."""
    if not message.isprintable():
        from vram_advisor.core.jsonread import clean_text

        message = clean_text(message)
    sys.stderr.write(f"vram-advisor: {message}\n")
    sys.stderr.flush()
