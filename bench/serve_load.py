"""Load benchmark for ``vram-advisor serve``: concurrent keep-alive clients on ``/metrics`` and ``/check``, then a
slowloris attack against one normal client.

    python bench/serve_load.py [--clients 50] [--requests 10000] [--time-limit 120]
                               [--slowloris 300] [--slowloris-seconds 30] [--json]

Starts a real ``vram-advisor serve`` on 127.0.0.1 (port 0) answering for a fixed machine (``--inventory`` of a
saved 3-GPU node written to a temporary file, so no probe runs and the figures are the agent's own), then runs
``--clients`` closed-loop clients in one asyncio loop: each holds one HTTP/1.1 keep-alive connection and sends its
next request as soon as the previous answer is read, alternating ``/metrics`` and ``/check`` (with and without a
query), until ``--requests`` answers have come back or ``--time-limit`` seconds have passed. Reported: requests
per second, latency p50 / p99 / max, errors (non-200 answers, resets, timeouts, reconnects) and the server's
resident memory (VmRSS) after a warm-up and at the end, plus the issue-13 target check (on the 2-core development
machine: p99 <= 100 ms, max <= 1 s, no errors, RSS flat over 10,000 requests, read as growing by at most 10 MiB).

The slowloris phase (issue 19) follows: ``--slowloris`` connections each send a partial request head
(``GET /inventory HTTP/1.1``, ``Host``, and an unfinished header), then trickle one more byte a second, and connect
again as soon as the server closes them (at its header deadline, ``serve --read-timeout``, 10 s by default), for
``--slowloris-seconds``; meanwhile one normal client sends ``GET /inventory`` on a fresh connection, one after
another, each given ``SLOW_PHASE_REQUEST_TIMEOUT_SECONDS``. Reported: the share of its requests answered 200 and
their latency p50 / p99 / max, and how often the attackers were cut off and reconnected. Target: >= 95% answered
with p99 <= 500 ms.

Loopback only: ``--url`` (an agent already running) must name 127.0.0.1, ::1 or localhost. Exits 0 whatever the
figures unless ``--enforce`` is given (then 1 when the target is missed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
MIB = 2**20
GIB = 2**30
TARGET_P99_SECONDS = 0.100
TARGET_MAX_SECONDS = 1.0
#: "RSS flat": the resident set may grow by at most this much between the warm-up and the end of the run.
TARGET_RSS_GROWTH_BYTES = 10 * MIB
REQUEST_TIMEOUT_SECONDS = 30.0
TARGET_SLOWLORIS_SHARE = 0.95
TARGET_SLOWLORIS_P99_SECONDS = 0.500
#: A request of the normal client during the slowloris phase that takes longer than this counts as unanswered.
SLOW_PHASE_REQUEST_TIMEOUT_SECONDS = 5.0
SLOWLORIS_HEAD = b"GET /inventory HTTP/1.1\r\nHost: {host}\r\nUser-Agent: slowloris\r\nX-Slow: "
START_TIMEOUT_SECONDS = 60.0
WARM_UP_ROUNDS = 2
PATHS = ("/metrics", "/check", "/metrics", "/check?context=128k&require=deepseek-v4-flash:q4")
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def node_inventory() -> dict[str, object]:
    """A fixed 3-GPU node (2 x H100 80GB and an RTX 4090, 512 GiB RAM), as ``probe --json`` writes it."""

    def card(index: int, name: str, total_mib: int, reserved_mib: int) -> dict[str, object]:
        return {
            "index": index,
            "vendor": "nvidia",
            "name": name,
            "memory_total_bytes": total_mib * MIB,
            "memory_reserved_bytes": reserved_mib * MIB,
            "uuid": f"GPU-bench-{index}",
        }

    return {
        "schema": "vram-advisor/inventory/v1",
        "hostname": "bench-node",
        "gpus": [
            card(0, "NVIDIA H100 80GB HBM3", 81559, 480),
            card(1, "NVIDIA H100 80GB HBM3", 81559, 480),
            card(2, "NVIDIA RTX 4090", 24564, 300),
        ],
        "ram": {"total_bytes": 512 * GIB},
    }


@dataclass
class Tally:
    """What the clients saw."""

    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    #: Answers after which the server closed the connection (not an error: the client connects again).
    closed_by_server: int = 0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """One HTTP/1.1 answer: its status and whether the server keeps the connection open."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    await reader.readexactly(int(headers.get("content-length", "0")))
    connection = headers.get("connection", "").lower()
    keep = connection == "keep-alive" if lines[0].startswith("HTTP/1.0") else connection != "close"
    return status, keep


