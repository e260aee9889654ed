"""Steps shared by commands: the rich console for human views."""

from __future__ import annotations

import shutil
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def console(stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr) at the terminal's width, colour only on a terminal."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else max(100, shutil.get_terminal_size((100, 24)).columns)
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)
