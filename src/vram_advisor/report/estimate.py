"""The estimate as JSON: the ``vram-advisor/estimate/v1`` document of ``vram-advisor estimate --json`` and of the MCP
server's ``estimate`` tool, and the one pipeline both go through (``estimate_and_document``: the input checks, in the
CLI's order, before the machine is probed). Pure, apart from the inventory callable a caller may pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vram_advisor.catalog.architecture import PublishedFile
from vram_advisor.catalog.downloads import ReferenceDownload
from vram_advisor.catalog.profiles import Catalog, ModelProfile, QuantRow
from vram_advisor.catalog.userprofiles import default_catalog
from vram_advisor.inventory.model import Inventory
from vram_advisor.plan.estimate.kv import KvEstimate, kv_formula
from vram_advisor.plan.estimate.option import Estimate, check_context, estimate_option, kv_dtype_of, sizes_of
from vram_advisor.plan.estimate.placement import (
    PLACEMENT_LABELS,
    MachineView,
    Placement,
    even_split_bytes,
    machine_view,
)
from vram_advisor.plan.estimate.speed import round_rate
from vram_advisor.plan.estimate.weights import Overhead, WeightsEstimate
from vram_advisor.plan.measured import point_dict

if TYPE_CHECKING:
    from vram_advisor.plan.choose import Choice
    from vram_advisor.plan.runners import RunPlan

ESTIMATE_SCHEMA = "vram-advisor/estimate/v1"


def _file_dict(item: PublishedFile) -> dict[str, Any]:
    return {
        "name": item.name,
        "size_bytes": item.size_bytes,
        "stated": item.stated,
        "repo": item.repo,
        "include": item.include,
        "source": item.source,
        "note": item.note,
    }


def weights_dict(weights: WeightsEstimate) -> dict[str, Any]:
    return {
        "bytes": weights.bytes,
        "basis": weights.basis,
        "table_bytes": weights.table_bytes,
        "published_bytes": weights.published_bytes,
        "published_differs_by": round_rate(weights.published_differs_by, 3),
        "published": [_file_dict(item) for item in weights.published],
        "computed_bytes": weights.computed_bytes,
        "routed_bytes": weights.routed_bytes,
        "other_bytes": weights.other_bytes,
        "engram_bytes": weights.engram_bytes,
    }


def kv_dict(kv: KvEstimate) -> dict[str, Any]:
    return {
        "bytes": kv.total_bytes,
        "dtype": kv.dtype,
        "context_tokens": kv.context_tokens,
        "sequences": kv.sequences,
        "amortised_bytes_per_token": round(kv.amortised_bytes_per_token, 2),
        "compressed_bytes": kv.compressed_bytes,
        "swa_ring_bytes": kv.swa_ring_bytes,
        "rows_per_layer": {"csa": kv.csa_rows, "hca": kv.hca_rows, "sliding_window": kv.swa_rows},
        "row_bytes": {"main": kv.main_row_bytes, "indexer": kv.indexer_row_bytes},
        "formula": kv_formula(kv.csa_ratio, kv.hca_ratio, kv.sliding_window, kv.global_bytes_per_token),
        "source": kv.source,
    }


def overhead_dict(overhead: Overhead) -> dict[str, Any]:
    return {
        "engine": overhead.engine,
        "devices": overhead.devices,
        "per_device_bytes": overhead.per_device_bytes,
        "total_bytes": overhead.total_bytes,
        "parts": [{"name": name, "bytes": size, "source": source} for name, size, source in overhead.parts],
    }


def speed_dict(placement: Placement) -> dict[str, Any]:
    """The decode speed as JSON: the calibrated estimate with its range and the parts of a token's time, the pure
    bandwidth bound beside it, the slowest tier, and the text every view prints ("≈ 26 tok/s (17-39)")."""
    bottleneck = placement.bottleneck
    found = placement.speed
    return {
        "upper_bound": round_rate(placement.tokens_per_s_upper_bound),
        "estimate": round_rate(found.tokens_per_s if found is not None else None),
        "low": round_rate(found.low if found is not None else None),
        "high": round_rate(found.high if found is not None else None),
        "text": found.text() if found is not None else None,
        "bandwidth_ms_per_token": round_rate(found.bandwidth_ms if found is not None else None),
        "floor_ms_per_token": round_rate(found.floor_ms if found is not None else None),
        "floor": found.floor_words if found is not None else None,
        "bottleneck": bottleneck.name if bottleneck is not None else None,
        "measured_here": None if placement.measured is None else point_dict(placement.measured),
    }


def expert_layers_dict(placement: Placement) -> dict[str, Any] | None:
    """Which layers' routed experts a GPU+RAM or mmap plan keeps on the GPUs (null for the others)."""
    split = placement.expert_split
    if split is None:
        return None
    return {
        "layers": split.layers,
        "on_gpu": split.on_gpu_layers,
        "in_ram": split.cpu_layers,
        "gpu_bytes": split.gpu_routed_bytes,
        "off_gpu_bytes": split.ram_routed_bytes,
        "gpu_layers": list(split.gpu_layers),
    }


