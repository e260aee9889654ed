"""The impure edge of ``check``: a request of plain strings -> options, inventory (probe, file or given), the Hub
listing -> the pure ``plan.check.check`` -> one ``CheckReport``. The CLI, the HTTP agent and the MCP server all
call ``run_check``, so every front end gives the same answer for the same request."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from vram_advisor.catalog.profiles import Catalog, ModelProfile
from vram_advisor.catalog.userprofiles import default_catalog, report_broken
from vram_advisor.core import units
from vram_advisor.core.errors import UsageError
from vram_advisor.core.modeldir import model_dir_of
from vram_advisor.core.numbers import shown
from vram_advisor.core.records import Record, dataclass
from vram_advisor.inventory import model as inv
from vram_advisor.inventory import visibility, whatif
from vram_advisor.options import CHECK_OPTIONS, check_served_tokens, parse_context, parse_users, too_long
from vram_advisor.plan import check as core
from vram_advisor.plan.check import CheckOptions, CheckReport
from vram_advisor.plan.check_estimates import EstimateOptions
from vram_advisor.plan.rules import candidates, parse_requirement

if TYPE_CHECKING:
    from vram_advisor.catalog.listing import RepoListing


@dataclass(frozen=True, eq=False, repr=False)
class CheckRequest(Record):
    """Everything ``check`` can be asked, as the front ends receive it (strings); ``check_options`` parses it.

    Beside ``inventory`` (an inventory object handed in by a front end), one field per entry of the check option
    table ``options.CHECK_OPTIONS``, of the same name and default (``tests/architecture/test_front_ends.py``)."""

    inventory_path: str | None = None
    inventory: inv.Inventory | None = None
    model_dir: str | None = None
    gpus: str | None = None
    ram: str | None = None
    all_gpus: bool = False
    base: bool = False
    require: str | None = None
    allow_offload: bool = False
    context: str | None = None
    users: str | None = None
    kv_dtype: str = "bf16"
    sizes: str = "real"
    ram_bw: str | None = None
    disk_bw: str | None = None
    free: bool = False
    no_calibration: bool = False
    models: tuple[str, ...] = ()
    repo: str | None = None
    revision: str | None = None
    include: tuple[str, ...] = ()
    release: str | None = None


def models_in_play(catalog: Catalog, base: bool = False, models: Sequence[str] = ()) -> tuple[ModelProfile, ...]:
    """The models a check plans: those of ``--model``, else the rule-4 pair (or its Base models)."""
    if models:
        return tuple(catalog.model(model_id) for model_id in models)
    return candidates(catalog, base)


def check_context_in_play(text: str | None, context_tokens: int, models: Sequence[ModelProfile]) -> None:
    """A context no model in play takes is a usage error naming the longest one they take."""
    limits = [m.architecture.max_context_tokens for m in models if m.architecture is not None]
    if limits and len(limits) == len(models) and context_tokens > max(limits):
        raise UsageError(too_long(text or units.format_tokens(context_tokens), models))


def check_options(
    request: CheckRequest, environ: Mapping[str, str], in_play: Sequence[ModelProfile] | None = None
) -> CheckOptions:
    """The request's strings parsed once into ``CheckOptions`` (each bad value a UsageError naming its option);
    ``in_play``, the models the check plans, names the longest context when ``--context`` is beyond them all."""
    if request.repo is None and (request.revision is not None or request.include):
        raise UsageError("--revision and --include need --repo ORG/NAME")
    if request.repo is not None:
        from vram_advisor.hub.settings import check_revision

        check_revision(request.revision)
    model_dir_of(request.model_dir)
    context_tokens = parse_context(request.context, in_play)
    require = parse_requirement(request.require) if request.require is not None else None
    estimate = EstimateOptions.parse(
        request.kv_dtype, request.sizes, request.ram_bw, request.disk_bw, sequences=parse_users(request.users)
    )
    check_served_tokens(estimate.sequences, context_tokens)
    # the options plan/ takes as given, each named by its table entry's ``into``
    as_given: dict[str, Any] = {option.into: getattr(request, option.name) for option in CHECK_OPTIONS if option.into}
    return CheckOptions(
        context_tokens=context_tokens,
        require=require,
        estimate=estimate,
        cuda_visible_devices=None if request.all_gpus else environ.get("CUDA_VISIBLE_DEVICES"),
        **as_given,
    )


def check_release_in_play(release: str | None, in_play: Sequence[ModelProfile], catalog: Catalog) -> None:
    """``--release`` must be a release of at least one model the check plans (0910, V4.1-Flash's, is not one of
    V4-Pro's or V4-Flash's): else a UsageError naming whose it is and the planned models' releases."""
    if release is None:
        return
    wanted = release.strip().lower()
    if any(r.id == wanted for model in in_play for r in model.releases):
        return
    owners = [model.id for model in catalog.models if any(r.id == wanted for r in model.releases)]
    planned = "; ".join(f"{m.id}: {', '.join(r.id for r in m.releases) or 'none'}" for m in in_play)
    whose = f" ({wanted} is {', '.join(owners)}'s; plan it with --model)" if owners else ""
    raise UsageError(
        f"--release {shown(release)}: none of the models this check plans has it{whose}; theirs: {planned}"
    )


