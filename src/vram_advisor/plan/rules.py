"""The planner: the contract's rules 1-8 as pure functions over integer bytes.

Input is an ``Inventory`` (already filtered to the GPUs this process may use) and the ``Catalog``; output is a
``Plan``: the fit of every option, the recommendation, the stretch, the tier, the fallback and the ``--require``
answer. Nothing here reads the machine, the environment or the network.

Records that nothing compares are declared ``eq=False`` (identity): each generated ``__eq__``/``__hash__``
costs start-up time on every run (bench/startup.py).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vram_advisor.catalog.api import ApiOption
from vram_advisor.catalog.profiles import (
    EXPERIMENTAL_ORDER,
    NON_EXPERIMENTAL_ORDER,
    Catalog,
    LocalModel,
    ModelProfile,
    QuantRow,
    TierRow,
)
from vram_advisor.core import units
from vram_advisor.core.errors import UsageError
from vram_advisor.core.policy import os_reserve_bytes
from vram_advisor.core.records import Record
from vram_advisor.inventory.model import Disk, Inventory

COMFORTABLE = "comfortable"
MINIMUM = "minimum"
OFFLOAD = "offload"
NONE = "none"
FITS = (COMFORTABLE, MINIMUM, OFFLOAD, NONE)


#: A smaller local model "fits" where its file plus this share on top (KV cache for an ordinary context, compute
#: buffers, CUDA context) fits. 1.2 is the factor the vLLM recipes use for ``vram_minimum_gb``
#: (deepseek-v4-facts.md §1.1).
SMALL_MODEL_HEADROOM = 1.2


@dataclass(frozen=True, repr=False)
class Machine(Record):
    """What the planner needs to know about a machine, in bytes."""

    usable_vram_bytes: int
    spare_ram_bytes: int
    gpu_count: int
    unified: bool = False


@dataclass(frozen=True, eq=False, repr=False)
class Option(Record):
    """One model x quantization with its verdict on this machine.

    ``quant`` is the row that was judged: the article's row (``--sizes table``), or under rule 9 that row with its
    figures raised to what the real download needs; ``table_quant`` and ``table_fit`` are the article's own.
    ``placement`` says where it runs when it fits: gpu, unified, gpu+ram or cpu (None for ``none``).
    """

    model: ModelProfile
    quant: QuantRow
    fit: str
    rank: int
    table_fit: str | None = None
    placement: str | None = None
    table_quant: QuantRow | None = None

    @property
    def experimental(self) -> bool:
        return self.quant.experimental

    @property
    def key(self) -> tuple[str, str]:
        return (self.model.id, self.quant.id)


@dataclass(frozen=True, eq=False, repr=False)
class Recommendation(Record):
    """What to run: ``kind`` is local, offload or api; ``option`` is None for api."""

    kind: str
    option: Option | None
    reason: str


@dataclass(frozen=True, eq=False, repr=False)
class SmallModelFit(Record):
    """A smaller local model that fits, and where it runs (gpu, gpu+ram or cpu)."""

    model: LocalModel
    runs_on: str


@dataclass(frozen=True, eq=False, repr=False)
class Requirement(Record):
    """The ``--require`` answer (contract rule 8)."""

    option: Option
    fits: bool
    reason: str
    disk: Disk | None
    checks: tuple[tuple[str, bool | None, str], ...]


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


# ------------------------------------------------------------------------------------------------ machine


def usable_vram_bytes(inventory: Inventory, free: bool = False) -> int:
    """Contract rule 2: the sum over the GPUs this process may use of total less reserved memory.

    GPUs marked ``visible: false`` (hidden by CUDA_VISIBLE_DEVICES) do not count. With ``free`` (``check --free``)
    each GPU counts its free memory instead, or its capacity where free memory is unknown.
    """
    visible = inventory.visible_gpus
    if free:
        return sum(
            gpu.capacity_bytes if gpu.memory_free_bytes is None else min(gpu.capacity_bytes, gpu.memory_free_bytes)
            for gpu in visible
        )
    return sum(gpu.capacity_bytes for gpu in visible)


def spare_ram_bytes(inventory: Inventory) -> int:
    """System RAM the machine can spare for offloaded weights.

    The effective RAM (host RAM, or the container limit when smaller) less the OS reserve. A GPU with unified
    memory already counts that RAM as its VRAM, so it is never counted twice: such machines spare nothing more.
    """
    visible = inventory.visible_gpus
    if any(gpu.unified for gpu in visible):
        return 0
    effective = inventory.ram.effective_bytes
    return max(0, effective - os_reserve_bytes(effective))


def machine_of(inventory: Inventory, free: bool = False) -> Machine:
    visible = inventory.visible_gpus
    return Machine(
        usable_vram_bytes=usable_vram_bytes(inventory, free),
        spare_ram_bytes=spare_ram_bytes(inventory),
        gpu_count=len(visible),
        unified=any(gpu.unified for gpu in visible),
    )


# ------------------------------------------------------------------------------------------------ options


def candidates(catalog: Catalog, base: bool) -> tuple[ModelProfile, ModelProfile]:
    """Contract rule 4: the two models considered, large then small (Pro, Flash; or their Base models)."""
    if base:
        return catalog.model("deepseek-v4-pro-base"), catalog.model("deepseek-v4-flash-base")
    return catalog.model("deepseek-v4-pro"), catalog.model("deepseek-v4-flash")


def ranking(large: ModelProfile, small: ModelProfile) -> list[tuple[ModelProfile, QuantRow]]:
    """Contract rule 4: pro fp8..q4, flash fp8..q4, then pro q3, flash q3, pro q2, flash q2."""
    ranked = [(model, model.quant(q)) for model in (large, small) for q in NON_EXPERIMENTAL_ORDER]
    ranked += [(model, model.quant(q)) for q in EXPERIMENTAL_ORDER for model in (large, small)]
    return ranked


def fit_of(quant: QuantRow, machine: Machine) -> str:
    """Contract rule 3 (and the offload case of rule 5) for one option."""
    if units.meets(machine.usable_vram_bytes, quant.safer_vram_bytes):
        return COMFORTABLE
    if units.meets(machine.usable_vram_bytes, quant.min_vram_bytes):
        return MINIMUM
    if units.meets(machine.usable_vram_bytes + machine.spare_ram_bytes, quant.min_vram_bytes):
        return OFFLOAD
    return NONE


def ranking_of(models: Sequence[ModelProfile]) -> list[tuple[ModelProfile, QuantRow]]:
    """Rule 4 for any models (``check --model``): each model's non-experimental rows in table order, model by
    model, then the experimental rows quantization by quantization. For (pro, flash) it is ``ranking``."""
    order = {q: i for i, q in enumerate(NON_EXPERIMENTAL_ORDER + EXPERIMENTAL_ORDER)}
    rows = [(m, r) for m in models for r in sorted(m.quants, key=lambda r: order.get(r.id, len(order)))]
    ranked = [(m, r) for m, r in rows if not r.experimental]
    ranked += sorted(((m, r) for m, r in rows if r.experimental), key=lambda pair: order.get(pair[1].id, len(order)))
    return ranked


#: Rule 9's judge of one option: (model, the article's row) -> (the row raised to the real need, fit, placement).
Judge = Callable[[ModelProfile, QuantRow], tuple[QuantRow, str, str | None]]


def table_placement(fit: str, machine: Machine) -> str | None:
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
    row, fit, placement = judge(model, quant)
    return Option(model, row, fit, rank, table_fit, placement, quant)


def evaluate(
    catalog: Catalog, machine: Machine, base: bool = False, models: Sequence[str] = (), judge: Judge | None = None
) -> tuple[Option, ...]:
    """Every option of the candidates (rule 4), or of ``models`` when given, with its fit."""
    if models:
        ranked = ranking_of(list({m.id: m for m in (catalog.model(model_id) for model_id in models)}.values()))
    else:
        ranked = ranking(*candidates(catalog, base))
    return tuple(judged_option(model, quant, machine, rank, judge) for rank, (model, quant) in enumerate(ranked))


def option_for(catalog: Catalog, machine: Machine, model_id: str, quant_id: str, judge: Judge | None = None) -> Option:
    """Any model's option (Base models included), ranked within its own pair."""
    model = catalog.model(model_id)
    quant = model.quant(quant_id.strip().lower())
    for option in evaluate(catalog, machine, base=model.base, judge=judge):
        if option.key == (model.id, quant.id):
            return option
    return judged_option(model, quant, machine, -1, judge)


