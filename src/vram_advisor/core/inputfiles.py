"""Opening what the user names as input (a file, ``-`` for stdin, a FIFO, a device) so that reading it ends.

A regular file is read as it is. A FIFO, a character device, a socket, or stdin when it is a pipe is read through
``TimedReader``: each read waits at most ``timeout_s`` seconds for the next bytes (a FIFO with no writer, a silent
producer), and then raises the caller's error: one line, exit 2. Opening never blocks (``O_NONBLOCK``: a FIFO with no
writer would otherwise hang in ``open``). A terminal is never timed: a person is typing.

How long to wait: ``--read-timeout`` where a command has it, else ``$VRAM_ADVISOR_READ_TIMEOUT``, else 120 s.
Errors name the file and the problem (``no such file``, ``Permission denied``), never what it holds.
"""

from __future__ import annotations

import math
import os
import select
import stat
import sys
from collections.abc import Mapping
from typing import IO, Any

from vram_advisor.core.errors import UsageError, VramAdvisorError
from vram_advisor.core.numbers import shown

STDIN = "-"
STDIN_NAME = "<stdin>"
READ_TIMEOUT_ENV = "VRAM_ADVISOR_READ_TIMEOUT"
DEFAULT_READ_TIMEOUT_S = 120.0
#: A path that cannot be opened is named whole up to this length (a file name's limit on most file systems).
MAX_NAMED_PATH = 255


def check_seconds(value: float, option: str) -> float:
    """A number of seconds given by the user: finite and above zero (``nan`` and ``inf`` are refused)."""
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"{option} {value}: expected a number of seconds above 0")
    return value


def default_read_timeout(environ: Mapping[str, str] | None = None) -> float:
    """``$VRAM_ADVISOR_READ_TIMEOUT`` (seconds), else 120 s."""
    text = (os.environ if environ is None else environ).get(READ_TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_READ_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{READ_TIMEOUT_ENV}={shown(text)}: expected a number of seconds") from None
    return check_seconds(value, f"{READ_TIMEOUT_ENV}=")


class TimedReader:
    """``read(n)`` on a file descriptor that waits at most ``timeout_s`` for bytes, gathering up to ``n`` of what is
    ready (a pipe hands out 64 KiB at a time)."""

    def __init__(self, fd: int, name: str, timeout_s: float, error: type[VramAdvisorError], own: bool) -> None:
        self.fd = fd
        self.name = name
        self.timeout_s = timeout_s
        self.error = error
        self.own = own
        self.ended = False

    def read(self, size: int = -1) -> bytes:
        if self.ended:
            return b""
        size = size if size > 0 else 1024 * 1024
        parts: list[bytes] = []
        got = 0
        while got < size:
            ready, _, _ = select.select([self.fd], [], [], 0 if parts else self.timeout_s)
            if not ready:
                if parts:
                    break
                raise self.error(
                    f"{self.name}: nothing arrived for {self.timeout_s:g} s, stopped waiting "
                    "(--read-timeout SECONDS or VRAM_ADVISOR_READ_TIMEOUT sets how long)"
                )
            try:
                chunk = os.read(self.fd, size - got)
            except BlockingIOError:
                continue
            if not chunk:
                self.ended = True
                break
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)

    def close(self) -> None:
        if self.own and self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> TimedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _failure(path: str, exc: OSError, error: type[VramAdvisorError]) -> VramAdvisorError:
    # a path no file has (5,000 characters: "File name too long") is quoted by its start and its length
    name = path if len(path) <= MAX_NAMED_PATH else shown(path)
    if isinstance(exc, FileNotFoundError):
        return error(f"{name}: no such file")
    return error(f"{name}: cannot be read ({exc.__class__.__name__}: {exc.strerror or 'error'})")


def open_input(
    path: str, error: type[VramAdvisorError], timeout_s: float | None = None, what: str = "a JSON file"
) -> tuple[Any, str]:
    """A binary reader of ``path`` (``-``: stdin) and its display name; raises ``error`` when it cannot be opened.

    The reader is a file object (regular files, a terminal) or a ``TimedReader`` (FIFOs, devices, sockets, a pipe
    on stdin); close it when done (closing stdin's reader leaves stdin open).
    """
    timeout = default_read_timeout() if timeout_s is None else timeout_s
    if path == STDIN:
        stream: IO[Any] = getattr(sys.stdin, "buffer", None) or sys.stdin
        try:
            fd = stream.fileno()
            mode = os.fstat(fd).st_mode
        except (OSError, ValueError, AttributeError):  # not a real file (a test's stand-in): read it as it is
            return _Unclosed(stream), STDIN_NAME
        if stat.S_ISREG(mode) or os.isatty(fd):
            return _Unclosed(stream), STDIN_NAME
        return TimedReader(fd, STDIN_NAME, timeout, error, own=False), STDIN_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except IsADirectoryError:
        raise error(f"{path}: is a directory, expected {what}") from None
    except OSError as exc:
        raise _failure(path, exc, error) from None
    mode = os.fstat(fd).st_mode
    if stat.S_ISDIR(mode):
        os.close(fd)
        raise error(f"{path}: is a directory, expected {what}")
    if stat.S_ISREG(mode):
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), path
    return TimedReader(fd, path, timeout, error, own=True), path


class _Unclosed:
    """A stream handed out for reading that closing must not close (stdin)."""

    def __init__(self, stream: IO[Any]) -> None:
        self.stream = stream

    def read(self, size: int = -1) -> Any:
        return self.stream.read(size)

    def close(self) -> None:
        pass

    def __enter__(self) -> _Unclosed:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def read_limited(
    path: str, limit: int, error: type[VramAdvisorError], what: str, timeout_s: float | None = None
) -> tuple[bytes, str]:
    """All bytes of ``path`` (``-``: stdin), at most ``limit``, and its display name. Raises ``error`` when it cannot
    be read, is larger than ``limit`` (read no further), or holds nothing but white space."""
    reader, name = open_input(path, error, timeout_s, what)
    try:
        parts: list[bytes] = []
        got = 0
        while got <= limit:
            chunk = reader.read(min(limit + 1 - got, 1024 * 1024))
            if not chunk:
                break
            if isinstance(chunk, str):  # a text stand-in for stdin
                chunk = chunk.encode("utf-8", "surrogateescape")
            parts.append(chunk)
            got += len(chunk)
    except OSError as exc:
        raise _failure(name, exc, error) from None
    finally:
        reader.close()
    if got > limit:
        raise error(f"{name}: larger than {_size(limit)}, not read")
    raw = b"".join(parts)
    if not raw.strip():
        raise error(f"{name}: empty, expected {what}")
    return raw, name


def _size(count: int) -> str:
    mib = 1024 * 1024
    return f"{count // mib} MiB" if count >= mib and count % mib == 0 else f"{count} bytes"
