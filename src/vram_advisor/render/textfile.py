"""A file written whole or not at all, as node_exporter's textfile collector needs (``check --prom-file``).

The collector reads every ``*.prom`` file of its folder at each scrape, whenever that comes
(https://github.com/prometheus/node_exporter#textfile-collector: write to a temporary file, then ``mv``). So the
text goes to a temporary file in the same folder, whose name does not end in ``.prom`` (the collector never reads
it half-written), is flushed to the disk (``fsync``) and then renamed over the old file (``os.replace``: a reader
sees the old file or the new one, never part of one). On any failure the temporary file is removed and the old file
is left as it was; a process killed midway leaves at most a ``.NAME.*.tmp`` file, which the collector ignores.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from vram_advisor.core.errors import UsageError
from vram_advisor.core.jsonread import clean_text

#: Bytes per ``os.write`` call (the loop also finishes a write the system took only part of).
CHUNK_BYTES = 64 * 1024
#: The permissions of a new file: node_exporter usually runs as its own user and must read it (the gauges are what
#: ``serve``'s ``/metrics`` shows anyone). A file that exists keeps its own.
NEW_FILE_MODE = 0o644


def _reason(exc: OSError, folder: Path) -> str:
    shown = clean_text(str(folder))
    if exc.errno == errno.ENOENT:
        return f"the folder {shown} does not exist"
    if exc.errno == errno.ENOTDIR:
        return f"{shown} is not a folder"
    if exc.errno == errno.EROFS:
        return f"{shown} is on a read-only file system"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"no permission to write in {shown}"
    return exc.strerror or exc.__class__.__name__


def _mode_of(target: Path) -> int:
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:  # none yet (or unreadable): a new file's
        return NEW_FILE_MODE


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(descriptor, view[:CHUNK_BYTES])
        view = view[written:]


def _sync_folder(folder: Path) -> None:
    """Best effort: the rename itself on the disk (not every system opens a folder for it)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def write_atomically(path: str, text: str, option: str = "--prom-file") -> None:
    """Replace the file at ``path`` with ``text`` (UTF-8) atomically; a ``UsageError`` naming ``option`` and the path
    (exit 2, one line) where it cannot be written, the old file untouched."""
    target = Path(path)
    folder = target.parent
    where = f"{option} {clean_text(path)}"
    if not target.name.endswith(".prom"):
        raise UsageError(f"{where}: node_exporter's textfile collector reads only files ending in .prom")
    try:
        found = os.lstat(target)
    except FileNotFoundError:
        found = None
    except OSError as exc:  # a name too long, a folder on the way that is a file
        raise UsageError(f"{where}: cannot write it: {_reason(exc, folder)}") from None
    if found is not None and stat.S_ISDIR(found.st_mode):
        raise UsageError(f"{where}: is a folder, not a file")
    if found is not None and not stat.S_ISREG(found.st_mode):
        # a link, a device, a pipe: replacing it would replace that thing itself (a root timer and /dev/null)
        raise UsageError(f"{where}: is not a regular file; give the path of the .prom file itself")
    data = text.encode("utf-8")
    mode = _mode_of(target)
    import tempfile  # only when writing the file: keeps it off check's start-up

    try:
        descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise UsageError(f"{where}: cannot write it: {_reason(exc, folder)}") from None
    moved = False
    try:  # the temporary file goes on every path: moved into place, or removed
        try:
            _write_all(descriptor, data)
            os.fchmod(descriptor, mode)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, target)
        moved = True
    except OSError as exc:  # a full disk, a quota, a target that became a folder
        raise UsageError(f"{where}: cannot write it: {_reason(exc, folder)}") from None
    finally:
        if not moved:
            Path(temporary).unlink(missing_ok=True)
    _sync_folder(folder)
