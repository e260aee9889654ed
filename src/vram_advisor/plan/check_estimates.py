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
from typing import TYPE_CHECKING, Any

from vram_advisor.catalog.profiles import Catalog
from vram_advisor.core import units
from vram_advisor.core.errors import UsageError
from vram_advisor.core.records import Record, dataclass
from vram_advisor.inventory import bandwidth as bw
from vram_advisor.inventory.model import Inventory
from vram_advisor.plan import estimate as est
from vram_advisor.plan.rules import COMFORTABLE, MINIMUM, Option, Plan

if TYPE_CHECKING:
    from vram_advisor.plan.choose import Choice
    from vram_advisor.plan.runners import RunPlan


@dataclass(frozen=True, eq=False, repr=False)
class EstimateOptions(Record):
    """``--kv-dtype``, ``--sizes``, ``--ram-bw`` and ``--disk-bw``, validated (bad values are UsageErrors), and the
    sequences the KV cache is for (``--users``: the printed command serves that many at the full context each)."""

    kv_dtype: str = "bf16"
    sizes: str = "real"
    ram_bw: int | None = None
    disk_bw: int | None = None
    sequences: int = 1

    @classmethod
    def parse(
        cls,
        kv_dtype: str = "bf16",
        sizes: str = "real",
        ram_bw: str | None = None,
        disk_bw: str | None = None,
        sequences: int = 1,
    ) -> EstimateOptions:
        return cls(
            kv_dtype=est.kv_dtype_of(kv_dtype),
            sizes=est.sizes_of(sizes),
            ram_bw=bw.parse_user_bandwidth(ram_bw, "--ram-bw"),
            disk_bw=bw.parse_user_bandwidth(disk_bw, "--disk-bw"),
            sequences=sequences,
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
    #: The recommendation's run block (rule 11), whose JSON is ``run``.
    run_plan: RunPlan | None = None
    #: The estimate the run block was built from (its file, engine and the sequences it serves).
    run_estimate: est.Estimate | None = None

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
    """Estimate every option of ``plan``: under rule 9 the very estimate its verdict was judged on (its
    ``choice``); else on ``table_catalog``, the catalogue with the table's figures (the plan's own rows carry
    published figures under ``--sizes published``)."""
    chosen = options_in or EstimateOptions()
    kv_dtype, sizes = chosen.kv_dtype, chosen.sizes
    machine = est.machine_view(inventory, chosen.ram_bw, chosen.disk_bw, model_dir)
    options: dict[tuple[str, str], est.Estimate] = {}
    for option in plan.options:
        if option.choice is not None:  # the very estimate the verdict was judged on (rule 9)
            options[option.key] = option.choice.estimate
            continue
        try:
            model = table_catalog.model(option.model.id)
            quant = model.quant(option.quant.id)
        except UsageError:  # a model only the plan's catalogue knows: its own rows are the table's
            model, quant = option.model, option.quant
        options[option.key] = est.estimate_option(
            model, quant, context_tokens, machine, kv_dtype, sizes, sequences=chosen.sequences
        )
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
    run, run_for, run_placement, the_plan, run_estimate = None, None, None, None, None
    rec = plan.recommendation
    if rec.option is not None:
        choice = rec.option.choice or chosen_for_run(
            rec.option, inventory, table_catalog, context_tokens, chosen, model_dir
        )
        if choice is not None and choice.estimate.kv is not None:
            placement = verdict_placement(choice.estimate, rec.kind, rec.option)
            from vram_advisor.plan.runners import run_dict, run_plan

            why = None if placement is not None else "no placement fits this machine by the estimate"
            the_plan = run_plan(
                choice.download, choice.engine, choice.estimate, placement, model_dir, why, inventory, choice.notes
            )
            run, run_for, run_placement = run_dict(the_plan), rec.option.key, placement
            if placement is not None and inventory.measured:  # a speed measured here (verify), shown beside it
                from vram_advisor.inventory.fingerprint import own_points
                from vram_advisor.plan.measured import measured_placement

                model_id, quant_id = rec.option.key
                run_placement = measured_placement(
                    placement, own_points(inventory), model_id, quant_id, choice.engine.id
                )
            run_estimate = choice.estimate
            if placement is None:
                warnings.append(
                    f"{rec.option.model.id} {rec.option.quant.id}: no placement of {choice.download.name} fits this "
                    "machine by the estimate"
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
        run_plan=the_plan,
        run_estimate=run_estimate,
    )


def chosen_for_run(
    option: Option,
    inventory: Inventory,
    catalog: Catalog,
    context_tokens: int,
    chosen: EstimateOptions,
    model_dir: str | None,
) -> Choice | None:
    """The download and engine a recommendation judged on the table's figures (``--sizes table``) runs on here: the
    rules' verdict stays the article's, the run block is still a real file on a real engine (rule 11)."""
    from vram_advisor.catalog.engines import platform_of
    from vram_advisor.plan.choose import choose
    from vram_advisor.plan.rules import machine_of

    view = est.machine_view(inventory, chosen.ram_bw, chosen.disk_bw, model_dir)
    try:
        model = catalog.model(option.model.id)
        row = model.quant(option.quant.id)
        return choose(
            model,
            row,
            machine_of(inventory),
            view,
            platform_of(view.gpus),
            catalog.engines,
            context_tokens,
            chosen.kv_dtype,
            chosen.sequences,
        )
    except UsageError:
        return None


def verdict_placement(estimate: est.Estimate, kind: str, option: Option) -> est.Placement | None:
    """Where the recommendation runs by its estimate: the GPU placement for ``local``; for ``offload`` the placement
    the verdict named (rule 9), else the best that fits."""
    if kind == "local":
        return estimate.gpu
    named = next((p for p in estimate.placements if p.kind == option.placement and p.fits), None)
    return named or estimate.best
