"""Messages for people on stderr: one line each, prefixed with the program's name. Results never go here."""

from __future__ import annotations

import sys


def warn(message: str) -> None:
    """A one-line note for people, on stderr (control characters from outside shown as their escapes).

    A stderr that cannot take it (full, closed, ``2>&-``) is not an error: a note nobody can read must not change
    what the command does or its exit code.
    """
    if not message.isprintable():
        from vram_advisor.core.jsonread import clean_text

        message = clean_text(message)
    try:
        sys.stderr.write(f"vram-advisor: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):  # full, closed, or None (fd 2 closed at start)
        pass
