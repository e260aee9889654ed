"""``check``'s estimate columns beside the table's verdict.

For every option: the KV cache for the planned context (``kv_cache_bytes``), weights + KV + runtime overhead
(``need_bytes``) and whether that fits the usable VRAM (``context_fits``), the published file sizes with a warning
where they differ from the table by more than 20%, and, for options that do not run from VRAM, the offload plans
(GPU+RAM, CPU, NVMe) with their memory split and decode-speed bounds. Plus the command that would run the
recommendation here. The contract's ``fit`` stays the table's verdict; these fields say what it means at this
context (the README's "How fit and context_fits combine" explains how the two combine). Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vram_advisor.catalog.profiles import Catalog
from vram_advisor.core import units
from vram_advisor.core.errors import UsageError
from vram_advisor.core.records import Record
from vram_advisor.inventory import bandwidth as bw
from vram_advisor.inventory.model import Inventory
from vram_advisor.plan import estimate as est
from vram_advisor.plan.rules import COMFORTABLE, MINIMUM, Option, Plan


@dataclass(frozen=True, eq=False, repr=False)
class EstimateOptions(Record):
    """``--kv-dtype``, ``--sizes``, ``--ram-bw`` and ``--disk-bw``, validated (bad values are UsageErrors)."""

    kv_dtype: str = "bf16"
    sizes: str = "table"
    ram_bw: int | None = None
    disk_bw: int | None = None

    @classmethod
    def parse(
        cls, kv_dtype: str = "bf16", sizes: str = "table", ram_bw: str | None = None, disk_bw: str | None = None
    ) -> EstimateOptions:
        return cls(
            kv_dtype=est.kv_dtype_of(kv_dtype),
            sizes=est.sizes_of(sizes),
            ram_bw=bw.parse_user_bandwidth(ram_bw, "--ram-bw"),
            disk_bw=bw.parse_user_bandwidth(disk_bw, "--disk-bw"),
        )


@dataclass(frozen=True, eq=False, repr=False)
class CheckEstimates(Record):
    """The estimate of every option of a plan at one context, and the run command for its recommendation."""

    context_tokens: int
    kv_dtype: str
    sizes: str
    machine: est.MachineView
    options: Mapping[tuple[str, str], est.Estimate]
    run: dict[str, Any] | None
    run_for: tuple[str, str] | None
    warnings: tuple[str, ...]

    def of(self, option: Option) -> est.Estimate | None:
        return self.options.get(option.key)


def loads_from_vram(option: Option) -> bool:
    return option.fit in (COMFORTABLE, MINIMUM)


def estimate_check(
    plan: Plan,
    inventory: Inventory,
    table_catalog: Catalog,
    context_tokens: int,
    options_in: EstimateOptions | None = None,
    model_dir: str | None = None,
) -> CheckEstimates:
    """Estimate every option of ``plan``. ``table_catalog`` is the catalogue with the table's figures (the plan's
    own rows carry published figures under ``--sizes published``)."""
    chosen = options_in or EstimateOptions()
    kv_dtype, sizes = chosen.kv_dtype, chosen.sizes
    machine = est.machine_view(inventory, chosen.ram_bw, chosen.disk_bw, model_dir)
    options: dict[tuple[str, str], est.Estimate] = {}
    for option in plan.options:
        try:
            model = table_catalog.model(option.model.id)
            quant = model.quant(option.quant.id)
        except UsageError:  # a model only the plan's catalogue knows: its own rows are the table's
            model, quant = option.model, option.quant
        options[option.key] = est.estimate_option(model, quant, context_tokens, machine, kv_dtype, sizes)
    warnings: list[str] = []
    hetero = est.heterogeneity_warning(machine)
    if hetero is not None:
        warnings.append(hetero)
    shown = {o.key for o in (plan.recommendation.option, plan.stretch) if o is not None}
    for option in plan.options:
        estimate = options[option.key]
        if option.key in shown:
            warnings.extend(w for w in estimate.warnings if w != hetero)
        gpu = estimate.gpu
        if loads_from_vram(option) and gpu is not None and gpu.fits is False:
            warnings.append(
                f"{option.model.id} {option.quant.id} meets the table's {option.fit} figure, but at "
                f"{units.format_tokens(context_tokens)} tokens of context it {gpu.reason}"
            )
    run, run_for = None, None
    rec = plan.recommendation
    if rec.option is not None:
        chosen_estimate = options.get(rec.option.key)
        if chosen_estimate is not None and chosen_estimate.kv is not None:
            placement = chosen_estimate.gpu if rec.kind == "local" else chosen_estimate.best
            if placement is not None:
                from vram_advisor.plan.runners import run_dict

                run, run_for = run_dict(chosen_estimate, placement), rec.option.key
            else:
                warnings.append(
                    f"{rec.option.model.id} {rec.option.quant.id}: no offload plan fits this machine by the estimate"
                )
    return CheckEstimates(
        context_tokens=context_tokens,
        kv_dtype=kv_dtype,
        sizes=sizes,
        machine=machine,
        options=options,
        run=run,
        run_for=run_for,
        warnings=tuple(dict.fromkeys(warnings)),
    )


def _offload_plan(placement: est.Placement) -> dict[str, Any]:
    bottleneck = placement.bottleneck
    return {
        "placement": placement.kind,
        "fits": placement.fits,
        "reason": placement.reason,
        "gpu_bytes": placement.gpu_bytes,
        "ram_bytes": placement.ram_bytes,
        "disk_bytes": placement.weights_disk,
        "decode_tokens_per_s_upper_bound": est.round_rate(placement.tokens_per_s_upper_bound),
        "decode_tokens_per_s_estimate": est.round_rate(placement.tokens_per_s_estimate),
        "decode_tokens_per_s": est.speed_dict(placement),
        "bottleneck": bottleneck.name if bottleneck is not None else None,
    }


def option_fields(option: Option, estimate: est.Estimate | None) -> dict[str, Any]:
    """The fields ``check --json`` adds to one option."""
    if estimate is None:
        return {}
    weights = estimate.weights
    gpu = estimate.gpu
    size_warning = weights.warnings[0] if weights.warnings else None
    fields: dict[str, Any] = {
        "kv_cache_bytes": estimate.kv.total_bytes if estimate.kv is not None else None,
        "need_bytes": gpu.need_bytes if gpu is not None else None,
        "context_fits": gpu.fits if gpu is not None else None,
        "weights_basis": weights.basis,
        "weights_bytes": weights.bytes,
        "published_weights_bytes": weights.published_bytes,
        "published_weights_source": weights.published[0].name if weights.published else None,
        "computed_weights_bytes": weights.computed_bytes,
        "size_warning": size_warning,
    }
    if not loads_from_vram(option) or (gpu is not None and gpu.fits is False):
        fields["offload_plans"] = [_offload_plan(p) for p in estimate.placements if p.kind != est.PLACEMENT_GPU]
    return fields


def add_to_document(document: dict[str, Any], plan: Plan, extras: CheckEstimates) -> None:
    """Add the estimate fields to a ``check --json`` document (in place)."""
    for entry, option in zip(document.get("options", []), plan.options, strict=True):
        entry.update(option_fields(option, extras.of(option)))
    machine = est.machine_dict(extras.machine)
    chosen = extras.options.get(extras.run_for) if extras.run_for is not None else None
    first = chosen or next(iter(extras.options.values()), None)
    document["estimate"] = {
        "context_tokens": extras.context_tokens,
        "kv_dtype": extras.kv_dtype,
        "sizes": extras.sizes,
        "even_split_vram_bytes": machine["even_split_vram_bytes"],
        "heterogeneous_gpus": machine["heterogeneous_gpus"],
        "bandwidths": machine["bandwidths"],
        "assumptions": list(first.assumptions) if first is not None else [],
        "warnings": list(extras.warnings),
    }
    document["run"] = extras.run
    document["warnings"] = [*document.get("warnings", []), *extras.warnings]
