"""Messages for people on stderr: one line each, prefixed with the program's name. Results never go here."""

from __future__ import annotations

import sys


def warn(message: str) -> None:
    """A one-line note for people, on stderr."""
    sys.stderr.write(f"vram-advisor: {message}\n")
    sys.stderr.flush()
