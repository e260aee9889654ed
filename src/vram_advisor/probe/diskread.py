"""``probe --measure``'s disk part: the sequential read of the disk under the model dir, where it is cheap and honest.

It reads the largest file already under the model dir (a model's weights; nothing is written) from its start, in
``BLOCK_BYTES`` blocks with ``O_DIRECT``, for at most ``READ_BYTES`` or ``BUDGET_S``: ``O_DIRECT`` bypasses the page
cache (open(2): "file I/O is done directly to/from user-space buffers", https://man7.org/linux/man-pages/man2/open.2.html),
so a file read yesterday is read from the disk again, and no other program's cached pages are dropped (as
``posix_fadvise(DONTNEED)`` would). It is skipped, with a note saying why, where that cannot be done: not Linux, no
model dir, no file of ``MIN_FILE_BYTES`` there on the same filesystem, a filesystem that refuses ``O_DIRECT``
(tmpfs, some network and FUSE filesystems), or a read that failed. A figure above ``CACHE_BYTES_PER_S`` came from a
cache (ZFS's ARC serves ``O_DIRECT`` reads from memory before OpenZFS 2.3): it is dropped with a note. A disk that
could not be measured never stops the probe.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable

from vram_advisor.core import units
from vram_advisor.inventory.model import BandwidthReading

#: The read size of one request (dd's ``bs=8M``): the kernel splits it into the device's largest requests.
BLOCK_BYTES = 8 * units.MIB
#: Read at most this much, and for at most this long.
READ_BYTES = 1 * units.GIB
BUDGET_S = 0.5
#: The smallest file worth reading, and the least a reading must cover to be recorded.
MIN_FILE_BYTES = 64 * units.MIB
MIN_READ_BYTES = 16 * units.MIB
#: No disk reads faster than this sequentially (PCIe 5.0 x16 is 63 GB/s): a faster figure is a cache's.
CACHE_BYTES_PER_S = 64 * units.GB_DECIMAL
#: How many entries of the model dir are looked at, and how deep, to find a file to read.
MAX_ENTRIES = 5000
MAX_DEPTH = 6
METHOD = f"O_DIRECT sequential read, {BLOCK_BYTES // units.MIB} MiB blocks, one thread"

Clock = Callable[[], float]


def largest_file(model_dir: str) -> tuple[str, int] | None:
    """The largest regular file under ``model_dir`` on its filesystem (links to files followed: the Hugging Face
    cache links snapshots to blobs), looking at ``MAX_ENTRIES`` entries at most; None when none is found."""
    try:
        device = os.stat(model_dir).st_dev
    except OSError:
        return None
    best: tuple[str, int] | None = None
    seen = 0
    pending = [(model_dir, 0)]
    while pending and seen < MAX_ENTRIES:
        folder, depth = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            seen += 1
            try:
                if entry.is_dir(follow_symlinks=False):
                    if depth < MAX_DEPTH:
                        pending.append((entry.path, depth + 1))
                    continue
                info = entry.stat()  # follows a link to its file
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode) and info.st_dev == device and (best is None or info.st_size > best[1]):
                best = (entry.path, info.st_size)
    return best


def measure_read(
    model_dir: str | None, *, clock: Clock = time.perf_counter, budget_s: float = BUDGET_S
) -> tuple[BandwidthReading | None, str | None]:
    """The sequential read bandwidth under ``model_dir``, or None and a note saying why it was not measured."""
    skipped = "disk read bandwidth not measured"
    direct = getattr(os, "O_DIRECT", None)
    if direct is None:
        return None, f"{skipped}: reading past the page cache (O_DIRECT) is Linux's"
    if not model_dir or not os.path.isdir(model_dir):
        return None, f"{skipped}: the model dir {model_dir or '(none)'} does not exist"
    found = largest_file(model_dir)
    if found is None or found[1] < MIN_FILE_BYTES:
        return None, (
            f"{skipped}: no file of {MIN_FILE_BYTES // units.MIB} MiB or more under {model_dir} to read (it reads an "
            "existing file, never writes one)"
        )
    path, _size = found
    try:
        moved, seconds = _read(path, direct, clock, budget_s)
    except OSError as exc:
        from vram_advisor.probe.trace import describe_error

        return None, f"{skipped}: {path} could not be read past the page cache ({describe_error(exc)})"
    if moved < MIN_READ_BYTES or seconds <= 0:
        return None, f"{skipped}: only {moved // units.MIB} MiB of {path} could be read in {budget_s} s"
    rate = int(moved / seconds)
    if rate > CACHE_BYTES_PER_S:
        return None, (
            f"{skipped}: reading {path} ran at {units.format_bandwidth(rate)}, faster than a disk: a cache answered "
            "(e.g. ZFS's ARC)"
        )
    reading = BandwidthReading(
        bytes_per_s=rate,
        measured=True,
        method=METHOD,
        threads=1,
        bytes=moved,
        seconds=round(seconds, 6),
        rounds=1,
        elapsed_seconds=round(seconds, 3),
        path=path,
    )
    return reading, None


def _read(path: str, direct: int, clock: Clock, budget_s: float) -> tuple[int, float]:
    """Bytes read from the start of ``path`` with ``O_DIRECT`` and the seconds they took."""
    import mmap

    fd = os.open(path, os.O_RDONLY | direct)
    buffer = mmap.mmap(-1, BLOCK_BYTES)  # page-aligned, as O_DIRECT needs
    moved = 0
    try:
        began = clock()
        while moved < READ_BYTES:
            count = os.readv(fd, [buffer])
            moved += count
            if count < BLOCK_BYTES or clock() - began >= budget_s:
                break
        return moved, clock() - began
    finally:
        buffer.close()
        os.close(fd)


__all__ = ["measure_read"]
