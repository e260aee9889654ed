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
    sizes: str = "real"
    ram_bw: int | None = None
    disk_bw: int | None = None

    @classmethod
    def parse(
        cls, kv_dtype: str = "bf16", sizes: str = "real", ram_bw: str | None = None, disk_bw: str | None = None
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
    #: Where the recommendation runs by the estimate the run command was built from (its speed is the verdict's).
    run_placement: est.Placement | None = None

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
    known: Mapping[tuple[str, str], est.Estimate] | None = None,
) -> CheckEstimates:
    """Estimate every option of ``plan``. ``table_catalog`` is the catalogue with the table's figures (the plan's
    own rows carry published figures under ``--sizes published``)."""
    chosen = options_in or EstimateOptions()
    kv_dtype, sizes = chosen.kv_dtype, chosen.sizes
    machine = est.machine_view(inventory, chosen.ram_bw, chosen.disk_bw, model_dir)
    options: dict[tuple[str, str], est.Estimate] = {}
    for option in plan.options:
        if known is not None and option.key in known:  # the very estimate the verdict was judged on (rule 9)
            options[option.key] = known[option.key]
            continue
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
    run, run_for, run_placement = None, None, None
    rec = plan.recommendation
    if rec.option is not None:
        chosen_estimate = options.get(rec.option.key)
        if chosen_estimate is not None and chosen_estimate.kv is not None:
            placement = verdict_placement(chosen_estimate, rec.kind, rec.option)
            if placement is not None:
                from vram_advisor.plan.runners import run_dict

                run, run_for, run_placement = run_dict(chosen_estimate, placement), rec.option.key, placement
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
        run_placement=run_placement,
        warnings=tuple(dict.fromkeys(warnings)),
    )


def verdict_placement(estimate: est.Estimate, kind: str, option: Option) -> est.Placement | None:
    """Where the recommendation runs by its estimate: the GPU placement for ``local``; for ``offload`` the placement
    the verdict named (rule 9), else the best that fits."""
    if kind == "local":
        return estimate.gpu
    named = next((p for p in estimate.placements if p.kind == option.placement and p.fits), None)
    return named or estimate.best
