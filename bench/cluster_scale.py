"""Scale benchmark for ``vram-advisor cluster``: N node inventories (default 100,000) piped through ``cluster -``.

    python bench/cluster_scale.py [--nodes 100000] [--runs 3]

The input is what ``probe --json`` prints on each node into a pipe (every inventory field, nulls included): a fleet of
twelve hardware classes (8 x H100, H200, A100, B200; 4 and 2 x H100; 4 x L40S; 1 and 2 x RTX 4090; 3 x RTX 3090;
L4; A10), free memory and available RAM different on every node, and a few lines of srun noise that must be reported
and skipped. Two fleets: a few RAM sizes per class (firmware and kernels make MemTotal differ between otherwise
identical servers), and every node's RAM different (no two nodes alike: the worst case for a plan cache, the case
issue 22 sets the targets for). Reported: the wall time of the whole command (interpreter start, reading, planning,
writing the output), median of the runs; and peak memory (max RSS) at N/10 and N nodes. Targets (issue 22), on the
2-core development machine: N = 100,000 nodes, none alike, through ``cluster - --json`` in at most 10 s and 512 MiB
of peak RSS, and 20,000 in at most 3 s. Exits 0 whatever the figures (machines are noisy).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
if (SRC / "vram_advisor").is_dir() and not os.environ.get("BENCH_INSTALLED"):
    sys.path.insert(0, str(SRC))

from vram_advisor.inventory import model as inv  # noqa: E402

MIB = 2**20
GIB = 2**30
#: (GPU name, NVML total MiB, reserved MiB, GPUs per node, share of the fleet, RAM sizes in GiB, bus width, clock)
CLASSES = (
    ("NVIDIA H100 80GB HBM3", 81559, 480, 8, 0.30, (2015, 2016, 2014, 1007), 5120, 2619),
    ("NVIDIA H200", 143771, 512, 8, 0.10, (2015, 2016, 3023), 6144, 3201),
    ("NVIDIA L40S", 46068, 609, 4, 0.08, (503, 504), 384, 9001),
    ("NVIDIA GeForce RTX 4090", 24564, 300, 1, 0.08, (125, 126, 62), 384, 10501),
    ("NVIDIA H100 80GB HBM3", 81559, 480, 4, 0.08, (1007, 1008, 503), 5120, 2619),
    ("NVIDIA A100-SXM4-80GB", 81920, 512, 8, 0.08, (1007, 2015), 5120, 1593),
    ("NVIDIA B200", 183359, 560, 8, 0.05, (2015, 4031), 8192, 3996),
    ("NVIDIA GeForce RTX 3090", 24576, 300, 3, 0.05, (125, 251), 384, 9751),
    ("NVIDIA GeForce RTX 4090", 24564, 300, 2, 0.05, (188, 251), 384, 10501),
    ("NVIDIA L4", 23034, 300, 1, 0.04, (62, 125), 192, 6251),
    ("NVIDIA A10", 23028, 300, 1, 0.04, (62, 125), 384, 6251),
    ("NVIDIA H100 80GB HBM3", 81559, 480, 2, 0.05, (503, 1007), 5120, 2619),
)


def node_inventory(number: int, rng: random.Random, distinct_ram: bool) -> inv.Inventory:
    pick = rng.random()
    for name, total_mib, reserved_mib, count, share, rams, bus, clock in CLASSES:  # noqa: B007
        pick -= share
        if pick <= 0:
            break
    ram_total = rng.choice(rams) * GIB + (number * 4096 if distinct_ram else 0)
    gpus = tuple(
        inv.Gpu(
            index=i,
            vendor="nvidia",
            name=name,
            uuid=f"GPU-{number:08x}-{i:04x}-4b1f-9c2e-{rng.getrandbits(48):012x}",
            memory_total_bytes=total_mib * MIB,
            memory_reserved_bytes=reserved_mib * MIB,
            memory_free_bytes=(total_mib - reserved_mib - rng.randrange(0, 2048)) * MIB,
            pci_bus_id=f"00000000:{0x18 + 0x10 * i:02X}:00.0",
            compute_capability="9.0",
            memory_bus_width_bits=bus,
            memory_clock_max_mhz=clock,
            memory_bandwidth_bytes_per_s=bus // 8 * clock * 2 * 10**6,
            pcie_generation=5,
            pcie_width=16,
            nvlink=count > 1,
            mig_enabled=False,
        )
        for i in range(count)
    )
    return inv.Inventory(
        hostname=f"gpu-node-{number:05d}",
        gpus=gpus,
        ram=inv.Ram(
            total_bytes=ram_total,
            available_bytes=ram_total - rng.randrange(2, 16) * GIB,
            limit_bytes=None,
            swap_total_bytes=0,
        ),
        disks=(
            inv.Disk(
                path="/models",
                kind="nvme",
                total_bytes=3840 * 10**9,
                free_bytes=rng.randrange(500, 3500) * 10**9,
                device="nvme0n1",
                fstype="ext4",
                mountpoint="/models",
                model_dir=True,
            ),
        ),
        cpu=inv.Cpu(logical_count=224, usable_count=224.0),
        interconnect=("infiniband:mlx5_0", "infiniband:mlx5_1") if count > 1 else (),
        probe=inv.ProbeInfo(
            version="0.1.0",
            collected_at="2026-01-01T00:00:00+00:00",
            driver_version="580.105.08",
            cuda_driver_version="13.0",
            nvml="ok",
        ),
    )


def write_input(path: Path, nodes: int, distinct_ram: bool) -> None:
    rng = random.Random(6)
    with path.open("w", encoding="utf-8") as out:
        for number in range(nodes):
            out.write(inv.dumps(node_inventory(number, rng, distinct_ram)) + "\n")
            if number % 1000 == 999:
                out.write(f"srun: error: gpu-node-{number:05d}: task 0: Exited with exit code 1\n")


def run(command: list[str], stdin: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """Wall time and CPU time (user + system, the worker process included) in seconds, and peak RSS in KiB."""
    with stdin.open("rb") as feed:
        before = os.times()
        start = time.perf_counter()
        process = subprocess.Popen(command, stdin=feed, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        _pid, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
        after = os.times()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited with {process.returncode}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return elapsed, cpu, usage.ru_maxrss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    env = dict(os.environ)
    if (SRC / "vram_advisor").is_dir() and not os.environ.get("BENCH_INSTALLED"):
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH", "")]))
    env.setdefault("COLUMNS", "120")
    base = [sys.executable, "-m", "vram_advisor", "cluster", "-"]
    fifth = max(1, args.nodes // 5)
    with tempfile.TemporaryDirectory() as folder:
        fleet = Path(folder) / "fleet.ndjson"
        write_input(fleet, args.nodes, distinct_ram=False)
        distinct = Path(folder) / "distinct.ndjson"
        write_input(distinct, args.nodes, distinct_ram=True)
        distinct_fifth = Path(folder) / "distinct-fifth.ndjson"
        write_input(distinct_fifth, fifth, distinct_ram=True)
        small = Path(folder) / "small.ndjson"
        write_input(small, max(1, args.nodes // 10), distinct_ram=True)
        size_mib = distinct.stat().st_size / MIB
        print(
            f"input: {args.nodes} inventories, {size_mib:.1f} MiB of NDJSON "
            f"({distinct.stat().st_size // args.nodes} B a node), twelve hardware classes"
        )
        cases = (
            (f"{args.nodes} nodes, none alike: --json", [*base, "--json"], distinct),
            (f"{fifth} nodes, none alike: --json", [*base, "--json"], distinct_fifth),
            (f"{args.nodes} nodes, a few RAM sizes a class: --json", [*base, "--json"], fleet),
            (f"{args.nodes} nodes, a few RAM sizes a class: --csv", [*base, "--csv"], fleet),
            (f"{args.nodes} nodes, a few RAM sizes a class: human", base, fleet),
        )
        results: dict[str, list[tuple[float, float]]] = {label: [] for label, _, _ in cases}
        load = os.getloadavg()[0]
        for _ in range(args.runs):
            for label, command, feed in cases:
                results[label].append(run(command, feed, env)[:2])
        print(f"{'case':52} {'median s':>9} {'best s':>8} {'CPU s':>7}")
        for label, runs in results.items():
            walls = [wall for wall, _ in runs]
            cpu = min(cpu for _, cpu in runs)
            print(f"{label:52} {statistics.median(walls):9.3f} {min(walls):8.3f} {cpu:7.3f}")
        print(
            f"(load average before the runs: {load:.2f} on {os.cpu_count()} CPUs; other work on the machine slows all)"
        )
        _, _, rss_small = run([*base, "--json"], small, env)
        _, _, rss_full = run([*base, "--json"], distinct, env)
        nodes_small = max(1, args.nodes // 10)
        print(
            f"peak RSS (none alike, --json): {rss_small / 1024:.1f} MiB at {nodes_small} nodes, "
            f"{rss_full / 1024:.1f} MiB at {args.nodes} nodes"
        )
        full = statistics.median(wall for wall, _ in results[cases[0][0]])
        part = statistics.median(wall for wall, _ in results[cases[1][0]])
        for what, value, limit in (
            (f"{args.nodes} nodes, none alike, in at most 10 s", full, 10.0),
            (f"{fifth} nodes, none alike, in at most 3 s", part, 3.0),
            (f"peak RSS at {args.nodes} nodes at most 512 MiB", rss_full / 1024, 512.0),
        ):
            print(f"target: {what}: {value:.2f} ({'meets' if value <= limit else 'misses'} it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
