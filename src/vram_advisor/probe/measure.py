"""``probe --measure``: system RAM's copy bandwidth, measured here in about a second, and the disk's sequential read
(``diskread``) where that is cheap and honest.

RAM: every thread copies its own pair of buffers (a source and a destination, each ``buffer_bytes``: all of them
together a 16th of the available memory, 256 MiB to 4 GiB, see ``plan_ram``) with ``ctypes.memmove``, which
releases the GIL, so the threads copy in parallel as a C program's would. Each thread
allocates and first touches its own buffers (anonymous ``mmap``: the pages land on its NUMA node, and the source is
written so that reads do not come from the kernel's shared zero page), then copies once to warm up. A timed round
releases every thread at once, each does ``copies`` copies, and the round ends when the last one is done; the first
round (one copy each) sizes the next ones to about ``ROUND_S``, and rounds go on while they fit in ``BUDGET_S``. The
figure is the best round's bytes read plus bytes written per second: the STREAM "copy" convention
(https://www.cs.virginia.edu/stream/ref.html), the one llmfit's measurement uses (AlexsJones/llmfit
``llmfit-core/src/hardware.rs``, ``measure_ram_bandwidth_gbps``: up to 8 threads x 2 x 32 MiB for 80 ms, 2 to
4000 GB/s held plausible). Below 2 GB/s the machine was starved (a throttled VM, heavy contention); above 4000 GB/s
the copies hit a cache: either is refused rather than recorded.

What "cannot run" means (``MeasureError``, one line, exit 2): the memory free for the buffers is unknown (on Linux,
``/proc/meminfo`` is not readable: a container without /proc), or too small for them (a quarter of what is
available at most); the buffers cannot be allocated; a copy fails; no round completes; the figure is implausible.
The seams (``copy``, ``clock``) let tests run the real arithmetic on a fake memory.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vram_advisor.core import units
from vram_advisor.core.errors import VramAdvisorError
from vram_advisor.inventory.model import BandwidthReading, Inventory

#: The most threads the RAM measurement starts (one per usable CPU up to this; llmfit stops at 8, a 12-channel
#: server needs more cores than that to saturate its memory).
MAX_THREADS = 16
#: Each thread's source and destination buffer at least (llmfit's 32 MiB): far above any core's L2 cache.
BUFFER_BYTES = 32 * units.MIB
#: All buffers together: a 16th of the available memory, within these bounds, so that each thread's copy is one
#: large ``memmove`` as a plain large copy is. glibc copies with non-temporal stores above a threshold tied to the
#: last-level cache (``non_temporal_threshold``, sysdeps/x86/dl-cacheinfo.h; glibc commit d3c57027: it "determines
#: when memcpy on x86 uses non_temporal stores"); below it every destination line is read before it is written, and
#: the figure comes out a third or more low.
MIN_WORKING_SET_BYTES = 256 * units.MIB
MAX_WORKING_SET_BYTES = 4 * units.GIB
WORKING_SET_SHARE = 16
#: No buffer smaller than this (a machine short of memory gets smaller buffers down to here, then a refusal).
MIN_BUFFER_BYTES = 8 * units.MIB
#: The buffers may take at most this share of the available memory.
AVAILABLE_SHARE = 4
#: The time the RAM measurement may take, allocation and warm-up included (the issue asks for under 2 s).
BUDGET_S = 1.5
#: The length a timed round aims at, and the most timed rounds.
ROUND_S = 0.08
MAX_ROUNDS = 6
#: The most copies one thread makes in one round.
MAX_COPIES = 256
#: Figures outside this range (bytes per second) are refused: a starved machine below, a cache above (llmfit's).
PLAUSIBLE_BYTES_PER_S = (2 * units.GB_DECIMAL, 4000 * units.GB_DECIMAL)
#: A thread that does not reach the next step within this long is taken as stuck.
STUCK_S = 30.0
METHOD = "memmove copy, bytes read + written"

Copy = Callable[[int, int, int], Any]
Clock = Callable[[], float]
#: The seams tests replace: the copy (None: ``ctypes.memmove``) and the clock ``probe --measure`` uses.
COPY: Copy | None = None
CLOCK: Clock = time.perf_counter


class MeasureError(VramAdvisorError):
    """``probe --measure`` cannot run here, or its measurement failed (exit 2)."""


@dataclass(frozen=True)
class RamPlan:
    """How the RAM measurement runs: threads and each one's buffer size."""

    threads: int
    buffer_bytes: int


