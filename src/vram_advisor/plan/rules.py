"""The planner: the contract's rules 1-8 as pure functions over integer bytes.

Input is an ``Inventory`` (already filtered to the GPUs this process may use) and the ``Catalog``; output is a
``Plan``: the fit of every option, the recommendation, the stretch, the tier, the fallback and the ``--require``
answer. Nothing here reads the machine, the environment or the network.

Records that nothing compares are declared ``eq=False`` (identity): each generated ``__eq__``/``__hash__``
costs start-up time on every run (bench/startup.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from vram_advisor.catalog.api import ApiOption
from vram_advisor.catalog.downloads import ReferenceDownload
from vram_advisor.catalog.profiles import (
    Catalog,
    ModelProfile,
    QuantRow,
    TierRow,
)
from vram_advisor.core import units
from vram_advisor.core.records import Record, dataclass
from vram_advisor.inventory.model import Disk, Inventory
from vram_advisor.plan.choose import Choice
from vram_advisor.plan.disk import DiskCheck, download_disk
from vram_advisor.plan.dominance import mark_dominated
from vram_advisor.plan.fallbacks import SMALL_MODEL_HEADROOM, SmallModelFit, small_models, tier_of
from vram_advisor.plan.lineup import candidates, family_label, parse_requirement, ranking, ranking_of
from vram_advisor.plan.machine import (
    COMFORTABLE,
    FITS,
    MINIMUM,
    NONE,
    OFFLOAD,
    Fit,
    Kind,
    Machine,
    RunsOn,
    machine_of,
    spare_ram_bytes,
    usable_vram_bytes,
)
from vram_advisor.plan.needs import need_parts, need_text, safer_text, shortfall

#: The names other layers import from here (the rules' vocabulary lives in small modules beside this one).
__all__ = [
    "COMFORTABLE",
    "FITS",
    "MINIMUM",
    "NONE",
    "OFFLOAD",
    "SMALL_MODEL_HEADROOM",
    "Choice",
    "Machine",
    "SmallModelFit",
    "candidates",
    "family_label",
    "machine_of",
    "need_parts",
    "need_text",
    "parse_requirement",
    "ranking",
    "ranking_of",
    "safer_text",
    "shortfall",
    "small_models",
    "spare_ram_bytes",
    "tier_of",
    "usable_vram_bytes",
]


@dataclass(frozen=True, eq=False, repr=False)
class Option(Record):
    """One model x quantization with its verdict on this machine.

    ``quant`` is the row that was judged: the article's row (``--sizes table``), or under rule 9 that row with its
    figures raised to what the real download needs; ``table_quant`` and ``table_fit`` are the article's own.
    ``placement`` says where it runs when it fits: gpu, unified, gpu+ram or cpu (None for ``none``).
    """

    model: ModelProfile
    quant: QuantRow
    fit: Fit
    rank: int
    table_fit: Fit | None = None
    placement: RunsOn | None = None
    table_quant: QuantRow | None = None
    #: Rule 9: the download and engine it runs on here, and their estimate (None: judged on the table alone).
    choice: Choice | None = None
    #: Rule 10: the better-ranked option of the same model whose need is no larger (None: not dominated).
    dominated_by: Option | None = None

    @property
    def experimental(self) -> bool:
        return self.quant.experimental

    @property
    def dominance(self) -> str | None:
        """Why it is dominated: "need" (rule 10: a better-ranked option needs no more) or "same weights" (its file
        holds the weights of a better-ranked option that runs here); None where it is not."""
        if self.dominated_by is None:
            return None
        other, own = self.dominated_by.quant.need_bytes, self.quant.need_bytes
        return "need" if other is not None and own is not None and other <= own else "same weights"

    @property
    def eligible(self) -> bool:
        """May be recommended, stretched to or called out of reach (rule 10: not dominated)."""
        return self.dominated_by is None

    @property
    def key(self) -> tuple[str, str]:
        return (self.model.id, self.quant.id)


@dataclass(frozen=True, eq=False, repr=False)
class Recommendation(Record):
    """What to run: ``kind`` is local, offload or api; ``option`` is None for api."""

    kind: Kind
    option: Option | None
    reason: str


@dataclass(frozen=True, eq=False, repr=False)
class Requirement(Record):
    """The ``--require`` answer (contract rule 8)."""

    option: Option
    fits: bool
    reason: str
    disk: Disk | None
    checks: tuple[tuple[str, bool | None, str], ...]
    disk_check: DiskCheck | None = None


@dataclass(frozen=True, eq=False, repr=False)
class Plan(Record):
    """Everything ``check`` reports."""

    machine: Machine
    options: tuple[Option, ...]
    recommendation: Recommendation
    stretch: Option | None
    next_up: Option | None
    tier: TierRow | None
    small_models: tuple[SmallModelFit, ...]
    api: ApiOption | None
    advice: tuple[str, ...]
    required: Requirement | None
    base: bool
    #: The recommendation's download against the disk under the model dir (rule 11), where there is one.
    disk: DiskCheck | None = None


# ------------------------------------------------------------------------------------------------ machine


# ------------------------------------------------------------------------------------------------ options


def fit_of(quant: QuantRow, machine: Machine) -> Fit:
    """Contract rule 3 (and the offload case of rule 5) for one option: the table's figures at 98% (rule 1), and
    under rule 9 the row's need whole (``QuantRow.min_threshold_bytes``)."""
    if machine.usable_vram_bytes >= quant.safer_threshold_bytes:
        return COMFORTABLE
    if machine.usable_vram_bytes >= quant.min_threshold_bytes:
        return MINIMUM
    if machine.usable_vram_bytes + machine.spare_ram_bytes >= quant.min_threshold_bytes:
        return OFFLOAD
    return NONE


