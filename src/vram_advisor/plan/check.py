"""``check`` as one pure function: ``check(inventory, catalog, CheckOptions) -> CheckReport``.

No environment, no I/O, no network: the inventory (probed or read, what-ifs and visibility applied), the catalog
and the parsed options go in; one typed report comes out, which every format reads (JSON in ``report.check``, the
human view in ``render.human``, ``/metrics``, MCP). A Hub download (``--repo``) comes in as data, the listing the
caller asked the Hub for (``catalog.listing.RepoListing``); ``plan.repocheck`` folds it into the plan before the
estimates, so the estimates and the run command are computed on the revised plan.
"""

from __future__ import annotations

from dataclasses import field, replace
from functools import partial
from typing import TYPE_CHECKING

from vram_advisor.catalog.engines import platform_of
from vram_advisor.catalog.profiles import Catalog
from vram_advisor.core import units
from vram_advisor.core.errors import UsageError
from vram_advisor.core.records import Record, dataclass
from vram_advisor.inventory.model import Inventory, all_notes
from vram_advisor.plan import occupancy
from vram_advisor.plan.capacity import Capacity, capacity
from vram_advisor.plan.check_estimates import CheckEstimates, EstimateOptions, estimate_check
from vram_advisor.plan.family import FamilyNote
from vram_advisor.plan.rules import Plan, Recommendation, file_disk, machine_of, need_text, plan

if TYPE_CHECKING:  # only --repo reads them (imported there), so a plain check stays lean
    from vram_advisor.catalog.derive import DerivedNeed
    from vram_advisor.catalog.listing import RepoListing

#: ``--context`` when none is given.
DEFAULT_CONTEXT_TOKENS = 32 * 1024


@dataclass(frozen=True, eq=False, repr=False)
class CheckOptions(Record):
    """Everything ``check`` can be asked, parsed: sizes in bytes, tokens as integers, ids validated by ``check``.

    The front ends (CLI, HTTP query, MCP tool) parse their strings into this once (``service.CheckRequest.options``).
    """

    context_tokens: int = DEFAULT_CONTEXT_TOKENS
    base: bool = False
    require: tuple[str, str] | None = None
    allow_offload: bool = False
    free: bool = False
    models: tuple[str, ...] = ()
    model_dir: str | None = None
    estimate: EstimateOptions = field(default_factory=EstimateOptions)
    #: ``--release``: the release judged for every model that has it (None: each model's newest official one).
    release: str | None = None
    #: The CUDA_VISIBLE_DEVICES that selected the GPUs (None where unset or ignored with --all-gpus); reported only.
    cuda_visible_devices: str | None = None


@dataclass(frozen=True, eq=False, repr=False)
class CheckReport(Record):
    """The one result of ``check``: what was judged, the verdict, the estimates and what to tell the user."""

    options: CheckOptions
    inventory: Inventory
    plan: Plan
    estimates: CheckEstimates
    #: Warnings shown after the verdict: GPU memory held by other processes, estimate warnings.
    warnings: tuple[str, ...]
    #: Notes: the inventory's, then those of ``--free`` and of the download.
    notes: tuple[str, ...]
    #: ``--free`` only: what grading on free memory means here (also among ``notes``).
    free_memory_notes: tuple[str, ...] | None = None
    #: ``--repo`` only: the Hub listing, and the need derived from it where no table row names the repo.
    download: RepoListing | None = None
    derived: DerivedNeed | None = None
    #: Under rule 9 (the default), the plan the article's figures alone give (``--sizes table``), for comparison.
    table_plan: Plan | None = None
    #: One line where ``table_plan`` answers otherwise (``table_note``); None where they agree or without one.
    table_note: str | None = None
    #: The DeepSeek-V4.1-Flash line of a default check (``plan.family``), where it applies.
    family: FamilyNote | None = None
    #: How many users the recommendation serves (``--users``): None where nothing runs here.
    capacity: Capacity | None = None
    #: With ``--users N`` where nothing runs for N: the capacity of what runs for one user.
    capacity_for_one: Capacity | None = None

    @property
    def visible_gpus(self) -> tuple[int, ...]:
        """The indexes of the GPUs that were counted."""
        return tuple(
            gpu.index if gpu.index is not None else position
            for position, gpu in enumerate(self.inventory.gpus)
            if gpu.visible
        )

    @property
    def graded_on(self) -> str:
        return "free_memory" if self.options.free else "capacity"


