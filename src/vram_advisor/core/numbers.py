"""Whole numbers read from text, bounded: the one parser for every integer a user, a node label or a scheduler's text
gives (``--gpus 8xH100``, ``nvidia.com/gpu.count``, Slurm's ``gpu:h100:8``), and the one way a message quotes a
refused value.

Python's ``int()`` refuses strings of more than 4300 digits with a ``ValueError`` (CPython's integer string
conversion limit, python/cpython#95778) and takes time quadratic in the length below that; so the digits are
counted first, and a number longer than ``MAX_DIGITS`` is refused before ``int()`` sees it. A refused value is
quoted by ``shown``: at most ``SHOWN_CHARS`` characters of it, escaped, and its length.
"""

from __future__ import annotations

import re

#: Digits a whole number may have (leading zeros not counted): far beyond any count or size a machine has.
MAX_DIGITS = 30
#: Characters of a refused value a message quotes.
SHOWN_CHARS = 40

#: A run of more digits than ``MAX_DIGITS``: any decimal digits, as a pattern's ``\d`` and ``int()`` read them ("٣" is 3).
_LONG_RUN = re.compile(r"\d{" + str(MAX_DIGITS + 1) + ",}")
_RUN = re.compile(r"\d+")


class NumberError(ValueError):
    """A whole number could not be read from text; the message says why, without the field's name."""


def _escaped(char: str) -> str:
    if char == "'" or char == "\\":
        return "\\" + char
    return char if char.isprintable() else repr(char)[1:-1]


def shown(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` as a message quotes it: in quotes, control characters and lone surrogates escaped (``\\x1b``), and at
    most ``limit`` characters of it as written; a longer one gives its start and its length:
    ``'99999999999999999999'... (5,000 characters)``."""
    if len(text) <= limit and text.isprintable() and "'" not in text and "\\" not in text:
        return f"'{text}'"
    pieces: list[str] = []
    used = 0
    for char in text[:limit]:
        piece = _escaped(char)
        if used + len(piece) > limit:
            break
        pieces.append(piece)
        used += len(piece)
    quoted = "'" + "".join(pieces) + "'"
    return quoted if len(pieces) == len(text) else f"{quoted}... ({len(text):,} characters)"


#: A quoted value in another library's message ('...' or "...", backslash escapes as ``repr`` writes them), or
#: a run of non-blank characters.
_QUOTED_OR_WORD = re.compile(r"'((?:[^'\\\n]|\\.)*)'|\"((?:[^\"\\\n]|\\.)*)\"|\S+")


def clip_values(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text``, a message another library wrote about a user's value (click's "Invalid value for '--port':
    '99999...' is not a valid integer range.", "No such option: --xxxx..."), with each quoted value or word longer
    than ``limit`` characters quoted as ``shown`` quotes it: its start and its length."""

    def clip(match: re.Match[str]) -> str:
        quoted = match.group(1) if match.group(1) is not None else match.group(2)
        value = match.group() if quoted is None else quoted
        return match.group() if len(value) <= limit else shown(value, limit)

    return _QUOTED_OR_WORD.sub(clip, text)


def _digits(count: int) -> str:
    return f"a number of {count:,} digits"


def parse_int(text: str, low: int | None = None, high: int | None = None, max_digits: int = MAX_DIGITS) -> int:
    """A whole number written in ASCII digits (spaces around it allowed), at most ``max_digits`` digits long and, when
    given, within ``low..high``. Raises ``NumberError``: "expected a whole number, got '12x'", "a number of 5,000
    digits is out of range (0..4096)", "9000 is out of range (0..4096)"."""
    if not isinstance(text, str):
        raise NumberError(f"expected a whole number as text, got {type(text).__name__}")
    stripped = text.strip()
    # isdigit() alone is not enough: it accepts "²" and "٣", which int() refuses or reads as another digit
    if not stripped or not stripped.isascii() or not stripped.isdigit():
        raise NumberError(f"expected a whole number, got {shown(text)}")
    significant = stripped.lstrip("0") or "0"
    bounds = (
        f" ({'' if low is None else low}..{'' if high is None else high})"
        if low is not None or high is not None
        else ""
    )
    if len(significant) > max_digits:
        raise NumberError(f"{_digits(len(significant))} is out of range{bounds}")
    number = int(significant)
    if (low is not None and number < low) or (high is not None and number > high):
        raise NumberError(f"{number} is out of range{bounds}")
    return number


def too_many_digits(text: str) -> str | None:
    """Why ``text`` cannot hold a number any parser here takes (it has a run of more than ``MAX_DIGITS`` digits,
    leading zeros counted), or None: the check to run on free text (a ``--gpus`` item, a size) before any pattern
    picks numbers out of it and ``int()`` or ``Decimal`` reads them."""
    match = _LONG_RUN.search(text)
    if match is None:
        return None
    run = _RUN.match(text, match.start())
    length = len(run.group()) if run is not None else len(match.group())
    return f"{_digits(length)} is more than any count or size (at most {MAX_DIGITS} digits)"
