"""The one line the default ``check`` adds about a newer line of a candidate: a model whose profile says it
``succeeds`` one (catalog/lineup.py), outside the article and the contract's rule-4 candidates, planned by the same
rules on its real sizes, mentioned when it would run on this machine where its predecessor would not, or faster. Each model "runs" as its best-ranked option with a placement that fits
by the estimate (all on the GPUs where the option loads from VRAM, else the first fitting placement in memory:
streaming weights from the disk is a last resort, not "running here"); the speed is that placement's decode
estimate. Pure: reads the plan, the estimates and the catalogue.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from vram_advisor.catalog.profiles import Catalog, ModelProfile
from vram_advisor.core.errors import UsageError
from vram_advisor.core.records import Record, dataclass
from vram_advisor.inventory.model import Inventory
from vram_advisor.plan import estimate as est
from vram_advisor.plan.rules import COMFORTABLE, MINIMUM, Judge, Option, plan


@dataclass(frozen=True, eq=False, repr=False)
class RunsAs(Record):
    """How a model would run here: its option, the placement and the decode estimate (tokens/s, None: unknown)."""

    model: str
    name: str
    quant: str
    placement: est.Placement

    @property
    def speed(self) -> float | None:
        return self.placement.tokens_per_s_estimate

    def words(self) -> str:
        speed = f", ≈{self.speed:.0f} tok/s" if self.speed is not None else ", speed unknown"
        return f"{self.quant.upper()} {est.PLACEMENT_LABELS[self.placement.kind].split(':')[0]}{speed}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "quant": self.quant,
            "placement": self.placement.kind,
            "decode_tokens_per_s_estimate": est.round_rate(self.speed),
        }


def runs_as(
    options: Sequence[Option], estimates: Mapping[tuple[str, str], est.Estimate], model_id: str
) -> RunsAs | None:
    """``model_id``'s best-ranked option that runs here by the estimate, or None when none does."""
    for option in sorted((o for o in options if o.model.id == model_id), key=lambda o: o.rank):
        estimate = estimates.get(option.key)
        if estimate is None:
            continue
        gpu = estimate.gpu
        if option.fit in (COMFORTABLE, MINIMUM) and gpu is not None and gpu.fits is not False:
            return RunsAs(model_id, option.model.short_name, option.quant.id, gpu)
        best = est.best_placement([p for p in estimate.placements if p.kind != est.PLACEMENT_NVME])
        if best is not None:
            return RunsAs(model_id, option.model.short_name, option.quant.id, best)
    return None


@dataclass(frozen=True, eq=False, repr=False)
class FamilyNote(Record):
    """The successor's line and what it compares."""

    line: str
    newer: RunsAs
    older: RunsAs | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            **self.newer.as_dict(),
            "compared_with": None if self.older is None else self.older.as_dict(),
        }


#: "Faster" means by more than the estimate's own resolution: a quarter, not a per-layer floor's few percent.
FASTER_MARGIN = 1.25


def successor_note(
    main_plan_options: Sequence[Option],
    main_estimates: Mapping[tuple[str, str], est.Estimate],
    inventory: Inventory,
    catalog: Catalog,
    context_tokens: int,
    kv_dtype: str = "bf16",
    machine: est.MachineView | None = None,
    model_dir: str | None = None,
    judge: Judge | None = None,
    sizes: str = "table",
    judged: Callable[[], Mapping[tuple[str, str], est.Estimate]] | None = None,
    sequences: int = 1,
) -> FamilyNote | None:
    """The line when the first successor of a candidate would run here where its predecessor would not, or faster;
    None otherwise (or when no model succeeds a candidate, or the context is beyond the successor)."""
    found = successor(catalog)
    if found is None:
        return None
    newer_model, older_model = found
    try:
        est.check_context(newer_model, context_tokens)
    except UsageError:
        return None
    newer_plan = plan(inventory, catalog, models=(newer_model.id,), model_dir=model_dir, judge=judge)
    view = machine or est.machine_view(inventory, model_dir=model_dir)
    known = judged() if judged is not None else {}  # the estimates ``judge`` made while planning: not again
    estimates = {
        option.key: known.get(option.key)
        or est.estimate_option(
            option.model, option.table_quant or option.quant, context_tokens, view, kv_dtype, sizes, sequences=sequences
        )
        for option in newer_plan.options
    }
    newer = runs_as(newer_plan.options, estimates, newer_model.id)
    if newer is None:
        return None
    older = runs_as(main_plan_options, main_estimates, older_model.id)
    hint = f"plan it with: vram-advisor check --model {newer_model.id}"
    if older is None:
        note = newer_model.succeeds.note if newer_model.succeeds is not None else None
        line = (
            f"{newer.name} (newer than the article{'; ' + note if note else ''}) would run here where "
            f"{older_model.short_name} would not: {newer.words()}; {hint}"
        )
        return FamilyNote(line, newer, None)
    if newer.speed is not None and older.speed is not None and newer.speed > older.speed * FASTER_MARGIN:
        line = (
            f"{newer.name} (newer than the article) would run faster here: {newer.words()}, against "
            f"{older_model.short_name} {older.words()}; {hint}"
        )
        return FamilyNote(line, newer, older)
    return None


def successor(catalog: Catalog) -> tuple[ModelProfile, ModelProfile] | None:
    """(the first model that ``succeeds`` one of the default candidates, that candidate), or None."""
    if catalog.candidates is None:
        return None
    wanted = catalog.candidates.models
    for model in catalog.models:
        if model.succeeds is not None and model.succeeds.model in wanted:
            return model, catalog.model(model.succeeds.model)
    return None
