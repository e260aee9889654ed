"""Start-up benchmark: ``vram-advisor check --json`` on a saved inventory against the floor of importing its own
dependencies (typer, rich, psutil, pynvml, msgspec), interleaved, median of several runs.

    python bench/startup.py [--runs 15]                      # from a checkout (PYTHONPATH=src)
    BENCH_INSTALLED=1 VENV/bin/python bench/startup.py       # the installed console script (what users run)

Measure an installed package: it has compiled bytecode, while a checkout under PYTHONDONTWRITEBYTECODE=1
recompiles every module on every start. Machines are noisy: compare the ratios, and the minima beside the medians.

Target (issues 20 and 21): the ratio check/floor at most 1.2. The floor before msgspec became a dependency (issue 20)
is reported too. The warm-up run validates the packaged profiles and writes them to the user's cache folder
(``catalog.compiled``), as the first run after an install does; the timed runs read them back.
``VRAM_ADVISOR_NO_CACHE=1 python bench/startup.py`` times every run validating them. Also reported: ``probe --json`` (the real probe on this machine)
and ``check --json`` with probing. Prints a small table; exits 0 whatever the figures (machines are noisy).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

INVENTORY = {
    "schema": "vram-advisor/inventory/v1",
    "hostname": "bench-node",
    "gpus": [
        {
            "index": i,
            "vendor": "nvidia",
            "name": "NVIDIA H100 80GB HBM3",
            "memory_total_bytes": 81559 * 2**20,
            "memory_reserved_bytes": 480 * 2**20,
        }
        for i in range(8)
    ],
    "ram": {"total_bytes": 2 * 2**40, "available_bytes": 2 * 2**40, "limit_bytes": None},
    "disks": [{"path": "/models", "kind": "nvme", "total_bytes": 3840 * 10**9, "free_bytes": 2900 * 10**9}],
}


#: The floor: importing the dependencies that ``check`` needs or that every install carries (``huggingface_hub`` is
#: imported only by ``--repo`` and the Hub commands, so it is left out).
FLOOR = "floor: import typer, rich, psutil, pynvml, msgspec"
#: The most ``check --json --inventory FILE`` may take, as a multiple of the floor.
TARGET = 1.2


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    src = Path(__file__).resolve().parents[1] / "src"
    env = dict(os.environ)
    if (src / "vram_advisor").is_dir() and not os.environ.get("BENCH_INSTALLED"):
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH", "")]))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "node.json"
        path.write_text(json.dumps(INVENTORY))
        python = sys.executable
        # the console script is what users run (python -m adds runpy); fall back to -m in a source checkout
        script = Path(python).with_name("vram-advisor")
        tool = [str(script)] if script.exists() and not env.get("PYTHONPATH") else [python, "-m", "vram_advisor"]
        commands = {
            FLOOR: [python, "-c", "import typer, rich, psutil, pynvml, msgspec"],
            "import typer, rich, psutil, pynvml": [python, "-c", "import typer, rich, psutil, pynvml"],
            "check --json --inventory FILE": [
                *tool,
                "check",
                "--json",
                "--inventory",
                str(path),
            ],
            "check --inventory FILE (human view)": [*tool, "check", "--inventory", str(path)],
            "probe --json (real probe)": [*tool, "probe", "--json"],
            "check --json (real probe)": [*tool, "check", "--json"],
            "python -c pass": [python, "-c", "pass"],
        }
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for command in commands.values():  # warm the file cache once
            timed(command, env)
        for _ in range(args.runs):
            for name, command in commands.items():  # interleaved, so drift hits every command alike
                samples[name].append(timed(command, env))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    floor = medians[FLOOR]
    floor_min = min(samples[FLOOR])
    print(f"{'command':45} {'median ms':>10} {'x floor':>8} {'min ms':>8} {'x min':>6}")
    for name, value in medians.items():
        fastest = min(samples[name])
        print(f"{name:45} {value * 1000:10.1f} {value / floor:8.2f} {fastest * 1000:8.1f} {fastest / floor_min:6.2f}")
    ratio = medians["check --json --inventory FILE"] / floor
    ratio_min = min(samples["check --json --inventory FILE"]) / floor_min
    print(
        f"\ncheck --json / floor = {ratio:.2f} (minima {ratio_min:.2f}; target <= {TARGET:.2f}); "
        f"{args.runs} interleaved runs each"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
