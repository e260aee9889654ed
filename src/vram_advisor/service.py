"""``check`` as a function: the whole pipeline (inventory -> visibility -> plan -> JSON) for the CLI, the HTTP
agent and the MCP server, so that every front end gives the same answer for the same request."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vram_advisor.catalog.profiles import Catalog, default_catalog
from vram_advisor.core import units
from vram_advisor.core.errors import UsageError
from vram_advisor.core.records import Record
from vram_advisor.inventory import model as inv
from vram_advisor.inventory import visibility, whatif
from vram_advisor.plan.check_estimates import CheckEstimates, EstimateOptions, add_to_document, estimate_check
from vram_advisor.plan.rules import Plan, parse_requirement, plan
from vram_advisor.report import check as report

if TYPE_CHECKING:
    from vram_advisor.hub.client import RepoListing

DEFAULT_CONTEXT_TOKENS = 32 * 1024


@dataclass(frozen=True, eq=False, repr=False)
class CheckRequest(Record):
    """Everything ``check`` can be asked (the CLI options, as plain values)."""

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
    kv_dtype: str = "bf16"
    sizes: str = "table"
    ram_bw: str | None = None
    disk_bw: str | None = None
    free: bool = False
    models: tuple[str, ...] = ()
    repo: str | None = None
    revision: str | None = None
    include: tuple[str, ...] = ()
    release: str | None = None


@dataclass(frozen=True, eq=False, repr=False)
class CheckOutcome(Record):
    """The judged inventory, the plan and the contract's JSON document."""

    inventory: inv.Inventory
    plan: Plan
    document: dict[str, Any]
    context_tokens: int
    estimates: CheckEstimates | None = None


def parse_context(text: str | None) -> int:
    if text is None:
        return DEFAULT_CONTEXT_TOKENS
    try:
        return units.parse_tokens(text)
    except units.SizeError as exc:
        raise UsageError(f"--context: {exc}") from None


def obtain_inventory(request: CheckRequest) -> inv.Inventory:
    """The inventory to judge: given, read from a file, or probed here; then the what-if overrides."""
    if request.inventory is not None:
        inventory = request.inventory
    elif request.inventory_path is not None:
        inventory = inv.load(request.inventory_path)
    else:
        from vram_advisor.probe import collect_inventory

        inventory = collect_inventory(request.model_dir)
    return whatif.apply(inventory, gpus=request.gpus, ram=request.ram)


def _add_occupancy(
    document: dict[str, Any], result: Plan, inventory: inv.Inventory, request: CheckRequest, environ: Mapping[str, str]
) -> None:
    """What ``usable_vram_bytes`` counted (capacity or free memory), which GPUs, and the held-memory warning."""
    from vram_advisor.plan import occupancy

    document["graded_on"] = "free_memory" if request.free else "capacity"
    document["visible_gpus"] = [
        gpu.index if gpu.index is not None else position for position, gpu in enumerate(inventory.gpus) if gpu.visible
    ]
    document["cuda_visible_devices"] = None if request.all_gpus else environ.get("CUDA_VISIBLE_DEVICES")
    warnings: list[str] = []
    if request.free:
        free_notes = [
            "graded on free memory (--free): usable VRAM is what the visible GPUs had free when probed",
            *occupancy.unknown_free_notes(inventory),
        ]
        document["free_memory_notes"] = free_notes
        document["notes"] = [*document.get("notes", []), *free_notes]
    else:
        warning = occupancy.load_warning(result, inventory)
        if warning:
            warnings.append(warning)
    document["warnings"] = warnings


def _check_repo_options(request: CheckRequest, catalog: Catalog) -> None:
    if request.repo is None and (request.revision is not None or request.include):
        raise UsageError("--revision and --include need --repo ORG/NAME")
    if request.models and request.base:
        raise UsageError("--model and --base cannot be combined: --model names the models to plan")
    for model_id in request.models:
        catalog.model(model_id)


