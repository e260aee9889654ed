"""The process's standard streams, made safe for a command line: exit codes must survive any of them.

``guard()`` is called once when the program starts (not when tests call ``main(args)`` in-process). It replaces
``sys.stdout``/``sys.stderr`` with text streams over file descriptors 1 and 2 that

* write what the output encoding cannot carry as escapes (``PYTHONIOENCODING=ascii`` prints ``\\u2265``, never an
  ``UnicodeEncodeError``);
* remember the first failure (a full disk, ``/dev/full``, a closed pipe, a closed descriptor) and, from then on,
  drop what is written, so that nothing fails again when the interpreter flushes them at exit (Python would print
  "Exception ignored" and exit 120);
* for stderr, never raise at all: a message for people that cannot be shown must not change the exit code.

A descriptor closed at start (``>&-``, ``2>&-``, ``<&-``) gets /dev/null, so that no file the program opens later
takes its number; the stream over it still reports the descriptor as closed (stdout and stdin raise ``EBADF`` when
used; stderr stays quiet). ``main`` asks ``failure()`` whether an error came from stdout or stdin and answers it with
exit 2 (a broken pipe, as in ``| head``, stays quiet with exit 0).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sys
from typing import Any, TextIO


class _Descriptor(io.RawIOBase):
    """A raw stream over one standard descriptor, or over none when it was closed at start."""

    def __init__(self, fd: int | None, name: str, *, quiet: bool) -> None:
        super().__init__()
        self.fd = fd
        self.name = name
        self.quiet = quiet
        self.failed: OSError | None = None

    def readable(self) -> bool:
        return self.name == "stdin"

    def writable(self) -> bool:
        return self.name != "stdin"

    def fileno(self) -> int:
        if self.fd is None:
            error = OSError(errno.EBADF, f"{self.name} is closed")
            if not self.quiet and self.failed is None:
                self.failed = error  # whoever asks is about to use it (the MCP server, a reader of -)
            raise error
        return self.fd

    def isatty(self) -> bool:
        return self.fd is not None and os.isatty(self.fd)

    def _fail(self, exc: OSError) -> None:
        if self.failed is None:
            self.failed = exc
        if not self.quiet:
            raise exc

    def write(self, data: Any) -> int:
        size = len(memoryview(data))
        if self.failed is not None:
            return size  # broken once: the rest goes nowhere, so the flush at exit cannot fail again
        try:
            if self.fd is None:
                raise OSError(errno.EBADF, f"{self.name} is closed")
            return os.write(self.fd, data)
        except OSError as exc:
            self._fail(exc)
        return size

    def readinto(self, buffer: Any) -> int:
        error = OSError(errno.EBADF, f"{self.name} is closed")
        self._fail(error)
        raise error


#: The raw streams under sys.stdin/stdout/stderr once ``guard()`` ran, by name.
_GUARDED: dict[str, _Descriptor] = {}


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _occupy(fd: int) -> None:
    """Put /dev/null on a closed standard descriptor (so that no file opened later gets its number)."""
    null = os.open(os.devnull, os.O_RDWR)
    if null != fd:
        os.dup2(null, fd)
        os.close(null)


def _writer(raw: _Descriptor, old: TextIO | None, *, line_buffering: bool) -> TextIO:
    encoding = getattr(old, "encoding", None) or "utf-8"
    return io.TextIOWrapper(
        io.BufferedWriter(raw), encoding=encoding, errors="backslashreplace", line_buffering=line_buffering
    )


def guard() -> None:
    """Install the guarded standard streams for this process (once)."""
    if _GUARDED:
        return
    at_start = {0: sys.stdin, 1: sys.stdout, 2: sys.stderr}
    # Python leaves a stream None when its descriptor was closed at start (something opened since may hold the
    # number now: it is then not written to, and not replaced either)
    closed = {fd: stream is None or not _is_open(fd) for fd, stream in at_start.items()}
    for fd in (0, 1, 2):
        if not _is_open(fd):
            _occupy(fd)
    for old in (sys.stdout, sys.stderr):
        if old is not None:
            with contextlib.suppress(OSError, ValueError):
                old.flush()
    err = _Descriptor(None if closed[2] else 2, "stderr", quiet=True)
    sys.stderr = _writer(err, sys.stderr, line_buffering=True)
    out = _Descriptor(None if closed[1] else 1, "stdout", quiet=False)
    sys.stdout = _writer(out, sys.stdout, line_buffering=out.isatty())
    _GUARDED.update(stdout=out, stderr=err)
    if closed[0]:
        stdin = _Descriptor(None, "stdin", quiet=False)
        sys.stdin = io.TextIOWrapper(io.BufferedReader(stdin), encoding="utf-8", errors="surrogateescape")
        _GUARDED["stdin"] = stdin


def failure() -> tuple[str, OSError] | None:
    """The stream (``stdout`` or ``stdin``) that failed in this run and how, if one did."""
    for name in ("stdout", "stdin"):
        raw = _GUARDED.get(name)
        if raw is not None and raw.failed is not None:
            return name, raw.failed
    return None


def flush_stdout() -> None:
    """Flush stdout (so that a failure is seen while ``main`` can still answer it); raises what the write raised."""
    stdout = sys.stdout
    if stdout is not None:
        stdout.flush()
