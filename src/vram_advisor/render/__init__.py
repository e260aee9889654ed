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

__all__ = ["json_text", "warn", "write_json", "write_line"]


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
