"""Messages for people on stderr: one line each, prefixed with the program's name. Results never go here."""

from __future__ import annotations

import sys


def warn(message: str) -> None:
    """A one-line note for people, on stderr (control characters from outside shown as their escapes)."""
    if not message.isprintable():
        from vram_advisor.core.jsonread import clean_text

        message = clean_text(message)
    sys.stderr.write(f"vram-advisor: {message}\n")
    sys.stderr.flush()
