"""``probe --measure``'s RAM figure against a plain copy timed directly on the same machine, and its time.

    python bench/measure_bandwidth.py [--runs 3] [--size-mib 1024]

The plain copy: one source and one destination buffer of ``--size-mib`` each, split into one slice per usable CPU,
every slice copied by its own thread with ``ctypes.memmove`` (which releases the GIL), one pass, timed from the
start of the first thread to the end of the last; warmed up once, the best of five passes. Counted as
``probe --measure`` counts: bytes read plus bytes written (the STREAM "copy" convention). It shares no code with the
probe's measurement (per-thread buffers, rounds sized to 80 ms).

``probe --measure --json`` runs ``--runs`` times as a command (interleaved with the plain copy, as the machine's
load changes): its figure is the inventory's ``ram.bandwidth.bytes_per_s``, its time the command's wall time (start
and probe included) and the measurement's own ``elapsed_seconds``.

Target (issue 21): the median figure within 30% of the plain copy's median, the command under 3 s. Prints a table;
exits 0 whatever the figures (machines are noisy; no test asserts a time).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import mmap
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

MIB = 1024**2


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def plain_copy(size: int, threads: int, passes: int = 5) -> float:
    """Bytes read + written per second of the best pass of one large copy split over ``threads`` threads."""
    source, target = mmap.mmap(-1, size), mmap.mmap(-1, size)
    views = [ctypes.c_char.from_buffer(source), ctypes.c_char.from_buffer(target)]
    src, dst = (ctypes.addressof(view) for view in views)
    slice_ = size // threads // 4096 * 4096

    def one_pass() -> float:
        def work(i: int) -> None:
            ctypes.memmove(dst + i * slice_, src + i * slice_, slice_)

        workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        began = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return time.perf_counter() - began

    ctypes.memset(src, 0x5A, size)
    one_pass()  # warm-up: faults the destination in
    best = min(one_pass() for _ in range(passes))
    del views
    source.close()
    target.close()
    return 2 * slice_ * threads / best


def probe_measure(env: dict[str, str]) -> tuple[float, float, float, int]:
    """One ``probe --measure --json``: its figure, its wall time, the measurement's own time, its threads."""
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "vram_advisor", "probe", "--measure", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    wall = time.perf_counter() - began
    if done.returncode != 0:
        sys.exit(f"probe --measure failed ({done.returncode}): {done.stderr.strip()}")
    reading = json.loads(done.stdout)["ram"]["bandwidth"]
    return float(reading["bytes_per_s"]), wall, float(reading["elapsed_seconds"]), int(reading["threads"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size-mib", type=int, default=1024, help="each of the plain copy's two buffers")
    args = parser.parse_args()
    env = dict(os.environ)
    src = Path(__file__).resolve().parent.parent / "src"
    if (src / "vram_advisor").is_dir():
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH", "")]))
    threads = usable_cpus()
    plain: list[float] = []
    probed: list[tuple[float, float, float, int]] = []
    for _ in range(args.runs):
        plain.append(plain_copy(args.size_mib * MIB, threads))
        probed.append(probe_measure(env))
    gb = 1e9
    print(f"machine: {usable_cpus()} usable CPUs, {os.cpu_count()} logical; plain copy {args.size_mib} MiB x 2")
    print(
        f"{'run':>4} {'plain copy GB/s':>16} {'probe --measure GB/s':>21} {'ratio':>6} {'wall s':>7} {'measure s':>10}"
    )
    for run, (copy, (rate, wall, elapsed, _threads)) in enumerate(zip(plain, probed, strict=True), start=1):
        print(f"{run:>4} {copy / gb:>16.1f} {rate / gb:>21.1f} {rate / copy:>6.2f} {wall:>7.2f} {elapsed:>10.2f}")
    plain_median = statistics.median(plain)
    probe_median = statistics.median(rate for rate, *_ in probed)
    ratio = probe_median / plain_median
    slowest = max(wall for _, wall, _, _ in probed)
    print(
        f"median: plain copy {plain_median / gb:.1f} GB/s ({threads} threads), probe --measure "
        f"{probe_median / gb:.1f} GB/s ({probed[0][3]} threads): ratio {ratio:.2f}; slowest probe --measure {slowest:.2f} s"
    )
    within = abs(ratio - 1) <= 0.30
    print(
        f"target (issue 21): within 30% of the plain copy: {'met' if within else 'MISSED'}; under 3 s: "
        f"{'met' if slowest < 3 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