async def client(host: str, port: int, number: int, budget: list[int], deadline: float, tally: Tally) -> None:
    """One keep-alive client: requests until the shared budget or the time is spent; reconnects after an error."""
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    turn = number
    while budget[0] > 0 and time.monotonic() < deadline:
        budget[0] -= 1
        path = PATHS[turn % len(PATHS)]
        turn += 1
        started = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), REQUEST_TIMEOUT_SECONDS)
            assert reader is not None
            request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: serve_load\r\n\r\n"
            writer.write(request.encode("ascii"))
            tally.sent += 1
            status, keep = await asyncio.wait_for(read_answer(reader), REQUEST_TIMEOUT_SECONDS)
        except TimeoutError:
            tally.error("timeout")
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            tally.error(exc.__class__.__name__)
        else:
            tally.latencies.append(time.perf_counter() - started)
            if status != 200:
                tally.error(f"HTTP {status}")
            if keep:
                continue
            tally.closed_by_server += 1
        if writer is not None:
            writer.close()
        reader = writer = None
    if writer is not None:
        writer.close()


async def run_clients(host: str, port: int, clients: int, requests: int, time_limit: float, tally: Tally) -> float:
    budget = [requests]
    started = time.perf_counter()
    deadline = time.monotonic() + time_limit
    await asyncio.gather(*(client(host, port, n, budget, deadline, tally) for n in range(clients)))
    return time.perf_counter() - started


@dataclass
class SlowTally:
    """What the slowloris phase saw."""

    attempts: int = 0
    latencies: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    connections: int = 0
    cut_off: int = 0

    def failure(self, kind: str) -> None:
        self.failures[kind] = self.failures.get(kind, 0) + 1


async def slowloris(host: str, port: int, stop: float, tally: SlowTally) -> None:
    """One attacker: a partial request head, a byte a second, and a new connection whenever the server closes it."""
    head = SLOWLORIS_HEAD.replace(b"{host}", host.encode("ascii"))
    while time.monotonic() < stop:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), REQUEST_TIMEOUT_SECONDS)
        except (OSError, TimeoutError):
            await asyncio.sleep(0.1)
            continue
        tally.connections += 1
        try:
            writer.write(head)
            while time.monotonic() < stop:
                try:
                    if await asyncio.wait_for(reader.read(1024), 1.0) == b"":
                        tally.cut_off += 1
                        break
                except TimeoutError:
                    writer.write(b"a")  # still sending its headers, slowly
        except OSError:
            tally.cut_off += 1
        finally:
            writer.close()


async def normal_client(host: str, port: int, stop: float, tally: SlowTally) -> None:
    """GET /inventory on a fresh connection, one after another, until ``stop``."""
    request = f"GET /inventory HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode("ascii")
    while time.monotonic() < stop:
        tally.attempts += 1
        started = time.perf_counter()
        writer: asyncio.StreamWriter | None = None
        try:

            async def exchange() -> int:
                nonlocal writer
                reader, writer = await asyncio.open_connection(host, port)
                writer.write(request)
                return (await read_answer(reader))[0]

            status = await asyncio.wait_for(exchange(), SLOW_PHASE_REQUEST_TIMEOUT_SECONDS)
        except TimeoutError:
            tally.failure("timeout")
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            tally.failure(exc.__class__.__name__)
        else:
            if status == 200:
                tally.latencies.append(time.perf_counter() - started)
            else:
                tally.failure(f"HTTP {status}")
        finally:
            if writer is not None:
                writer.close()