# ------------------------------------------------------------------------------------------- rules 5 to 7


def _first(options: Sequence[Option], fit: str, experimental: bool) -> Option | None:
    return next((o for o in options if o.fit == fit and o.experimental == experimental), None)


def recommend(options: Sequence[Option], machine: Machine) -> Recommendation:
    """Contract rule 5."""
    usable = units.format_gib(machine.usable_vram_bytes)
    chosen = _first(options, COMFORTABLE, False)
    if chosen:
        return Recommendation(
            "local",
            chosen,
            f"{usable} of usable VRAM meets the safer figure for {_label(chosen)} "
            f"({units.format_gb(chosen.quant.safer_vram_gb)})",
        )
    chosen = _first(options, MINIMUM, False)
    if chosen:
        return Recommendation(
            "local",
            chosen,
            f"{usable} of usable VRAM meets the minimum for {_label(chosen)} "
            f"({units.format_gb(chosen.quant.min_vram_gb)}) but not its safer figure "
            f"({units.format_gb(chosen.quant.safer_vram_gb)}): expect little room for context",
        )
    chosen = _first(options, COMFORTABLE, True)
    if chosen:
        return Recommendation(
            "local",
            chosen,
            f"only an experimental low-bit build fits: {usable} of usable VRAM meets the safer figure for "
            f"{_label(chosen)} ({units.format_gb(chosen.quant.safer_vram_gb)}), with clear quality risk",
        )
    chosen = next((o for o in options if not o.experimental and o.fit == OFFLOAD), None)
    spare = units.format_gib(machine.spare_ram_bytes)
    if chosen:
        where = "beside the GPUs" if machine.usable_vram_bytes else "on the CPU alone"
        return Recommendation(
            "offload",
            chosen,
            f"{_label(chosen)} needs {units.format_gb(chosen.quant.min_vram_gb)}; {usable} of VRAM plus {spare} of "
            f"spare system RAM cover it, so it can run with weights offloaded to RAM {where} (slowly)",
        )
    smallest = min((o for o in options if not o.experimental), key=lambda o: o.quant.min_vram_bytes, default=None)
    need = (
        f"; the smallest, {_label(smallest)}, needs {units.format_gb(smallest.quant.min_vram_gb)}" if smallest else ""
    )
    experimental = next((o for o in options if o.experimental and o.fit != NONE), None)
    risky = ""
    if experimental is not None:
        how = "with offload" if experimental.fit == OFFLOAD else f"at its {experimental.fit}"
        risky = f" (only the experimental {_label(experimental)} would load, {how}, with clear quality risk)"
    return Recommendation(
        "api",
        None,
        f"no non-experimental DeepSeek V4 option fits in {usable} of usable VRAM plus {spare} of spare system RAM"
        f"{need}{risky}",
    )