@dataclass(frozen=True, eq=False, repr=False)
class Judged(Record):
    """Rule 9's verdict on one option: the row raised to the real need, the fit, where it runs, and the download
    and engine it runs on (None where only the table's figures could judge it)."""

    row: QuantRow
    fit: Fit
    placement: RunsOn | None
    choice: Choice | None


#: Rule 9's judge of one option: (model, the article's row) -> its verdict on the real download.
Judge = Callable[[ModelProfile, QuantRow], Judged]


def table_placement(fit: Fit, machine: Machine) -> RunsOn | None:
    """Where an option judged on the table's figures runs (rules 3 and 5)."""
    if fit in (COMFORTABLE, MINIMUM):
        return "unified" if machine.unified else "gpu"
    if fit == OFFLOAD:
        return "gpu+ram" if machine.usable_vram_bytes else "cpu"
    return None


def judged_option(model: ModelProfile, quant: QuantRow, machine: Machine, rank: int, judge: Judge | None) -> Option:
    """One option judged on the table's figures (``judge`` None) or on its real download (rule 9)."""
    table_fit = fit_of(quant, machine)
    if judge is None:
        return Option(model, quant, table_fit, rank, table_fit, table_placement(table_fit, machine), quant)
    judged = judge(model, quant)
    return Option(model, judged.row, judged.fit, rank, table_fit, judged.placement, quant, judged.choice)


def evaluate(
    catalog: Catalog, machine: Machine, base: bool = False, models: Sequence[str] = (), judge: Judge | None = None
) -> tuple[Option, ...]:
    """Every option of the candidates (rule 4), or of ``models`` when given, with its fit."""
    if models:
        ranked = ranking_of(list({m.id: m for m in (catalog.model(model_id) for model_id in models)}.values()))
    else:
        ranked = ranking(*candidates(catalog, base))
    options = tuple(judged_option(model, quant, machine, rank, judge) for rank, (model, quant) in enumerate(ranked))
    return mark_dominated(options) if judge is not None else options