async def run_slowloris(host: str, port: int, attackers: int, seconds: float, tally: SlowTally) -> None:
    stop = time.monotonic() + seconds
    attack = [asyncio.create_task(slowloris(host, port, stop, tally)) for _ in range(attackers)]
    await asyncio.sleep(min(1.0, seconds / 10))  # let the attackers connect first
    await normal_client(host, port, stop, tally)
    await asyncio.gather(*attack)


def rss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


class Server:
    """``vram-advisor serve`` in a child process on 127.0.0.1, its stderr drained in a thread."""

    def __init__(self, inventory: Path, extra: list[str]) -> None:
        env = dict(os.environ)
        if (SRC / "vram_advisor").is_dir() and not env.get("BENCH_INSTALLED"):
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH", "")) if p)
        command = [sys.executable, "-m", "vram_advisor", "serve", "--host", "127.0.0.1", "--port", "0"]
        command += ["--inventory", str(inventory), "--cache-seconds", "3600", *extra]
        self.child = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr_lines: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()
        self.url = self._wait_for_url()

    def _drain(self) -> None:
        assert self.child.stderr is not None
        for line in self.child.stderr:
            self.stderr_lines.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def _wait_for_url(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            if "serving http://" in line:
                return line.split("serving ", 1)[1].split(" ", 1)[0]
        self.stop()
        raise SystemExit(f"serve_load: the agent did not start; its stderr: {''.join(self.stderr_lines)!r}")

    def stop(self) -> None:
        self.child.terminate()
        try:
            self.child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait(timeout=10)


def loopback_address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host not in LOOPBACK_HOSTS or parts.port is None:
        raise SystemExit(f"serve_load: --url {url!r}: only a loopback agent with a port (127.0.0.1, ::1, localhost)")
    return host, parts.port


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=50, help="concurrent keep-alive clients (default 50)")
    parser.add_argument("--requests", type=int, default=10_000, help="answers to collect (default 10,000)")
    parser.add_argument("--time-limit", type=float, default=120.0, help="stop after this many seconds (default 120)")
    parser.add_argument("--url", help="an agent already running on loopback (default: start one)")
    parser.add_argument("--serve-arg", action="append", default=[], help="extra argument for serve (repeatable)")
    parser.add_argument("--slowloris", type=int, default=300, help="slowloris connections (default 300; 0: no phase)")
    parser.add_argument("--slowloris-seconds", type=float, default=30.0, help="slowloris phase length (default 30 s)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--enforce", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args()
    if not 1 <= args.clients <= 1000 or not 1 <= args.requests <= 1_000_000 or not 0 < args.time_limit <= 3600:
        parser.error("--clients 1..1000, --requests 1..1,000,000, --time-limit 0..3600 s")
    if not 0 <= args.slowloris <= 5000 or not 0 < args.slowloris_seconds <= 3600:
        parser.error("--slowloris 0..5000, --slowloris-seconds 0..3600 s")

    server: Server | None = None
    with tempfile.TemporaryDirectory(prefix="serve-load-") as folder:
        if args.url:
            host, port = loopback_address(args.url)
            pid = None
        else:
            inventory = Path(folder) / "node.json"
            inventory.write_text(json.dumps(node_inventory()))
            server = Server(inventory, args.serve_arg)
            host, port = loopback_address(server.url)
            pid = server.child.pid
        try:
            warm = Tally()
            asyncio.run(run_clients(host, port, args.clients, args.clients * WARM_UP_ROUNDS, 60.0, warm))
            rss_before = rss_bytes(pid) if pid else None
            tally = Tally()
            elapsed = asyncio.run(run_clients(host, port, args.clients, args.requests, args.time_limit, tally))
            rss_after = rss_bytes(pid) if pid else None
            slow = SlowTally()
            if args.slowloris:
                asyncio.run(run_slowloris(host, port, args.slowloris, args.slowloris_seconds, slow))
        finally:
            if server is not None:
                server.stop()
    latencies = sorted(tally.latencies)
    errors = sum(tally.errors.values())
    figures = {
        "clients": args.clients,
        "answers": len(latencies),
        "seconds": round(elapsed, 3),
        "requests_per_second": round(len(latencies) / elapsed, 1) if elapsed else None,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(max(latencies, default=float("nan")) * 1000, 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2) if latencies else None,
        "errors": errors,
        "error_kinds": tally.errors,
        "closed_by_server": tally.closed_by_server,
        "warm_up_errors": sum(warm.errors.values()),
        "rss_before_bytes": rss_before,
        "rss_after_bytes": rss_after,
        "server_stderr_lines": len(server.stderr_lines) if server else None,
    }
    growth = None if rss_before is None or rss_after is None else rss_after - rss_before
    met = (
        len(latencies) >= args.requests
        and percentile(latencies, 0.99) <= TARGET_P99_SECONDS
        and max(latencies, default=float("inf")) <= TARGET_MAX_SECONDS
        and errors == 0
        and (growth is None or growth <= TARGET_RSS_GROWTH_BYTES)
    )
    figures["target_met"] = met
    if args.slowloris:
        slow_latencies = sorted(slow.latencies)
        share = len(slow_latencies) / slow.attempts if slow.attempts else 0.0
        slow_met = share >= TARGET_SLOWLORIS_SHARE and percentile(slow_latencies, 0.99) <= TARGET_SLOWLORIS_P99_SECONDS
        figures["slowloris"] = {
            "attackers": args.slowloris,
            "seconds": args.slowloris_seconds,
            "attacker_connections": slow.connections,
            "attackers_cut_off": slow.cut_off,
            "attempts": slow.attempts,
            "answered": len(slow_latencies),
            "answered_share": round(share, 4),
            "p50_ms": round(percentile(slow_latencies, 0.50) * 1000, 2),
            "p99_ms": round(percentile(slow_latencies, 0.99) * 1000, 2),
            "max_ms": round(max(slow_latencies, default=float("nan")) * 1000, 2),
            "failures": slow.failures,
            "target_met": slow_met,
        }
        met = met and slow_met
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        mib = lambda value: "?" if value is None else f"{value / MIB:.1f} MiB"  # noqa: E731
        print(
            f"{args.clients} keep-alive clients, {len(latencies)} answers in {elapsed:.2f} s: "
            f"{figures['requests_per_second']} req/s"
        )
        print(f"latency p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, max {figures['max_ms']} ms")
        print(f"errors {errors} {tally.errors or ''}; connections closed by the server {tally.closed_by_server}")
        print(f"server RSS {mib(rss_before)} -> {mib(rss_after)}")
        print(
            f"target (p99 <= 100 ms, max <= 1 s, no errors, RSS flat): {'met' if figures['target_met'] else 'MISSED'}"
        )
        if args.slowloris:
            slow_figures = figures["slowloris"]
            assert isinstance(slow_figures, dict)
            print(
                f"slowloris: {args.slowloris} half-open connections for {args.slowloris_seconds:g} s "
                f"({slow_figures['attacker_connections']} opened, {slow_figures['attackers_cut_off']} cut off by the "
                f"header deadline); normal client: {slow_figures['answered']} of {slow_figures['attempts']} answered "
                f"({slow_figures['answered_share']:.1%}), p50 {slow_figures['p50_ms']} ms, p99 {slow_figures['p99_ms']} "
                f"ms, max {slow_figures['max_ms']} ms {slow_figures['failures'] or ''}"
            )
            print(f"target (>= 95% answered, p99 <= 500 ms): {'met' if slow_figures['target_met'] else 'MISSED'}")
    return 1 if args.enforce and not met else 0


if __name__ == "__main__":
    sys.exit(main())