def stretch_of(options: Sequence[Option], recommendation: Recommendation) -> Option | None:
    """Contract rule 6: the best-ranked option that meets its minimum and ranks above the recommendation."""
    limit = recommendation.option.rank if recommendation.option else len(options)
    return next((o for o in options if o.rank < limit and o.fit in (COMFORTABLE, MINIMUM)), None)


def next_up_of(options: Sequence[Option], recommendation: Recommendation, stretch: Option | None) -> Option | None:
    """What is just out of reach: the cheapest option ranked above everything that loads here."""
    reached = [o.rank for o in (stretch, recommendation.option) if o is not None and o.fit in (COMFORTABLE, MINIMUM)]
    limit = min(reached) if reached else len(options)
    above = [o for o in options if o.rank < limit and o.fit not in (COMFORTABLE, MINIMUM)]
    return min(above, key=lambda o: (o.quant.min_vram_bytes, o.rank), default=None)


def tier_of(catalog: Catalog, usable_bytes: int) -> TierRow | None:
    """Contract rule 7: the largest Quick Summary row that usable VRAM meets, or None below the smallest."""
    met = [row for row in catalog.quick_summary if units.meets(usable_bytes, row.vram_bytes)]
    return max(met, key=lambda row: row.vram_bytes, default=None)


def small_models(catalog: Catalog, machine: Machine) -> tuple[SmallModelFit, ...]:
    """The catalogue's smaller models that fit here, largest first, and where each would run."""
    out = []
    for model in catalog.local_models:
        need = int(model.size_bytes * SMALL_MODEL_HEADROOM)
        if machine.usable_vram_bytes and need <= machine.usable_vram_bytes:
            out.append(SmallModelFit(model, "gpu"))
        elif need <= machine.usable_vram_bytes + machine.spare_ram_bytes:
            out.append(SmallModelFit(model, "gpu+ram" if machine.usable_vram_bytes else "cpu"))
    return tuple(out)


# --------------------------------------------------------------------------------------------------- rule 8