def option_for(catalog: Catalog, machine: Machine, model_id: str, quant_id: str, judge: Judge | None = None) -> Option:
    """Any model's option (Base models included), ranked within its own pair."""
    model = catalog.model(model_id)
    quant = model.quant(quant_id.strip().lower())
    for option in evaluate(catalog, machine, base=model.base, judge=judge):
        if option.key == (model.id, quant.id):
            return option
    return judged_option(model, quant, machine, -1, judge)


# ------------------------------------------------------------------------------------------- rules 5 to 7


def _first(options: Sequence[Option], fit: Fit, experimental: bool) -> Option | None:
    return next((o for o in options if o.fit == fit and o.experimental == experimental and o.eligible), None)


def recommend(options: Sequence[Option], machine: Machine, real: bool = False, label: str = "") -> Recommendation:
    """Contract rule 5 (dominated options are never recommended, rule 10). Under rule 9 (``real``) one step more:
    failing offload, the best-ranked experimental option that meets its minimum, before the API. ``label`` names
    the candidates in the API's reason (``family_label``)."""
    usable = units.format_gib(machine.usable_vram_bytes)
    chosen = _first(options, COMFORTABLE, False)
    if chosen:
        return Recommendation(
            "local",
            chosen,
            f"{usable} of usable VRAM meets the safer figure for {_label(chosen)} ({safer_text(chosen.quant)}; "
            f"it needs {need_text(chosen.quant)})",
        )
    chosen = _first(options, MINIMUM, False)
    if chosen:
        return Recommendation(
            "local",
            chosen,
            f"{usable} of usable VRAM meets the minimum for {_label(chosen)} ({need_text(chosen.quant)}) but not its "
            f"safer figure ({safer_text(chosen.quant)}): expect little room for context",
        )
    chosen = _first(options, COMFORTABLE, True)
    if chosen:
        return Recommendation(
            "local",
            chosen,
            f"only an experimental low-bit build fits: {usable} of usable VRAM meets the safer figure for "
            f"{_label(chosen)} ({safer_text(chosen.quant)}; it needs {need_text(chosen.quant)}), with clear quality "
            "risk",
        )
    chosen = _first(options, OFFLOAD, False)
    spare = units.format_gib(machine.spare_ram_bytes)
    if chosen:
        return Recommendation("offload", chosen, offload_reason(chosen, machine))
    chosen = _first(options, MINIMUM, True) if real else None
    if chosen:
        return Recommendation(
            "local",
            chosen,
            f"only an experimental low-bit build fits, at its minimum: {usable} of usable VRAM meets what "
            f"{_label(chosen)} needs ({need_text(chosen.quant)}) but not its safer figure ({safer_text(chosen.quant)}): "
            "clear quality risk and little room for context",
        )
    smallest = min(
        (o for o in options if not o.experimental and o.eligible), key=lambda o: o.quant.judged_min_bytes, default=None
    )
    need = f"; the smallest, {_label(smallest)}, needs {need_text(smallest.quant)}" if smallest else ""
    experimental = next((o for o in options if o.experimental and o.fit != NONE and o.eligible), None)
    risky = ""
    if experimental is not None:
        how = "with offload" if experimental.fit == OFFLOAD else f"at its {experimental.fit}"
        risky = f" (only the experimental {_label(experimental)} would load, {how}, with clear quality risk)"
    return Recommendation(
        "api",
        None,
        f"no non-experimental {label + ' ' if label else ''}option fits in {usable} of usable VRAM plus {spare} of spare system RAM"
        f"{need}{risky}",
    )


def offload_reason(option: Option, machine: Machine) -> str:
    """Why ``option`` runs with weights in system RAM: its need, then ``offload_how``."""
    return f"{_label(option)} needs {need_text(option.quant)}; {offload_how(option, machine)}"


