"""Typed reading of parsed JSON (inventories, profiles, cluster inputs) with errors that name file and field."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from vram_advisor.core.errors import VramAdvisorError

T = TypeVar("T")


def shortened(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how many more there were, so that an answer never echoes a
    huge input."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def clean_text(text: str) -> str:
    """Text from an input as it may be kept and shown: a lone surrogate ("\\ud800", which no output encoding
    accepts) becomes U+FFFD, and control characters (terminal escapes such as ESC, BEL, newlines) become their
    visible escapes ("\\x1b"), so a hostname or GPU name from a node can never drive the terminal or a spreadsheet.
    """
    if text.isprintable():  # nearly all text: nothing to do
        return text
    text = _LONE_SURROGATE.sub("\ufffd", text)
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


#: The largest byte count an input may carry (1 EiB, as ``units.MAX_SIZE_BYTES``): anything larger is corrupt.
MAX_BYTES = 1024**6
#: The largest integer an input may carry elsewhere (the range a JSON number keeps exactly).
MAX_INTEGER = 2**53

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class FieldReader:
    """Reads typed fields out of parsed JSON, naming ``source: path.to.field`` in every error it raises."""

    def __init__(self, source: str, error: type[VramAdvisorError]) -> None:
        self.source = source
        self.error = error

    def fail(self, where: str, problem: str) -> VramAdvisorError:
        return self.error(f"{self.source}: {where}: {problem}")

    def obj(self, value: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected an object, got {_kind(value)}")
        return value

    def required(self, data: Mapping[str, Any], key: str, where: str, read: Callable[[Any, str], T]) -> T:
        if key not in data or data[key] is None:
            raise self.fail(f"{where}{key}", "required field is missing")
        return read(data[key], f"{where}{key}")

    def optional(self, data: Mapping[str, Any], key: str, where: str, read: Callable[[Any, str], T]) -> T | None:
        if data.get(key) is None:
            return None
        return read(data[key], f"{where}{key}")

    def bytes_(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(where, f"expected a whole number of bytes, got {_kind(value)}")
        if isinstance(value, float) and not (value.is_integer() and value >= 0):
            raise self.fail(where, f"expected a whole number of bytes, got {_kind(value)}")
        count = int(value)
        if count < 0:
            raise self.fail(where, f"expected a non-negative number of bytes, got {_shown(count)}")
        if count > MAX_BYTES:
            raise self.fail(where, f"{_shown(count)} bytes is more than any machine has (limit 1 EiB)")
        return count

    def int_(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(where, f"expected an integer, got {_kind(value)}")
        if abs(value) > MAX_INTEGER:
            raise self.fail(where, f"{_shown(value)} is out of range")
        return value

    def number(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(where, f"expected a number, got {_kind(value)}")
        if isinstance(value, int) and abs(value) > MAX_INTEGER:
            raise self.fail(where, f"{_shown(value)} is out of range")
        if not math.isfinite(value):
            raise self.fail(where, f"expected a finite number, got {value}")
        return float(value)

    def text(self, value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise self.fail(where, f"expected a string, got {_kind(value)}")
        return clean_text(value)

    def flag(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, f"expected true or false, got {_kind(value)}")
        return value

    def texts(self, value: Any, where: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail(where, f"expected a list of strings, got {_kind(value)}")
        return tuple(self.text(item, f"{where}[{i}]") for i, item in enumerate(value))

    def choice(self, choices: Sequence[str]) -> Callable[[Any, str], str]:
        def read(value: Any, where: str) -> str:
            text = self.text(value, where)
            if text not in choices:
                raise self.fail(where, f"expected one of {', '.join(choices)}, got {_kind(text)}")
            return text

        return read

    def known(self, choices: Sequence[str]) -> Callable[[Any, str], str | None]:
        """A word from ``choices``, in any case; a word this version does not know reads as unknown (None), so
        that newer inventories still load."""

        def read(value: Any, where: str) -> str | None:
            text = self.text(value, where).strip().lower()
            return text if text in choices else None

        return read

    def items(self, value: Any, where: str, read: Callable[[Any, str], T]) -> tuple[T, ...]:
        if not isinstance(value, list):
            raise self.fail(where, f"expected a list, got {_kind(value)}")
        return tuple(read(item, f"{where}[{i}]") for i, item in enumerate(value))


def _shown(number: int) -> str:
    """An integer as a message shows it: a long one by its number of digits."""
    digits = len(str(abs(number)))
    return str(number) if digits <= 24 else f"a number of {digits} digits"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"number {_shown(value)}"
    if isinstance(value, float):
        return f"number {value!r}"
    if isinstance(value, str):  # never its content: the file may not be what it was taken for (a token, a secret)
        return f"a string of {len(value)} character{'s' if len(value) != 1 else ''}"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else type(value).__name__
