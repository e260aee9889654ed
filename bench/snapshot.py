"""Write the outputs of a fixed corpus of commands (check --json, estimate --json, cluster --json, the human
views) to a folder, so two trees can be compared byte for byte: `python bench/snapshot.py OUT` in each, then
`diff -r`. The corpus uses a fixed inventory and what-ifs, so it runs the same on every machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

MACHINE = {
    "schema": "vram-advisor/inventory/v1",
    "hostname": "snapshot",
    "gpus": [],
    "ram": {"total_bytes": 64 * 1024**3, "available_bytes": 60 * 1024**3, "limit_bytes": None},
    "disks": [{"path": "/models", "kind": "nvme", "total_bytes": 4 * 10**12, "free_bytes": 3 * 10**12}],
}
MACHINES = [
    [],
    ["--gpus", "1xH100", "--ram", "256GB"],
    ["--gpus", "8xH100", "--ram", "2TB"],
    ["--gpus", "8xH200", "--ram", "2TB"],
    ["--gpus", "2xRTXPRO6000", "--ram", "256GB"],
    ["--gpus", "1xRTXPRO6000", "--ram", "64GB"],
    ["--gpus", "2xRTX4090", "--ram", "128GB"],
    ["--gpus", "1xRTX4090", "--ram", "64GB"],
    ["--gpus", "GB10"],
    ["--gpus", "4xA100-80GB", "--ram", "512GB"],
    ["--gpus", "8xB200", "--ram", "2TB"],
    ["--gpus", "0", "--ram", "768GB"],
    ["--gpus", "16xH100", "--ram", "4TB"],
]
EXTRA = [
    ["--base"],
    ["--context", "1M"],
    ["--require", "deepseek-v4-flash:q4"],
    ["--require", "deepseek-v4-pro:fp8", "--allow-offload"],
    ["--sizes", "table"],
]


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    inventory = out / "machine.json"
    inventory.write_text(json.dumps(MACHINE))
    env = dict(os.environ, COLUMNS="80", HF_HUB_OFFLINE="1", VRAM_ADVISOR_PROFILES=str(out / "no-profiles"))
    runs: list[list[str]] = []
    for machine in MACHINES:
        runs.append(["check", "--json", *machine])
        runs.append(["check", *machine])
        for extra in EXTRA:
            runs.append(["check", "--json", *machine, *extra])
    for model, quant in [("deepseek-v4-flash", "q4"), ("deepseek-v4-pro", "fp8"), ("deepseek-v4-flash", "q2")]:
        runs.append(["estimate", model, "--quant", quant, "--json", "--gpus", "1xH100", "--ram", "256GB"])
        runs.append(["estimate", model, "--quant", quant, "--gpus", "8xH200", "--ram", "2TB"])
    runs.append(["models", "--json"])
    for number, args in enumerate(runs):
        if args[0] in ("check", "estimate"):
            args = [*args, "--inventory", str(inventory)]
        done = subprocess.run([sys.executable, "-m", "vram_advisor", *args], capture_output=True, text=True, env=env)
        name = f"{number:03d}_" + "_".join(a.strip("-").replace("/", "_") for a in args[:-2])[:120]
        text = done.stdout.replace(str(inventory), "MACHINE")
        (out / name).write_text(
            f"$ {' '.join(args).replace(str(inventory), 'MACHINE')}\nexit {done.returncode}\n--- stdout\n{text}--- stderr\n{done.stderr}"
        )


if __name__ == "__main__":
    main()