def offload_how(option: Option, machine: Machine) -> str:
    """How ``option`` fits with weights in system RAM. Under rule 9 (its ``choice``): the split it runs as, which
    may fit where its need as one sum (the article's minimum among it) is more than VRAM and spare RAM together (the
    experts of some layers stay on the GPUs); by the article's figures alone (rule 5): VRAM plus spare RAM."""
    usable, spare = units.format_gib(machine.usable_vram_bytes), units.format_gib(machine.spare_ram_bytes)
    where = "beside the GPUs" if machine.usable_vram_bytes else "on the CPU alone"
    placement = None
    if option.choice is not None:
        placement = next((p for p in option.choice.estimate.placements if p.kind == option.placement and p.fits), None)
    if placement is None:
        return f"{usable} of VRAM plus {spare} of spare system RAM cover it, so it can run with weights offloaded to RAM {where} (slowly)"
    gpus = units.format_gib(placement.gpu_bytes)
    on_gpus = f"{gpus} on the GPUs ({usable} of VRAM) and " if placement.gpu_bytes else ""
    return (
        f"as it runs, {on_gpus}{units.format_gib(placement.ram_bytes)} in system RAM ({spare} to spare) fit, so it "
        f"can run with weights offloaded to RAM {where} (slowly)"
    )


def stretch_of(options: Sequence[Option], recommendation: Recommendation) -> Option | None:
    """Contract rule 6: the best-ranked option that meets its minimum and ranks above the recommendation (never a
    dominated one, rule 10)."""
    limit = recommendation.option.rank if recommendation.option else len(options)
    return next((o for o in options if o.rank < limit and o.fit in (COMFORTABLE, MINIMUM) and o.eligible), None)


def next_up_of(options: Sequence[Option], recommendation: Recommendation, stretch: Option | None) -> Option | None:
    """What is just out of reach: the cheapest option ranked above everything that loads here (never a dominated
    one, rule 10)."""
    reached = [o.rank for o in (stretch, recommendation.option) if o is not None and o.fit in (COMFORTABLE, MINIMUM)]
    limit = min(reached) if reached else len(options)
    above = [o for o in options if o.rank < limit and o.fit not in (COMFORTABLE, MINIMUM) and o.eligible]
    return min(above, key=lambda o: (o.quant.judged_min_bytes, o.rank), default=None)


def option_disk(option: Option, inventory: Inventory, model_dir: str | None) -> DiskCheck:
    """The disk check of ``option``'s download (rule 9: the file it runs on here; else the table's weights)."""
    choice = option.choice
    if choice is None:
        return download_disk(option.quant.weights_bytes, "its weights", inventory, model_dir)
    return file_disk(choice.download, choice.engine.id, inventory, model_dir, f"the download of {_label(option)}")


def file_disk(
    download: ReferenceDownload, engine_id: str, inventory: Inventory, model_dir: str | None, unnamed: str
) -> DiskCheck:
    """The disk check of ``download`` run by ``engine_id``, at the folder its run block downloads to (a conversion
    counts the checkpoint and the 16-bit GGUF it writes on the way); ``unnamed`` names a download without a name."""
    from vram_advisor.plan.steps import target_dir

    what = download.name or unnamed
    if download.conversion is not None:
        what += " (with the checkpoint it is made from and the 16-bit GGUF on the way)"
    return download_disk(
        download.disk_bytes,
        what,
        inventory,
        target_dir(download, engine_id, inventory, model_dir),
        repo=download.repo,
        files=download.files,
        converted=download.conversion is not None,
    )