def plan_ram(usable_cpus: float | None, available_bytes: int | None, where: str) -> RamPlan:
    """Threads and buffer size for this machine: a thread per usable CPU (``MAX_THREADS`` at most), all buffers
    together a ``WORKING_SET_SHARE``th of the available memory (within ``MIN_WORKING_SET_BYTES`` and
    ``MAX_WORKING_SET_BYTES``), each at least ``BUFFER_BYTES`` while memory allows (a ``AVAILABLE_SHARE``th of it
    at most); ``MeasureError`` when the available memory is unknown (``where`` says why) or too small."""
    if available_bytes is None:
        raise MeasureError(f"probe --measure cannot run here: {where}")
    threads = max(1, min(MAX_THREADS, int(usable_cpus or 1)))
    working_set = min(MAX_WORKING_SET_BYTES, max(MIN_WORKING_SET_BYTES, available_bytes // WORKING_SET_SHARE))
    size = max(BUFFER_BYTES, -(-working_set // (2 * threads)))
    allowed = available_bytes // AVAILABLE_SHARE
    if 2 * threads * size > allowed:
        size = allowed // (2 * threads)
    if size < MIN_BUFFER_BYTES:
        raise MeasureError(
            f"probe --measure cannot run here: {units.format_gib(available_bytes)} of memory is available, and the "
            f"measurement takes at most a {AVAILABLE_SHARE}th of it for {threads} x 2 buffers of at least "
            f"{MIN_BUFFER_BYTES // units.MIB} MiB"
        )
    return RamPlan(threads=threads, buffer_bytes=size // 4096 * 4096)


def _memmove() -> Copy:
    import ctypes  # only when measuring

    memmove: Copy = ctypes.memmove
    return memmove


def _anonymous(size: int) -> Any:
    """An anonymous memory map of ``size`` bytes; on Linux populated by the kernel at once (``MAP_POPULATE``: faster
    than a fault per page, and by this thread, so on its NUMA node)."""
    import mmap

    if sys.platform == "win32":
        return mmap.mmap(-1, size)
    flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_POPULATE", 0)
    return mmap.mmap(-1, size, flags=flags)


class _Worker:
    """One thread's buffers and loop: allocate, touch, warm up, then ``copies`` copies per round until told 0."""

    def __init__(self, size: int, copy: Copy, start: threading.Barrier, done: threading.Barrier) -> None:
        self.size = size
        self.copy = copy
        self.start = start
        self.done = done
        self.error: BaseException | None = None

    def run(self, shared: list[int]) -> None:
        import ctypes

        buffers: list[Any] = []
        try:
            try:
                source = _anonymous(self.size)
                buffers.append(source)
                target = _anonymous(self.size)
                buffers.append(target)
                views = [ctypes.c_char.from_buffer(source), ctypes.c_char.from_buffer(target)]
                src, dst = (ctypes.addressof(view) for view in views)
                ctypes.memset(src, 0x5A, self.size)  # first touch: the pages are this thread's, never the zero page
                self.copy(dst, src, self.size)  # warm-up: faults the destination in
                del views
            except BaseException as exc:  # a failed allocation or copy is reported by the main thread
                self.error = exc
                src = dst = 0
            self.start.wait(STUCK_S)  # ready (or failed): the first round waits for every thread
            while True:
                self.start.wait(STUCK_S)
                copies = shared[0]
                if copies == 0:  # the main thread is done
                    return
                if self.error is None:
                    try:
                        for _ in range(copies):
                            self.copy(dst, src, self.size)
                    except BaseException as exc:
                        self.error = exc
                self.done.wait(STUCK_S)
        except threading.BrokenBarrierError:
            return
        finally:
            for buffer in buffers:
                with contextlib.suppress(BufferError):  # a view still holds it (a failure mid-way): freed later
                    buffer.close()


def measure_ram(
    plan: RamPlan,
    *,
    copy: Copy | None = None,
    clock: Clock = time.perf_counter,
    budget_s: float = BUDGET_S,
) -> BandwidthReading:
    """Measure RAM copy bandwidth as ``plan`` says (see the module's docstring); ``MeasureError`` when it fails."""
    copy = copy or _memmove()
    began = clock()
    threads = plan.threads
    start, done = threading.Barrier(threads + 1), threading.Barrier(threads + 1)
    shared = [0]
    workers = [_Worker(plan.buffer_bytes, copy, start, done) for _ in range(threads)]
    running = [
        threading.Thread(target=w.run, args=(shared,), name=f"measure-{i}", daemon=True) for i, w in enumerate(workers)
    ]
    for thread in running:
        thread.start()
    rounds: list[tuple[int, float]] = []  # (copies per thread, seconds)
    try:
        start.wait(STUCK_S)  # every thread has allocated and warmed up (or failed)
        _raise_failed(workers, "allocating or warming up its buffers")
        copies = 1
        while len(rounds) < MAX_ROUNDS:
            shared[0] = copies
            t0 = clock()  # before the release: no copy of this round can have begun (a few microseconds more)
            start.wait(STUCK_S)
            done.wait(STUCK_S)
            seconds = clock() - t0
            _raise_failed(workers, "copying")
            rounds.append((copies, seconds))
            per_copy = max(seconds, 1e-9) / copies
            copies = max(1, min(MAX_COPIES, round(ROUND_S / per_copy)))
            if clock() + copies * per_copy > began + budget_s:
                break
    except threading.BrokenBarrierError:
        raise MeasureError(f"probe --measure: a copying thread did not finish within {STUCK_S:.0f} s") from None
    finally:
        shared[0] = 0
        if not start.broken:
            with contextlib.suppress(threading.BrokenBarrierError):
                start.wait(STUCK_S)
        for thread in running:
            thread.join(STUCK_S)
    elapsed = clock() - began
    return _reading(plan, rounds, elapsed)


def _raise_failed(workers: list[_Worker], doing: str) -> None:
    failed = next((w.error for w in workers if w.error is not None), None)
    if failed is not None:
        from vram_advisor.probe.trace import describe_error

        raise MeasureError(f"probe --measure: a thread failed {doing} ({describe_error(failed)})")


def _reading(plan: RamPlan, rounds: list[tuple[int, float]], elapsed: float) -> BandwidthReading:
    """The best round as a reading; ``MeasureError`` when no round completed or the figure is implausible."""
    timed = [(copies, seconds) for copies, seconds in rounds if seconds > 0]
    if not timed:
        raise MeasureError("probe --measure: no timed round completed (the clock did not advance)")
    per_round = [(2 * plan.threads * copies * plan.buffer_bytes, seconds) for copies, seconds in timed]
    moved, seconds = max(per_round, key=lambda round_: round_[0] / round_[1])
    rate = int(moved / seconds)
    low, high = PLAUSIBLE_BYTES_PER_S
    if not low <= rate <= high:
        raise MeasureError(
            f"probe --measure: measured {units.format_bandwidth(rate)} of RAM copy bandwidth, outside the plausible "
            f"{low / units.GB_DECIMAL:g} to {high / units.GB_DECIMAL:g} GB/s (a starved or throttled machine below, "
            "a cache above): not recorded"
        )
    return BandwidthReading(
        bytes_per_s=rate,
        measured=True,
        method=METHOD,
        threads=plan.threads,
        bytes=moved,
        seconds=round(seconds, 6),
        rounds=len(timed),
        elapsed_seconds=round(elapsed, 3),
    )


def measure_inventory(
    inventory: Inventory,
    model_dir: str | None,
    *,
    root: Path,
    platform: str,
    copy: Copy | None = None,
    clock: Clock | None = None,
) -> Inventory:
    """``inventory`` with RAM's measured copy bandwidth and, where it could be read, the model dir disk's
    sequential read (else a note why not). ``MeasureError`` when RAM cannot be measured here."""
    where = "the memory available for the measurement is unknown"
    available = inventory.ram.available_bytes
    if platform.startswith("linux") and not (root / "proc" / "meminfo").is_file():
        available = None
        where = (
            f"{root / 'proc' / 'meminfo'} is not readable (a container without /proc?), so the memory free for the "
            "measurement's buffers is unknown"
        )
    cpu = inventory.cpu
    plan = plan_ram(cpu.usable_count if cpu is not None else None, available, where)
    ram = inventory.ram.replace(bandwidth=measure_ram(plan, copy=copy or COPY, clock=clock or CLOCK))
    from vram_advisor.probe import diskread

    disks = inventory.disks
    home = next((i for i, disk in enumerate(disks) if disk.model_dir), None)
    reading, note = diskread.measure_read(disks[home].path if home is not None else model_dir)
    if reading is not None and home is not None:
        disks = (*disks[:home], disks[home].replace(read_bandwidth=reading), *disks[home + 1 :])
    elif reading is not None:
        note = "disk read bandwidth not measured: no disk of the inventory holds the model dir"
    notes = (*inventory.notes, note) if note else inventory.notes
    return inventory.replace(ram=ram, disks=disks, notes=notes)


__all__ = ["BUDGET_S", "MeasureError", "RamPlan", "measure_inventory", "measure_ram", "plan_ram"]