def obtain_inventory(request: CheckRequest) -> inv.Inventory:
    """The inventory to judge: given, read from a file, or probed here; then the what-if overrides.

    A ``--gpus`` what-if replaces every probed GPU, so only the host (RAM, disks) is probed then.
    """
    if request.inventory is not None:
        inventory = request.inventory
    elif request.inventory_path is not None:
        inventory = inv.load(request.inventory_path)
    else:
        from vram_advisor.probe import collect_inventory

        inventory = collect_inventory(request.model_dir, gpus=request.gpus is None)
    return whatif.apply(inventory, gpus=request.gpus, ram=request.ram)


def run_check(
    request: CheckRequest,
    environ: Mapping[str, str] | None = None,
    catalog: Catalog | None = None,
    hub_status: Callable[[str], AbstractContextManager[object]] | None = None,
) -> CheckReport:
    """The impure edge of ``check``: parse the request, get the inventory, apply CUDA_VISIBLE_DEVICES, ask the Hub
    (``--repo``, inside ``hub_status(message)``, a spinner for the CLI), then the pure ``plan.check.check``."""
    environ = os.environ if environ is None else environ
    catalog = catalog or default_catalog()
    try:
        in_play: tuple[ModelProfile, ...] | None = models_in_play(catalog, request.base, request.models)
    except UsageError:
        in_play = None  # an unknown --model is reported by validate, in its turn
    options = check_options(request, environ, in_play)
    planned = [model.id for model in in_play or ()] + list(request.models)
    report_broken(catalog, planned + ([options.require[0]] if options.require else []))
    _released, judged = core.catalogs(catalog, options)  # bad options fail here, before the machine is probed
    if in_play is not None:
        check_context_in_play(request.context, options.context_tokens, in_play)
        check_release_in_play(options.release, in_play, catalog)
    inventory = visibility.apply(obtain_inventory(request), environ, ignore=request.all_gpus)
    from vram_advisor.inventory.calibration import calibrated

    inventory = calibrated(inventory, environ, not request.no_calibration)
    if request.inventory is None and request.inventory_path is None:  # this machine: its disk may hold the files
        inventory = with_local_files(inventory, judged, options.model_dir, environ)
    elif options.model_dir is None:  # an inventory probed with --model-dir DIR: the files go where it measured
        from vram_advisor.plan.steps import probed_model_dir

        options = replace(options, model_dir=probed_model_dir(inventory))
    if request.repo is None:
        return core.check(inventory, catalog, options)
    download = _ask_hub(request, inventory, environ, hub_status)
    return core.check(inventory, catalog, options, download=download)


def with_local_files(
    inventory: inv.Inventory, catalog: Catalog, model_dir: str | None, environ: Mapping[str, str]
) -> inv.Inventory:
    """``inventory`` with the downloads' files a live probe finds where the run blocks put them (``--model-dir``, or
    the folder beside the Hugging Face cache) or in the cache itself (contract rule 11)."""
    from vram_advisor.plan.steps import fallback_root
    from vram_advisor.probe.modelfiles import find_local_files
    from vram_advisor.probe.paths import default_model_dir

    wanted = [
        (item.repo, path)
        for model in catalog.models
        for row in model.quants
        for item in row.published
        if item.repo
        for path in item.files
    ]
    folders = [model_dir] if model_dir is not None else [fallback_root(inventory)]
    found = find_local_files(wanted, folders, default_model_dir(environ))
    return inventory.replace(local_files=found) if found else inventory


def check_json(report: CheckReport) -> dict[str, Any]:
    """The ``check --json`` document of a report (``report.check.check_document``)."""
    from vram_advisor.report.check import check_document

    return check_document(report)


def _ask_hub(
    request: CheckRequest,
    inventory: inv.Inventory,
    environ: Mapping[str, str],
    hub_status: Callable[[str], AbstractContextManager[object]] | None,
) -> RepoListing:
    """The files ``--repo`` would download; this machine's copies count only when the inventory is this machine's."""
    from vram_advisor.hub import client as hub
    from vram_advisor.hub.settings import HubSettings

    assert request.repo is not None
    settings = HubSettings.from_environ(environ)
    probed_here = request.inventory is None and request.inventory_path is None
    where = "the local cache" if settings.offline else settings.endpoint
    with (hub_status or (lambda _message: nullcontext()))(f"asking {where} about {request.repo}"):
        return hub.list_repo_files(
            request.repo,
            request.revision,
            request.include,
            target_dir=request.model_dir,
            consult_local=probed_here or hub.is_this_host(inventory.hostname),
            settings=settings,
        )
