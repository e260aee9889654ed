"""How ``cluster -`` copes with a stream of garbage: 1 GB (by default) of junk lines, and 1 GB of ``{`` lines.

Two figures for each input:

* ``cli``: the real command, ``vram-advisor cluster -``, fed SIZE bytes through a pipe by this script: how long until
  it ends, its exit code, how many bytes it took before it stopped, its stderr line. It must end within seconds with
  exit 2 (the garbage budget), whatever SIZE is.
* ``reader``: the stream reader alone (``fleet.inputs.stream_inputs``, the garbage budget switched off) over
  READER_SIZE bytes and over half of that: MB/s and the ratio of the two times (about 2.0 when linear).

Usage: ``python bench/stream_garbage.py [SIZE] [--reader-size SIZE]`` with sizes like ``1G``, ``64M`` (defaults 1G and
4M; the reader decodes one line at a time, so a full 1 GB of two-byte ``{`` lines is half a billion lines: give
``--reader-size 1G`` to measure it anyway).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from vram_advisor.fleet.inputs import GarbageBudget, NodeInput, stream_inputs  # noqa: E402

BLOCK = 1024 * 1024


def size_of(text: str) -> int:
    units = {"K": 1024, "M": 1024**2, "G": 1024**3}
    text = text.strip().upper().removesuffix("B")
    return int(float(text[:-1]) * units[text[-1]]) if text[-1:] in units else int(text)


def junk_block() -> bytes:
    """1 MiB of lines that are not inventories: log text, random bytes (not UTF-8), broken JSON, arrays."""
    rng = random.Random(13)
    kinds = [
        lambda: b"srun: error: node-%d: task %d: Exited with exit code 1" % (rng.randrange(999), rng.randrange(64)),
        lambda: bytes(rng.randrange(256) for _ in range(rng.randrange(20, 200))).replace(b"\n", b" "),
        lambda: b'{"schema": "vram-advisor/inventory/v1", "gpus": [' + b"x" * rng.randrange(50),
        lambda: b"[1, 2, 3]",
        lambda: b"}" * rng.randrange(1, 30),
    ]
    out = bytearray()
    while len(out) < BLOCK:
        out += rng.choice(kinds)() + b"\n"
    return bytes(out[:BLOCK])


def brace_block() -> bytes:
    return b"{\n" * (BLOCK // 2)


def blocks(block: bytes, size: int) -> Iterator[bytes]:
    sent = 0
    while sent < size:
        part = block[: min(len(block), size - sent)]
        yield part
        sent += len(part)


def run_cli(block: bytes, size: int) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), VRAM_ADVISOR_WORKERS="0")
    command = [sys.executable, "-m", "vram_advisor", "cluster", "-"]
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    fed = [0]

    def feed() -> None:
        assert proc.stdin is not None
        try:
            for part in blocks(block, size):
                proc.stdin.write(part)
                fed[0] += len(part)
            proc.stdin.close()
        except (BrokenPipeError, OSError, ValueError):  # a closed pipe (communicate closes it when done)
            pass  # it stopped reading: what the budget is for

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    _out, err = proc.communicate()
    seconds = time.perf_counter() - start
    lines = err.decode("utf-8", "replace").strip().splitlines()
    return {
        "seconds": round(seconds, 2),
        "exit": proc.returncode,
        "fed_mb": round(fed[0] / 1e6, 1),
        "stderr_lines": len(lines),
        "stderr_last": lines[-1][:160] if lines else "",
    }


def reader_seconds(block: bytes, size: int) -> tuple[float, int]:
    """Seconds the reader takes over ``size`` bytes (budget off), and the records it produced."""

    class Stream(io.RawIOBase):
        def __init__(self) -> None:
            self.parts = blocks(block, size)

        def read(self, n: int = -1) -> bytes:
            return next(self.parts, b"")

    start = time.perf_counter()
    count = 0
    nodes = 0
    for item in stream_inputs(Stream(), "<bench>", budget=GarbageBudget.unlimited()):
        count += 1
        nodes += isinstance(item, NodeInput)
    assert nodes == 0
    return time.perf_counter() - start, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("size", nargs="?", default="1G")
    parser.add_argument("--reader-size", default="4M")
    args = parser.parse_args()
    size, reader_size = size_of(args.size), size_of(args.reader_size)
    for name, block in (("junk lines", junk_block()), ("'{' lines", brace_block())):
        cli = run_cli(block, size)
        print(f"{name}: cli over {size / 1e9:.2f} GB offered: {cli}")
        half, _ = reader_seconds(block, reader_size // 2)
        full, records = reader_seconds(block, reader_size)
        print(
            f"{name}: reader {reader_size / 1e6:.0f} MB in {full:.2f} s ({reader_size / 1e6 / full:.1f} MB/s, "
            f"{records} records), half the size in {half:.2f} s (ratio {full / half:.2f}; 2.0 is linear); "
            f"1 GB at this rate: {1e9 / (reader_size / full):.0f} s"
        )


if __name__ == "__main__":
    main()