def placement_dict(placement: Placement) -> dict[str, Any]:
    return {
        "placement": placement.kind,
        "label": PLACEMENT_LABELS[placement.kind],
        "engine": placement.engine,
        "fits": placement.fits,
        "reason": placement.reason,
        "gpu_bytes": placement.gpu_bytes,
        "ram_bytes": placement.ram_bytes,
        "disk_bytes": placement.weights_disk,
        "need_bytes": placement.need_bytes,
        "budget_bytes": placement.budget_bytes,
        "gpus_used": placement.gpus_used,
        "breakdown": {
            "weights": {"gpu": placement.weights_gpu, "ram": placement.weights_ram, "disk": placement.weights_disk},
            "kv_cache": {"bytes": placement.kv_bytes, "on": placement.kv_on},
            "overhead": {**overhead_dict(placement.overhead), "on": placement.overhead_on},
        },
        "decode_tokens_per_s": speed_dict(placement),
        "expert_layers": expert_layers_dict(placement),
        "tiers": [
            {
                "tier": tier.name,
                "holds_bytes": tier.holds_bytes,
                "reads_per_token_bytes": tier.reads_per_token_bytes,
                "bandwidth_bytes_per_s": tier.bandwidth.bytes_per_s,
                "bandwidth_source": tier.bandwidth.source,
                "tokens_per_s": round_rate(tier.tokens_per_s),
            }
            for tier in placement.tiers
        ],
        "notes": list(placement.notes),
    }


def machine_dict(machine: MachineView) -> dict[str, Any]:
    return {
        "gpus": len(machine.gpus),
        "usable_vram_bytes": machine.usable_vram_bytes,
        "spare_ram_bytes": machine.spare_ram_bytes,
        "heterogeneous_gpus": machine.heterogeneous,
        "even_split_vram_bytes": even_split_bytes(machine.capacities, len(machine.capacities)),
        "bandwidths": {
            "gpu": [{"bytes_per_s": b.bytes_per_s, "source": b.source} for b in machine.gpu_bandwidths],
            "ram": {
                "bytes_per_s": machine.ram_bandwidth.bytes_per_s,
                "source": machine.ram_bandwidth.source,
                "assumed": machine.ram_bandwidth.assumed,
            },
            "disk": {"bytes_per_s": machine.disk_bandwidth.bytes_per_s, "source": machine.disk_bandwidth.source},
        },
        "disk": None if machine.disk is None else {"path": machine.disk.path, "kind": machine.disk.kind},
    }


def estimate_dict(
    estimate: Estimate, kv_dtype: str, sizes: str, run: RunPlan | None = None, download: ReferenceDownload | None = None
) -> dict[str, Any]:
    """An ``Estimate`` as the ``vram-advisor/estimate/v1`` JSON document (with its run block, ``run``, and the
    download it runs on here, ``download``: by default the row's reference download)."""
    from vram_advisor.catalog.downloads import download_dict, reference_download
    from vram_advisor.catalog.releases import release_dict
    from vram_advisor.plan.runners import run_dict

    arch = estimate.model.architecture
    best = estimate.best
    shown = download or reference_download(estimate.model, estimate.quant)
    return {
        "schema": ESTIMATE_SCHEMA,
        "model": estimate.model.id,
        "name": estimate.model.name,
        "quant": estimate.quant.id,
        "release": release_dict(estimate.model),
        "download": download_dict(shown, run.engine if run is not None else None),
        "context_tokens": estimate.context_tokens,
        "kv_dtype": kv_dtype,
        "sizes": sizes,
        "weights": weights_dict(estimate.weights),
        "kv_cache": kv_dict(estimate.kv) if estimate.kv is not None else None,
        "active_bytes_per_token": None
        if estimate.active is None
        else {"routed": estimate.active.routed, "other": estimate.active.other, "total": estimate.active.total},
        "architecture": None
        if arch is None
        else {
            "layers": arch.layers,
            "csa_layers": arch.csa_layers,
            "hca_layers": arch.hca_layers,
            "swa_only_layers": arch.swa_only_layers,
            "model_type": arch.model_type,
            "kv_scheme": arch.kv_scheme,
            "engram_params": arch.engram_params,
            "routed_params": arch.routed_params,
            "other_params": arch.other_params,
            "active_routed_params": arch.active_routed_params,
            "active_other_params": arch.active_other_params,
            "max_context_tokens": arch.max_context_tokens,
        },
        "machine": None if estimate.machine is None else machine_dict(estimate.machine),
        "placements": [placement_dict(p) for p in estimate.placements],
        "recommended_placement": best.kind if best is not None else None,
        "run": run_dict(run),
        "assumptions": list(estimate.assumptions),
        "warnings": list(estimate.warnings),
        "unavailable": estimate.unavailable,
    }


