"""The base of every record (frozen dataclass) in the program: one shared ``__repr__``.

``dataclass`` generates a ``__repr__`` (and ``__eq__``, ``__hash__``) per class by compiling source text when the
module is imported; with some sixty records that is a noticeable share of ``check``'s start-up (bench/startup.py).
Records are declared ``repr=False`` and inherit this one instead, which prints the same thing.
"""

from __future__ import annotations

from dataclasses import fields


class Record:
    """Mixin for dataclasses declared with ``repr=False``."""

    __slots__ = ()

    def __repr__(self) -> str:
        body = ", ".join(f"{field.name}={getattr(self, field.name)!r}" for field in fields(self))  # type: ignore[arg-type]
        return f"{type(self).__name__}({body})"