def requirement(
    option: Option,
    machine: Machine,
    disk_check: DiskCheck,
    allow_offload: bool,
    *,
    vram_word: str = "usable",
) -> Requirement:
    """Contract rule 8 (and 11, 12): VRAM (or RAM with --allow-offload) and room on the disk for the download.

    Each check carries its figures; what the option needs is its judged minimum (rule 12). ``vram_word`` names
    the VRAM figure (usable, or free).
    """
    accepted = (COMFORTABLE, MINIMUM, OFFLOAD) if allow_offload else (COMFORTABLE, MINIMUM)
    label = _label(option)
    vram_ok = option.fit in (COMFORTABLE, MINIMUM)
    usable = units.format_gib(machine.usable_vram_bytes)
    need = need_text(option.quant)
    safer = safer_text(option.quant)
    checks: list[tuple[str, bool | None, str]] = [
        ("vram", vram_ok, f"needs {need} (safer {safer}); {usable} {vram_word}")
    ]
    if allow_offload:
        checks.append(
            (
                "ram",
                option.fit in accepted,
                f"needs {need}; {usable} {vram_word} VRAM + {units.format_gib(machine.spare_ram_bytes)} spare RAM = "
                f"{units.format_gib(machine.usable_vram_bytes + machine.spare_ram_bytes)}",
            )
        )
    disk_ok = disk_check.ok
    checks.append(("disk", disk_ok, disk_check.detail()))
    memory_ok = option.fit in accepted
    fits = memory_ok and disk_ok is not False
    if not memory_ok:
        have = (
            f"{usable} {vram_word} VRAM plus {units.format_gib(machine.spare_ram_bytes)} spare RAM"
            if allow_offload
            else f"{usable} {vram_word}"
        )
        reason = f"{label} needs {need}, this machine has {have}"
    elif disk_ok is False:
        assert disk_check.need_bytes is not None and disk_check.disk is not None
        reason = (
            f"{label} needs {units.format_file_gb(disk_check.need_bytes)} of disk for {disk_check.what}, "
            f"{units.format_file_gb(disk_check.disk.free_bytes)} free under {disk_check.where}"
        )
    elif option.fit == COMFORTABLE:
        reason = f"{label} fits comfortably: {usable} {vram_word}, it needs {need}, safer figure {safer}"
    elif option.fit == MINIMUM:
        reason = f"{label} fits at the minimum: {usable} {vram_word}, it needs {need}, safer {safer}"
    else:
        if option.choice is None:  # by the article's figures alone (rule 5): VRAM plus spare RAM
            reason = (
                f"{label} fits with offload: {usable} {vram_word} VRAM plus {units.format_gib(machine.spare_ram_bytes)} "
                f"spare RAM cover its need of {need}"
            )
        else:
            reason = f"{label} fits with offload: {offload_how(option, machine)}"
    return Requirement(
        option=option, fits=fits, reason=reason, disk=disk_check.disk, checks=tuple(checks), disk_check=disk_check
    )


# ---------------------------------------------------------------------------------------------------- plan


def _label(option: Option) -> str:
    return f"{option.model.id} {option.quant.id}"


def plan(
    inventory: Inventory,
    catalog: Catalog,
    *,
    base: bool = False,
    require: tuple[str, str] | None = None,
    allow_offload: bool = False,
    model_dir: str | None = None,
    models: Sequence[str] = (),
    free: bool = False,
    judge: Judge | None = None,
) -> Plan:
    """Apply rules 1-8 to one machine (to ``models`` instead of the rule-4 candidates when given).

    ``free`` grades on the GPUs' free memory instead of their capacity (``check --free``).
    """
    machine = machine_of(inventory, free)
    options = evaluate(catalog, machine, base, models, judge)
    recommendation = recommend(options, machine, real=judge is not None, label=family_label(catalog))
    stretch = stretch_of(options, recommendation)
    required = None
    if require is not None:
        wanted = (catalog.model(require[0]).id, require[1])
        option = next((o for o in options if o.key == wanted), None) or option_for(
            catalog, machine, *require, judge=judge
        )
        required = requirement(
            option,
            machine,
            option_disk(option, inventory, model_dir),
            allow_offload,
            vram_word="free" if free else "usable",
        )
    advice = next((a.lines for a in catalog.advice if a.applies(machine.usable_vram_bytes)), ())
    return Plan(
        machine=machine,
        options=options,
        recommendation=recommendation,
        stretch=stretch,
        next_up=next_up_of(options, recommendation, stretch),
        tier=tier_of(catalog, machine.usable_vram_bytes),
        small_models=small_models(catalog, machine),
        api=catalog.api,
        advice=advice,
        required=required,
        base=base,
        disk=option_disk(recommendation.option, inventory, model_dir) if recommendation.option else None,
    )