def estimate_and_document(
    model_id: str,
    quant_id: str,
    context_tokens: int,
    inventory: Inventory | Callable[[], Inventory] | None = None,
    kv_dtype: str = "bf16",
    *,
    sizes: str = "table",
    ram_bw: int | None = None,
    disk_bw: int | None = None,
    model_dir: str | None = None,
    catalog: Catalog | None = None,
    release: str | None = None,
    sequences: int = 1,
) -> tuple[Estimate, dict[str, Any]]:
    """The estimate of ``model_id`` ``quant_id`` at ``context_tokens`` and its JSON document: the one pipeline of
    ``vram-advisor estimate`` and the MCP tool. The inputs are checked first, in the CLI's order (KV format, sizes,
    model, quantization, the context against the model's limit); only then is ``inventory`` called when it is a
    function (a probe), so bad input never waits for one. ``inventory`` (already filtered to the visible GPUs) adds
    the placements' fits and speeds; without it the breakdown is machine-independent. ``release`` picks the
    model's release (catalog/releases.py; default: the newest official). Bad input raises ``UsageError``."""
    from vram_advisor.catalog.releases import release_named, select_release

    kv_dtype, sizes = kv_dtype_of(kv_dtype), sizes_of(sizes)
    catalog = catalog or default_catalog()
    model = catalog.model(model_id)
    if release is not None:
        model = select_release(model, release_named(model, release.strip().lower()))
    quant = model.quant(quant_id.strip().lower())
    check_context(model, context_tokens)
    if inventory is not None and not isinstance(inventory, Inventory):
        inventory = inventory()
    machine = machine_view(inventory, ram_bw, disk_bw, model_dir) if inventory is not None else None
    estimate = estimate_option(model, quant, context_tokens, machine, kv_dtype, sizes, sequences=sequences)
    run, download = None, None
    if estimate.kv is not None:
        from vram_advisor.plan.runners import run_plan

        choice = estimate_choice(model, quant, inventory, machine, catalog, context_tokens, kv_dtype, sequences)
        if choice is not None:
            download = choice.download
            if sizes == "real":
                estimate = choice.estimate
            placement = choice.estimate.best if machine is not None else choice.estimate.gpu
            run = run_plan(
                choice.download, choice.engine, choice.estimate, placement, model_dir, None, inventory, choice.notes
            )
            if inventory is not None and inventory.measured:  # speeds verify measured here, beside the estimates
                estimate = with_measured(estimate, inventory, choice.engine.id)
    return estimate, estimate_dict(estimate, kv_dtype, sizes, run, download)


def with_measured(estimate: Estimate, inventory: Inventory, engine: str) -> Estimate:
    """``estimate`` with each placement carrying the speed measured for it here on ``engine`` (none: unchanged)."""
    from dataclasses import replace

    from vram_advisor.inventory.fingerprint import own_points
    from vram_advisor.plan.measured import measured_placement

    points = own_points(inventory)
    if not points:
        return estimate
    placements = tuple(
        measured_placement(p, points, estimate.model.id, estimate.quant.id, engine) for p in estimate.placements
    )
    return replace(estimate, placements=placements)


def estimate_choice(
    model: ModelProfile,
    quant: QuantRow,
    inventory: Inventory | None,
    machine: MachineView | None,
    catalog: Catalog,
    context_tokens: int,
    kv_dtype: str,
    sequences: int = 1,
) -> Choice | None:
    """The download and engine ``estimate`` runs the option on: on a machine, the one ``check`` would choose there;
    without one, the row's reference download on its first engine (as on an NVIDIA machine)."""
    from vram_advisor.catalog.engines import Platform, platform_of
    from vram_advisor.plan.choose import Choice, choose, verdict
    from vram_advisor.plan.choose import estimate_choice as estimate_pair
    from vram_advisor.plan.rules import Machine, machine_of

    if inventory is not None and machine is not None:
        return choose(
            model,
            quant,
            machine_of(inventory),
            machine,
            platform_of(machine.gpus),
            catalog.engines,
            context_tokens,
            kv_dtype,
            sequences,
        )
    from vram_advisor.catalog.downloads import reference_download

    download = reference_download(model, quant)
    engines = catalog.engines
    order = engines.order(Platform("cuda"))
    engine = next((e for e in order if e.id in download.engines), None)
    if engine is None or download.bytes is None:
        return None
    estimate = estimate_pair(model, quant, download, engine, context_tokens, None, kv_dtype, sequences)
    row, fit, placement = verdict(quant, estimate, Machine(0, 0, 0))
    return Choice(download, engine, estimate, row, fit, placement)


def estimate_document(
    model_id: str,
    quant_id: str,
    context_tokens: int,
    inventory: Inventory | Callable[[], Inventory] | None = None,
    kv_dtype: str = "bf16",
    *,
    sizes: str = "table",
    ram_bw: int | None = None,
    disk_bw: int | None = None,
    model_dir: str | None = None,
    catalog: Catalog | None = None,
    release: str | None = None,
    sequences: int = 1,
) -> dict[str, Any]:
    """``estimate_and_document``'s JSON-ready dict alone (the MCP server's ``estimate`` tool; ``vram-advisor
    estimate --json`` prints the same)."""
    return estimate_and_document(
        model_id,
        quant_id,
        context_tokens,
        inventory,
        kv_dtype,
        sizes=sizes,
        ram_bw=ram_bw,
        disk_bw=disk_bw,
        model_dir=model_dir,
        catalog=catalog,
        release=release,
        sequences=sequences,
    )[1]
