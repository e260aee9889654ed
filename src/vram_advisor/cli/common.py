"""Steps shared by commands: the rich console for human views, at one width decided in one place."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.console import Console

#: The width of a view that does not go to a terminal, when COLUMNS does not say one.
DEFAULT_WIDTH = 100
#: The narrowest and widest views: below 40 nothing lays out; past 1000 a view only costs time and memory
#: (COLUMNS=99999999 made ``models`` take 48 s and 24 GB building its tables).
MIN_WIDTH = 40
DEFAULT_HEIGHT = 25
MAX_WIDTH = 1000


def clamp_width(columns: int) -> int:
    return max(MIN_WIDTH, min(MAX_WIDTH, columns))


def width_of(stream: TextIO, columns: str | None) -> int:
    """The width of a view on ``stream``: COLUMNS when it is a positive number, else the terminal's, else
    ``DEFAULT_WIDTH``; always within ``MIN_WIDTH``..``MAX_WIDTH``."""
    text = (columns or "").strip()
    if text.isascii() and text.isdigit() and len(text) <= 9 and int(text) > 0:
        return clamp_width(int(text))
    try:
        if stream.isatty():
            return clamp_width(os.get_terminal_size(stream.fileno()).columns or DEFAULT_WIDTH)
    except (OSError, ValueError, AttributeError):
        pass
    return DEFAULT_WIDTH


def height_of(lines: str | None) -> int:
    """The console's height: LINES when it is a sane positive number, else 25. Given to rich with the width, so
    rich never reads COLUMNS or LINES itself (it calls ``int()`` on any digits there, 5000 of them included)."""
    text = (lines or "").strip()
    if text.isascii() and text.isdigit() and len(text) <= 5 and int(text) > 0:
        return int(text)
    return DEFAULT_HEIGHT


def console(stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr) at the width of ``width_of``, colour only on a terminal."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = width_of(stream, os.environ.get("COLUMNS"))
    height = height_of(os.environ.get("LINES"))
    return Console(file=stream, width=width, height=height, highlight=False, soft_wrap=False)
