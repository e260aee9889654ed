"""The measured runs the decode-speed estimate is calibrated against, and the estimate of each.

The points are measured runs of DeepSeek V4 read from public issues (machine, model, file, engine, placement,
measured single-stream decode, public source such as kvcache-ai/ktransformers#2001), kept in
``tests/fixtures/measured_speeds.json``. Each point's machine is built the way a user would describe it (``--gpus``,
``--ram``, ``--ram-bw``: ``whatif``), its option is the catalogue's row (a Q8_0 file, which the catalogue has no row
for, is the Q6 row with 8.5-bit experts), and its estimate is the same ``decode_speed`` every view prints. Read by
the table-driven test (tests/test_speeds.py) and by bench/speeds_table.py, which writes docs/speeds.md. Pure, apart
from reading the points file. It lives beside the tests because nothing in the package uses it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from vram_advisor.catalog.profiles import Catalog, packaged_catalog
from vram_advisor.core import units
from vram_advisor.core.records import Record
from vram_advisor.inventory import whatif
from vram_advisor.inventory.bandwidth import parse_user_bandwidth
from vram_advisor.inventory.model import Inventory, Ram
from vram_advisor.plan.estimate.offload import hybrid_placement
from vram_advisor.plan.estimate.option import estimate_option
from vram_advisor.plan.estimate.placement import PLACEMENT_GPU, PLACEMENT_HYBRID, Placement, machine_view
from vram_advisor.plan.estimate.speed import SpeedEstimate, decode_speed

#: The placement a unified-memory machine (Apple Silicon, GB10) runs all in its GPU budget.
PLACEMENT_UNIFIED = "unified"
#: The context the points are estimated at: the measurements are short-prompt decode runs (pp512-pp2048, tg32-tg128).
POINT_CONTEXT_TOKENS = 2048


@dataclass(frozen=True, eq=False, repr=False)
class MeasuredPoint(Record):
    """One measured run: the machine, the option, the engine and placement, the measured decode and its source."""

    row: int
    machine: str
    gpus: str
    ram: str | None
    ram_bw: str | None
    model: str
    quant: str
    expert_bits: float | None
    file: str
    engine: str
    placement: str
    measured_tok_s: float
    measured_text: str
    source: str
    held_out: bool
    #: the layers whose routed experts the engine kept on the GPU in the measured run (ktransformers and FreeToken
    #: keep them all in RAM: 0); None: as many as fit, as the planner splits them
    gpu_expert_layers: int | None = None


@dataclass(frozen=True, eq=False, repr=False)
class PointEstimate(Record):
    """A point's estimate: the placement it was read from and the speed (None when the placement has none)."""

    point: MeasuredPoint
    placement: Placement
    speed: SpeedEstimate | None
    ram_bw_used: str

    @property
    def ratio(self) -> float | None:
        """estimate / measured."""
        return None if self.speed is None else self.speed.tokens_per_s / self.point.measured_tok_s


def load_points(path: Path) -> tuple[float, tuple[MeasuredPoint, ...]]:
    """The tolerance and the points of a measured-speeds file (``tests/fixtures/measured_speeds.json``)."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    points = tuple(
        MeasuredPoint(
            row=int(item["row"]),
            machine=str(item["machine"]),
            gpus=str(item["gpus"]),
            ram=item.get("ram"),
            ram_bw=item.get("ram_bw"),
            model=str(item["model"]),
            quant=str(item["quant"]),
            expert_bits=item.get("expert_bits"),
            file=str(item["file"]),
            engine=str(item["engine"]),
            placement=str(item["placement"]),
            measured_tok_s=float(item["measured_tok_s"]),
            measured_text=str(item.get("measured_text") or f"{item['measured_tok_s']} tok/s"),
            source=str(item["source"]),
            held_out=bool(item.get("held_out", False)),
            gpu_expert_layers=item.get("gpu_expert_layers"),
        )
        for item in data["points"]
    )
    return float(data.get("tolerance", 2.0)), points


def point_inventory(point: MeasuredPoint) -> Inventory:
    """The machine as a user would give it: ``--gpus`` and ``--ram`` on an empty inventory."""
    empty = Inventory(ram=Ram(total_bytes=0))
    return whatif.apply(empty, gpus=point.gpus, ram=point.ram)


def estimate_point(point: MeasuredPoint, catalog: Catalog | None = None, use_ram_bw: bool = True) -> PointEstimate:
    """The estimate for ``point``: with its stated RAM bandwidth, or (``use_ram_bw=False``) the machine class's."""
    model = (catalog or packaged_catalog()).model(point.model)
    quant = model.quant("q6" if point.expert_bits is not None else point.quant)
    if point.expert_bits is not None and quant.bits is not None:
        bits = replace(quant.bits, experts=point.expert_bits, format=f"GGUF {point.quant.upper()}")
        quant = replace(quant, id=point.quant, bits=bits, published=())
    ram_bw = parse_user_bandwidth(point.ram_bw, "ram_bw") if use_ram_bw else None
    machine = machine_view(point_inventory(point), ram_bw)
    estimate = estimate_option(model, quant, POINT_CONTEXT_TOKENS, machine, "bf16", "published")
    kinds = (point.placement, PLACEMENT_GPU) if point.placement == PLACEMENT_UNIFIED else (point.placement,)
    placement = next(p for kind in kinds for p in estimate.placements if p.kind == kind)
    if point.gpu_expert_layers is not None and placement.kind == PLACEMENT_HYBRID:
        assert estimate.kv is not None and quant.bits is not None
        arch = model.architecture
        assert arch is not None
        split = hybrid_placement(arch, quant.bits, estimate.weights, estimate.kv, machine, point.gpu_expert_layers)
        assert split is not None
        placement = split
    ram = machine.ram_bandwidth
    used = units.format_bandwidth(ram.bytes_per_s) + (" assumed" if ram.assumed else "")
    return PointEstimate(point, placement, decode_speed(placement), used)