def run_check(
    request: CheckRequest,
    environ: Mapping[str, str] | None = None,
    catalog: Catalog | None = None,
    hub_status: Callable[[str], AbstractContextManager[object]] | None = None,
) -> CheckOutcome:
    """Validate the request, get the inventory, apply CUDA_VISIBLE_DEVICES, plan, and build the JSON.

    With ``request.repo`` the Hub is asked for the download's files (inside ``hub_status(message)``, a spinner for
    the CLI) and they drive the requirement (``repocheck``).
    """
    context_tokens = parse_context(request.context)
    estimate_options = EstimateOptions.parse(request.kv_dtype, request.sizes, request.ram_bw, request.disk_bw)
    requirement = parse_requirement(request.require) if request.require is not None else None
    from vram_advisor.catalog.releases import with_release

    catalog = table_catalog = with_release(catalog or default_catalog(), request.release)
    if estimate_options.sizes == "published":
        from vram_advisor.catalog.published import published_catalog

        catalog = published_catalog(table_catalog)
    if requirement is not None:
        try:
            catalog.model(requirement[0]).quant(requirement[1])
        except UsageError as exc:
            raise UsageError(f"--require: {exc}") from None
    _check_repo_options(request, catalog)
    environ = os.environ if environ is None else environ
    inventory = visibility.apply(obtain_inventory(request), environ, ignore=request.all_gpus)
    result = plan(
        inventory,
        catalog,
        base=request.base,
        require=requirement,
        allow_offload=request.allow_offload,
        model_dir=request.model_dir,
        free=request.free,
        models=request.models,
    )
    download = _ask_hub(request, inventory, environ, hub_status) if request.repo is not None else None
    derived = None
    if download is not None:
        from vram_advisor.hub import repocheck

        result, derived = repocheck.apply_download(
            result,
            download,
            catalog,
            inventory,
            model_dir=request.model_dir,
            allow_offload=request.allow_offload,
            models=request.models,
            vram_word="free" if request.free else "usable",
        )
    document = report.check_dict(result, inventory)
    document["context_tokens"] = context_tokens
    _add_occupancy(document, result, inventory, request, environ)
    estimates = estimate_check(result, inventory, table_catalog, context_tokens, estimate_options, request.model_dir)
    add_to_document(document, result, estimates)
    _add_family(document, result, estimates, inventory, table_catalog, request)
    if download is not None:
        from vram_advisor.hub import repocheck

        document["download"] = repocheck.listing_dict(download)
        document["notes"] = [*document.get("notes", []), *repocheck.notes_of(download)]
        if derived is not None and "required" in document:
            document["required"]["derived"] = repocheck.derived_dict(derived)
    return CheckOutcome(
        inventory=inventory, plan=result, document=document, context_tokens=context_tokens, estimates=estimates
    )


def _add_family(
    document: dict[str, Any],
    result: Plan,
    estimates: CheckEstimates,
    inventory: inv.Inventory,
    catalog: Catalog,
    request: CheckRequest,
) -> None:
    """The releases judged, each option's reference download (catalog/downloads.py), and the V4.1-Flash line of a
    default check (plan/family.py) as ``v41_flash`` and a note."""
    from vram_advisor.catalog.downloads import download_dict, reference_download
    from vram_advisor.catalog.releases import release_dict

    judged = {option.model.id: option.model for option in result.options}
    document["releases"] = {model_id: release_dict(model) for model_id, model in judged.items()}
    for entry, option in zip(document.get("options", []), result.options, strict=True):
        try:
            model = catalog.model(option.model.id)
            row = model.quant(option.quant.id)
        except UsageError:  # a model only --repo knows
            model, row = option.model, option.quant
        entry["release"] = model.release
        entry["reference_download"] = download_dict(reference_download(model, row))
    note = None
    if not request.models and not request.base and request.repo is None:
        from vram_advisor.plan.family import v41_note

        note = v41_note(
            result.options,
            estimates.options,
            inventory,
            catalog,
            estimates.context_tokens,
            estimates.kv_dtype,
            estimates.machine,
            request.model_dir,
        )
    document["v41_flash"] = note.as_dict() if note is not None else None
    if note is not None:
        document["notes"] = [*document.get("notes", []), note.line]


def _ask_hub(
    request: CheckRequest,
    inventory: inv.Inventory,
    environ: Mapping[str, str],
    hub_status: Callable[[str], AbstractContextManager[object]] | None,
) -> RepoListing:
    """The files ``--repo`` would download; this machine's copies count only when the inventory is this machine's."""
    from vram_advisor.hub import client as hub

    assert request.repo is not None
    settings = hub.HubSettings.from_environ(environ)
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