def validate(options: CheckOptions, catalog: Catalog) -> None:
    """The checks of the options that need the catalog: a bad one is a UsageError naming the option."""
    if options.require is not None:
        try:
            catalog.model(options.require[0]).quant(options.require[1])
        except UsageError as exc:
            raise UsageError(f"--require: {exc}") from None
    if options.models and options.base:
        raise UsageError("--model and --base cannot be combined: --model names the models to plan")
    for model_id in options.models:
        catalog.model(model_id)


def catalogs(catalog: Catalog, options: CheckOptions) -> tuple[Catalog, Catalog]:
    """The catalog with ``--release`` chosen, and the one the rules judge (with ``--sizes published``, the published
    files' figures); the options that need a catalog are validated on it (a UsageError names the option)."""
    from vram_advisor.catalog.releases import with_release

    released = with_release(catalog, options.release)
    judged = released
    if options.estimate.sizes == "published":
        from vram_advisor.catalog.published import published_catalog

        judged = published_catalog(released)
    validate(options, judged)
    return released, judged


def check(
    inventory: Inventory,
    catalog: Catalog,
    options: CheckOptions,
    *,
    download: RepoListing | None = None,
) -> CheckReport:
    """Plan ``inventory`` against ``catalog`` (the table's catalog; ``--sizes`` picks the figures judged), with
    ``download`` (``--repo``: the Hub's listing) judged as the requirement (``plan.repocheck``)."""
    asked = catalog
    catalog, judged = catalogs(catalog, options)
    if download is not None:
        from vram_advisor.plan import repocheck

        repocheck.check_loadable(download, catalog.engines, platform_of(inventory.gpus))
    judge, made = None, None
    if options.estimate.sizes == "real":
        from vram_advisor.plan.realfit import judge_for

        machine = machine_of(inventory, options.free)
        judge, made = judge_for(
            inventory,
            machine,
            catalog.engines,
            options.context_tokens,
            options.estimate.kv_dtype,
            options.estimate.ram_bw,
            options.estimate.disk_bw,
            options.model_dir,
            options.estimate.sequences,
        )
    plan_here = partial(
        plan,
        inventory,
        base=options.base,
        require=options.require,
        allow_offload=options.allow_offload,
        model_dir=options.model_dir,
        free=options.free,
        models=options.models,
    )
    result = plan_here(judged, judge=judge)
    table_plan = plan_here(catalog) if judge is not None else None
    derived: DerivedNeed | None = None
    download_notes: tuple[str, ...] = ()
    if download is not None:
        result, derived = repocheck.apply_download(
            result,
            download,
            judged,
            inventory,
            model_dir=options.model_dir,
            allow_offload=options.allow_offload,
            models=options.models,
            vram_word="free" if options.free else "usable",
        )
        download_notes = tuple(repocheck.notes_of(download))
    warnings: list[str] = []
    free_notes: tuple[str, ...] | None = None
    if options.free:
        free_notes = (
            "graded on free memory (--free): usable VRAM is what the visible GPUs had free when probed",
            *occupancy.unknown_free_notes(inventory),
        )
    else:
        warning = occupancy.load_warning(result, inventory)
        if warning:
            warnings.append(warning)
    estimates = estimate_check(
        result,
        inventory,
        catalog,
        options.context_tokens,
        options.estimate,
        options.model_dir,
    )
    warnings.extend(estimates.warnings)
    result = _disk_of_run(result, estimates, inventory, options.model_dir)
    family = None
    if not options.models and not options.base and download is None:
        from vram_advisor.plan.family import successor_note

        family = successor_note(
            result.options,
            estimates.options,
            inventory,
            catalog,
            estimates.context_tokens,
            estimates.kv_dtype,
            estimates.machine,
            options.model_dir,
            judge=judge,
            sizes=options.estimate.sizes,
            judged=(lambda: {key: choice.estimate for key, choice in made().items()}) if made is not None else None,
            sequences=options.estimate.sequences,
        )
    run_capacity = None
    if estimates.run_placement is not None and estimates.run_estimate is not None:
        run_capacity = capacity(estimates.run_placement, estimates.run_estimate, estimates.machine)
    for_one = None
    if run_capacity is None and options.estimate.sequences > 1:
        one = check(inventory, asked, replace(options, estimate=replace(options.estimate, sequences=1)))
        for_one = one.capacity
    return CheckReport(
        options=options,
        inventory=inventory,
        plan=result,
        estimates=estimates,
        warnings=tuple(warnings),
        notes=(*all_notes(inventory), *(free_notes or ()), *((family.line,) if family else ()), *download_notes),
        free_memory_notes=free_notes,
        download=download,
        derived=derived,
        table_plan=table_plan,
        table_note=table_note(table_plan, result) if table_plan is not None else None,
        family=family,
        capacity=run_capacity,
        capacity_for_one=for_one,
    )


