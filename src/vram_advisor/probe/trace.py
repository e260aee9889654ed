"""A record of everything the probe asked the machine and what it answered, for ``vram-advisor doctor``.

Each entry is one question (an NVML call, a file read, a sysctl) with its answer or its error, turned into plain
JSON values at the moment it is recorded. A disabled trace (the default for ``check`` and ``probe``) records
nothing and costs one attribute test per call.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

from vram_advisor.core.records import Record, dataclass

#: Longest text kept for one answer (a whole mountinfo file is kept; a binary blob is not).
MAX_TEXT = 64 * 1024


@dataclass(repr=False)
class Trace(Record):
    """Questions and answers in the order they were asked; ``enabled=False`` makes every method a no-op."""

    enabled: bool = False
    entries: list[dict[str, Any]] = field(default_factory=list)

    def record(self, source: str, call: str, result: Any = None, error: BaseException | str | None = None) -> None:
        """One question (``call``) put to ``source`` and its answer (``result``) or ``error``."""
        if not self.enabled:
            return
        entry: dict[str, Any] = {"source": source, "call": call}
        if error is not None:
            entry["error"] = error if isinstance(error, str) else describe_error(error)
        else:
            entry["result"] = plain(result)
        self.entries.append(entry)

    def file(self, source: str, path: str, content: str | None, error: BaseException | None = None) -> None:
        """A file read: its content, or why it could not be read."""
        if not self.enabled:
            return
        if error is not None:
            self.record(source, f"read {path}", error=error)
        else:
            self.record(source, f"read {path}", content)

    def of(self, source: str) -> list[dict[str, Any]]:
        return [entry for entry in self.entries if entry["source"] == source]


def describe_error(error: BaseException) -> str:
    """``ClassName: message`` (NVML errors carry their class, e.g. ``NVMLError_NotSupported: Not Supported``)."""
    text = str(error).strip()
    name = type(error).__name__
    return f"{name}: {text}" if text else name


def plain(value: Any, depth: int = 0) -> Any:
    """A JSON-ready copy of an answer: ctypes structures become dicts, bytes become text."""
    if depth > 6:
        return repr(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "…"
    if isinstance(value, bytes):
        return plain(value.decode("utf-8", "replace"), depth)
    if isinstance(value, list | tuple):
        return [plain(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {str(key): plain(item, depth + 1) for key, item in value.items()}
    import ctypes  # only a traced run gets here, and NVML's answers are ctypes values

    if isinstance(value, ctypes._Pointer):  # an NVML device handle: opaque, its address says enough
        return f"handle 0x{ctypes.cast(value, ctypes.c_void_p).value or 0:x}"
    if isinstance(value, ctypes.Structure | ctypes.Union):
        return {name: plain(getattr(value, name), depth + 1) for name, *_ in value._fields_}
    if isinstance(value, ctypes._SimpleCData):
        return plain(value.value, depth + 1)
    if isinstance(value, ctypes.Array):
        return plain(list(value), depth + 1)
    return repr(value)
