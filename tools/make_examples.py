"""Write the saved inventories under examples/ that README.md and docs/ run their commands on.

They stand for real machines as ``vram-advisor probe --json`` saw them, with the memory NVML reports for each card
(src/vram_advisor/inventory/cards.py), so that every shown output is the same on any machine. Run it from the
repository root: ``python tools/make_examples.py``.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

MIB = 1024**2
GIB = 1024**3
GB = 1000**3
ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def gpu(index: int, name: str, total_mib: int, reserved_mib: int | None, host: str, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "index": index,
        "vendor": "nvidia",
        "name": name,
        "uuid": "GPU-" + str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{host}/{index}")),
        "memory_total_bytes": total_mib * MIB,
        "memory_reserved_bytes": None if reserved_mib is None else reserved_mib * MIB,
        "memory_free_bytes": (total_mib - (reserved_mib or 0)) * MIB,
        "visible": True,
    }
    entry.update(extra)
    return entry


def inventory(
    host: str,
    gpus: list[dict[str, Any]],
    ram_gib: int,
    disk_gb: tuple[int, int],
    interconnect: list[str],
    cpus: int,
) -> dict[str, Any]:
    total, free = disk_gb
    return {
        "schema": "vram-advisor/inventory/v1",
        "hostname": host,
        "gpus": gpus,
        "ram": {
            "total_bytes": ram_gib * GIB,
            "available_bytes": ram_gib * GIB * 9 // 10,
            "limit_bytes": None,
            "swap_total_bytes": 0,
        },
        "disks": [
            {
                "path": "/models",
                "kind": "nvme",
                "total_bytes": total * GB,
                "free_bytes": free * GB,
                "device": "/dev/nvme0n1",
                "fstype": "xfs",
                "mountpoint": "/models",
                "model_dir": True,
            }
        ],
        "cpu": {"logical_count": cpus, "usable_count": float(cpus), "quota_cpus": None},
        "interconnect": interconnect,
        "probe": {
            "version": "0.1.0",
            "collected_at": "2026-12-01T09:00:00+00:00",
            "driver_version": "580.95.05",
            "cuda_driver_version": "13.0",
            "nvml": "ok",
        },
        "notes": [],
    }


def h100_node(host: str) -> dict[str, Any]:
    gpus = [gpu(i, "NVIDIA H100 80GB HBM3", 81559, 480, host, nvlink=True) for i in range(8)]
    return inventory(host, gpus, 2048, (3840, 2900), ["nvlink", "infiniband"], 192)


def main() -> None:
    EXAMPLES.mkdir(exist_ok=True)
    machines = {
        "gpu-node-07": h100_node("gpu-node-07"),
        "gpu-node-08": h100_node("gpu-node-08"),
        "two-h100": inventory(
            "node-07",
            [gpu(i, "NVIDIA H100 80GB HBM3", 81559, 480, "node-07", nvlink=True) for i in range(2)],
            512,
            (3840, 2900),
            ["nvlink"],
            64,
        ),
        "l40s-01": inventory(
            "l40s-01", [gpu(i, "NVIDIA L40S", 46068, 609, "l40s-01") for i in range(4)], 512, (1920, 1500), [], 64
        ),
        "workstation": inventory(
            "workstation",
            [gpu(0, "NVIDIA GeForce RTX 4090", 24564, None, "workstation")],
            128,
            (2000, 900),
            [],
            32,
        ),
        "epyc-9374f": inventory(
            "epyc-9374f",
            [gpu(0, "NVIDIA RTX PRO 6000 Blackwell Server Edition", 97887, None, "epyc-9374f")],
            1152,
            (7680, 6000),
            [],
            64,
        ),
    }
    for name, data in machines.items():
        (EXAMPLES / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    # what `srun ... probe --json | vram-advisor cluster -` receives: one inventory a line, and srun's own noise
    lines = [
        json.dumps(machines["gpu-node-07"]),
        "srun: error: gpu-node-09: task 2: Exited with exit code 1",
        json.dumps(machines["gpu-node-08"]),
        json.dumps(machines["l40s-01"]),
    ]
    (EXAMPLES / "fleet.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
