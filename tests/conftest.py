"""Shared test helpers: run the real CLI in-process, and build inventories from plain dicts."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from vram_advisor.cli import main

# CI machines are small and busy: no per-example deadline (hypothesis would report a slow example as a failure).
settings.register_profile("vram-advisor", deadline=None)
settings.load_profile("vram-advisor")

FIXTURES = Path(__file__).parent / "fixtures"
GIB = 1024**3
MIB = 1024**2


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test sees the developer's GPUs selection, tokens or profile dirs; human output is 100 columns wide."""
    for key in (
        "CUDA_VISIBLE_DEVICES",
        "CUDA_DEVICE_ORDER",
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "VRAM_ADVISOR_DEBUG",
    ):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("VRAM_ADVISOR_PROFILES", str(tmp_path / "no-user-profiles"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # no test reads or writes the developer's calibration store (verify's measured speeds)
    monkeypatch.setenv("VRAM_ADVISOR_CALIBRATION", str(tmp_path / "calibration.json"))
    yield


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """``cli(args, stdin=None, env=None)`` runs ``vram_advisor.cli.main`` and returns code, stdout, stderr."""

    def run(args: list[str], stdin: str | None = None, env: Mapping[str, str | None] | None = None) -> Result:
        for key, value in (env or {}).items():
            if value is None:
                monkeypatch.delenv(key, raising=False)
            else:
                monkeypatch.setenv(key, value)
        out, err = io.StringIO(), io.StringIO()
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin or ""))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
        return Result(code, out.getvalue(), err.getvalue())

    return run


def gpu(name: str, total_mib: int, reserved_mib: int | None = None, index: int = 0, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"index": index, "vendor": "nvidia", "name": name, "memory_total_bytes": total_mib * MIB}
    if reserved_mib is not None:
        entry["memory_reserved_bytes"] = reserved_mib * MIB
    entry.update(extra)
    return entry


def inventory_dict(gpus: list[dict[str, Any]] | None = None, ram_gib: float = 64, **extra: Any) -> dict[str, Any]:
    """A schema-v1 inventory with ``gpus`` and ``ram_gib`` of RAM (indices renumbered in order)."""
    gpus = [dict(g, index=i) for i, g in enumerate(gpus or [])]
    data: dict[str, Any] = {
        "schema": "vram-advisor/inventory/v1",
        "hostname": "test-node",
        "gpus": gpus,
        "ram": {"total_bytes": int(ram_gib * GIB), "available_bytes": int(ram_gib * GIB * 0.9), "limit_bytes": None},
        "disks": [],
    }
    data.update(extra)
    return data


def full_inventory(gpus: int = 2) -> dict[str, Any]:
    """An inventory with every field the schema knows, filled as a real probe fills them."""
    data = inventory_dict(
        [
            gpu(
                "NVIDIA H100 80GB HBM3",
                81559,
                480,
                uuid=f"GPU-{i}",
                memory_free_bytes=81000 * MIB,
                unified=False,
                pci_bus_id=f"00000000:{i:02X}:00.0",
                compute_capability="9.0",
                memory_bus_width_bits=5120,
                memory_clock_max_mhz=2619,
                memory_bandwidth_bytes_per_s=3352 * 10**9,
                pcie_generation=5,
                pcie_width=16,
                nvlink=True,
                mig_enabled=True,
                mig_devices=[
                    {
                        "uuid": f"MIG-{i}",
                        "memory_total_bytes": 10 * GIB,
                        "memory_free_bytes": 9 * GIB,
                        "memory_reserved_bytes": 0,
                        "gpu_instance_id": 1,
                        "compute_instance_id": 0,
                    }
                ],
                memory_total_bytes_whole_gpu=81559 * MIB,
                visible=i != 1,
                notes=["a note"],
            )
            for i in range(gpus)
        ],
        ram_gib=2048,
        interconnect=["nvlink", "infiniband:mlx5_0"],
        cpu={"logical_count": 224, "usable_count": 224.0, "quota_cpus": 56.5},
        probe={
            "version": "0.1.0",
            "collected_at": "2026-01-01T00:00:00+00:00",
            "driver_version": "580",
            "cuda_driver_version": "13.0",
            "nvml": "ok",
        },
        notes=["top note"],
        local_files=[{"repo": "org/model", "path": "a.gguf", "location": "/models/a.gguf", "size_bytes": 5}],
        measured=[
            {  # what verify keeps (the calibration store's point, carried by probe --json)
                "fingerprint": "m1-0123456789abcdef",
                "model": "deepseek-v4-flash",
                "quant": "q2",
                "placement": "gpu",
                "engine": "llama.cpp",
                "decode_tokens_per_s": 22.4,
                "measured_at": "2026-12-07T10:00:00Z",
                "first_token_s": 0.31,
                "tokens": 256,
                "context_tokens": 32768,
                "engine_decode_tokens_per_s": 22.9,
                "served_model": "DeepSeek-V4-Flash-0731-UD-IQ2_XXS-00001-of-00003.gguf",
            }
        ],
    )
    data["ram"]["swap_total_bytes"] = 0
    reading = {  # what probe --measure records
        "bytes_per_s": 410 * 10**9,
        "measured": True,
        "method": "memmove copy, bytes read + written",
        "threads": 16,
        "bytes": 32 * GIB,
        "seconds": 0.083811,
        "rounds": 6,
        "elapsed_seconds": 0.71,
        "path": "/models/a.gguf",
    }
    data["ram"]["bandwidth"] = reading
    data["disks"] = [
        {
            "path": "/models",
            "kind": "nvme",
            "total_bytes": 10**12,
            "free_bytes": 10**11,
            "device": "nvme0n1",
            "fstype": "ext4",
            "mountpoint": "/models",
            "model_dir": True,
            "read_bandwidth": dict(reading, bytes_per_s=6 * 10**9, threads=1),
        }
    ]
    return data


@pytest.fixture
def write_inventory(tmp_path: Path):  # type: ignore[no-untyped-def]
    """``write_inventory(dict) -> path`` saves an inventory JSON under tmp."""
    counter = iter(range(10**6))

    def write(data: dict[str, Any]) -> str:
        path = tmp_path / f"inventory-{next(counter)}.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        return str(path)

    return write