def select_disk(inventory: Inventory, model_dir: str | None) -> Disk | None:
    """The disk under ``model_dir``: the inventory disk whose path is the longest prefix of it.

    Without ``model_dir`` it is the disk the probe marked as the model dir (or the only/first disk listed).
    """
    if not inventory.disks:
        return None
    if model_dir is None:
        return next((d for d in inventory.disks if d.model_dir), inventory.disks[0])
    wanted = posixpath.normpath(model_dir)  # "/models/../etc" is under "/", not "/models"
    best: Disk | None = None
    best_length = -1
    for disk in inventory.disks:
        for root in (disk.path, disk.mountpoint):
            if not root:
                continue
            root = root.rstrip("/") or "/"
            inside = root == "/" or wanted == root or wanted.startswith(root + "/")
            if inside and len(root) > best_length:
                best, best_length = disk, len(root)
    return best


def requirement(
    option: Option,
    machine: Machine,
    disk: Disk | None,
    allow_offload: bool,
    weights_bytes: int | None = None,
    *,
    disk_what: str = "weights",
    disk_detail: str | None = None,
    vram_word: str = "usable",
) -> Requirement:
    """Contract rule 8: VRAM (or RAM with --allow-offload) and room on the disk for the weights.

    Each check carries its figures. ``disk_what``/``disk_detail`` describe a disk need other than the table's
    weights (``check --repo``: the files to download); ``vram_word`` names the VRAM figure (usable, or free).
    """
    accepted = (COMFORTABLE, MINIMUM, OFFLOAD) if allow_offload else (COMFORTABLE, MINIMUM)
    need_weights = weights_bytes if weights_bytes is not None else option.quant.weights_bytes
    label = _label(option)
    vram_ok = option.fit in (COMFORTABLE, MINIMUM)
    usable = units.format_gib(machine.usable_vram_bytes)
    need = units.format_gb(option.quant.min_vram_gb)
    checks: list[tuple[str, bool | None, str]] = [
        (
            "vram",
            vram_ok,
            f"needs {need} (safer {units.format_gb(option.quant.safer_vram_gb)}); {usable} {vram_word}",
        )
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
    disk_ok: bool | None = None
    if disk is not None and disk.free_bytes is not None:
        disk_ok = disk.free_bytes >= need_weights
        checks.append(
            (
                "disk",
                disk_ok,
                f"{disk_detail or units.format_file_gb(need_weights) + ' of ' + disk_what}; "
                f"{units.format_file_gb(disk.free_bytes)} free under {disk.path}",
            )
        )
    else:
        checks.append(("disk", None, "free space under the model dir is unknown: not checked"))
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
        assert disk is not None and disk.free_bytes is not None
        reason = (
            f"{label} needs {units.format_file_gb(need_weights)} of disk for its {disk_what}, "
            f"{units.format_file_gb(disk.free_bytes)} free under {disk.path}"
        )
    elif option.fit == COMFORTABLE:
        reason = f"{label} fits comfortably: {usable} {vram_word}, safer figure {units.format_gb(option.quant.safer_vram_gb)}"
    elif option.fit == MINIMUM:
        reason = (
            f"{label} fits at the minimum: {usable} {vram_word}, minimum {need}, "
            f"safer {units.format_gb(option.quant.safer_vram_gb)}"
        )
    else:
        reason = (
            f"{label} fits with offload: {usable} {vram_word} VRAM plus {units.format_gib(machine.spare_ram_bytes)} "
            f"spare RAM cover its minimum of {need}"
        )
    return Requirement(option=option, fits=fits, reason=reason, disk=disk, checks=tuple(checks))


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
    recommendation = recommend(options, machine)
    stretch = stretch_of(options, recommendation)
    required = None
    if require is not None:
        wanted = (catalog.model(require[0]).id, require[1])
        option = next((o for o in options if o.key == wanted), None) or option_for(
            catalog, machine, *require, judge=judge
        )
        required = requirement(
            option, machine, select_disk(inventory, model_dir), allow_offload, vram_word="free" if free else "usable"
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
    )


def parse_requirement(text: str) -> tuple[str, str]:
    """``MODEL:QUANT`` (case-insensitive) as a pair of lower-case ids; the catalogue checks that they exist."""
    model, sep, quant = text.strip().partition(":")
    if not sep or not model.strip() or not quant.strip():
        raise UsageError(f"--require {text!r}: expected MODEL:QUANT, e.g. deepseek-v4-flash:q4")
    return model.strip().lower(), quant.strip().lower()