def _key(recommendation: Recommendation) -> tuple[str, str | None, str | None]:
    option = recommendation.option
    return (recommendation.kind, option.model.id if option else None, option.quant.id if option else None)


def differs(table_plan: Plan, result: Plan) -> bool:
    """Whether the article's figures alone (``table_plan``) recommend otherwise than ``result``."""
    return _key(table_plan.recommendation) != _key(result.recommendation)


#: How ``table_note`` begins where the article names an option (the views print the rest beside "Article").
ARTICLE_PREFIX = "the article rates "


def table_note(table_plan: Plan, result: Plan) -> str | None:
    """One line where the article's figures alone would answer otherwise (rule 9), e.g. "the article rates V4-Flash
    Q2 comfortable at 64.0 GiB; its download needs 86.3 GiB"; None where they agree. ``CheckReport.table_note``:
    the JSON (``table_verdict.note``) and both views print it as it is."""
    if not differs(table_plan, result):
        return None
    table = table_plan.recommendation
    if table.option is None:
        return "by the article's figures alone nothing fits here; on the real files it does"
    chosen = table.option
    real = next((o for o in result.options if o.key == chosen.key), None)
    label = f"{chosen.model.short_name} {chosen.quant.id.upper()}"
    figure = chosen.quant.safer_vram_bytes if chosen.fit == "comfortable" else chosen.quant.min_vram_bytes
    words = {"comfortable": "comfortable", "minimum": "at its minimum", "offload": "with offload"}[chosen.fit]
    line = f"{ARTICLE_PREFIX}{label} {words} at {units.format_gib(figure)}"
    if real is not None and real.choice is not None:
        line += f"; its download needs {need_text(real.quant)}"
        if real.dominated_by is not None and real.dominance == "need":
            line += f", no less than {real.dominated_by.quant.id.upper()}"
    return line


def _disk_of_run(result: Plan, estimates: CheckEstimates, inventory: Inventory, model_dir: str | None) -> Plan:
    """Under ``--sizes table`` the recommendation has no download of its own, but its run block does: the disk line
    is that download's, so that the first screen and the block speak of one file (rule 11)."""
    rec, run = result.recommendation.option, estimates.run_plan
    if rec is None or rec.choice is not None or run is None or run.download.bytes is None:
        return result
    return replace(result, disk=file_disk(run.download, run.engine.id, inventory, model_dir, "its download"))
