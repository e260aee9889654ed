"""How much ``probe --json`` adds to start-up: the probe's own cost in a fresh interpreter, and the CLI's wall time.

Run: ``python bench/probe_speed.py [--runs N] [--json]``. Each figure is measured in fresh subprocesses (with
``.pyc`` files written, as for an installed package), reported as median and minimum over ``--runs`` runs:

* probe cost: importing ``vram_advisor.probe`` and its readers (after what ``check`` imports anyway) plus the first
  ``collect_inventory()`` (NVML or its absence, RAM, cgroups, disks, other accelerators), timed inside the
  subprocess;
* the NVML bindings: ``import pynvml`` (paid only where ``libnvidia-ml.so.1`` opens; elsewhere the probe stops
  after a failed ``dlopen`` and never imports them);
* wall clock of ``python -c pass``, ``vram-advisor --version`` and ``vram-advisor probe --json``, for scale.

No thresholds: read the figures (timing assertions do not belong in tests).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE_COST = """
import json, time
import vram_advisor.service  # check imports this anyway; not the probe's cost
t0 = time.perf_counter()
from vram_advisor.probe import collect_inventory
from vram_advisor.probe import cgroup, disks, host, interconnect, nvml
from vram_advisor.probe.accelerators import amd, apple, intel
t1 = time.perf_counter()
collect_inventory()
t2 = time.perf_counter()
print(json.dumps({"import_ms": (t1 - t0) * 1000, "collect_ms": (t2 - t1) * 1000}))
"""

PYNVML_COST = """
import json, time
t0 = time.perf_counter()
import pynvml
print(json.dumps({"import_ms": (time.perf_counter() - t0) * 1000}))
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed package has its .pyc files; so should the runs
    src = str(ROOT / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _run(command: list[str]) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True, env=_env()).stdout


def wall(command: list[str], runs: int) -> list[float]:
    _run(command)  # warm-up: writes the .pyc files
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        _run(command)
        times.append((time.perf_counter() - started) * 1000)
    return times


def inside(code: str, runs: int) -> dict[str, list[float]]:
    _run([sys.executable, "-c", code])
    figures: dict[str, list[float]] = {}
    for _ in range(runs):
        for key, value in json.loads(_run([sys.executable, "-c", code])).items():
            figures.setdefault(key, []).append(value)
    return figures


def summary(values: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(values), 1), "min_ms": round(min(values), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    cli = [sys.executable, "-m", "vram_advisor"]
    probe = inside(PROBE_COST, args.runs)
    figures = {
        "probe_import": summary(probe["import_ms"]),
        "probe_first_collect": summary(probe["collect_ms"]),
        "probe_total": summary([a + b for a, b in zip(probe["import_ms"], probe["collect_ms"], strict=True)]),
        "import_pynvml": summary(inside(PYNVML_COST, args.runs)["import_ms"]),
        "wall_python_pass": summary(wall([sys.executable, "-c", "pass"], args.runs)),
        "wall_version": summary(wall([*cli, "--version"], args.runs)),
        "wall_probe_json": summary(wall([*cli, "probe", "--json"], args.runs)),
    }
    if args.json:
        print(json.dumps({"runs": args.runs, **figures}, indent=2))
        return
    print(f"probe speed: median / min of {args.runs} fresh processes, in ms")
    rows = (
        ("probe: import the readers", "probe_import"),
        ("probe: first collect_inventory()", "probe_first_collect"),
        ("probe: total (what probe adds)", "probe_total"),
        ("import pynvml (NVIDIA machines only)", "import_pynvml"),
        ("wall: python -c pass", "wall_python_pass"),
        ("wall: vram-advisor --version", "wall_version"),
        ("wall: vram-advisor probe --json", "wall_probe_json"),
    )
    for label, key in rows:
        print(f"  {label:<40} {figures[key]['median_ms']:8.1f} {figures[key]['min_ms']:8.1f}")


if __name__ == "__main__":
    main()
