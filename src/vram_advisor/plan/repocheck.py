"""``check --repo``: the download's real files drive the disk check, and make a requirement where none was asked.

With ``--require MODEL:QUANT`` the table row still decides the VRAM (contract rule 8) and the disk check counts the
files still to download plus the download scratch (``RepoListing.disk_need_bytes``) instead of the table's
weights. Without ``--require`` the repo is the requirement: its VRAM need is the files' total size x the
VRAM-to-weights ratios of the best-matching table row (``derive``), stated as derived in the reason, and the exit
code answers it as it answers ``--require``. Pure: the listing (``catalog.listing``) comes from
``hub.list_repo_files``; ``plan.check`` applies it, and ``report.check`` prints it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from vram_advisor.catalog.derive import (
    DerivedNeed,
    derived_need,
    derived_row,
    guess_quant,
    matching_models,
    ratios_for,
)
from vram_advisor.catalog.engines import EngineTable, Platform, platform_of
from vram_advisor.catalog.listing import RepoListing
from vram_advisor.catalog.profiles import Catalog, ModelProfile, QuantRow
from vram_advisor.core import units
from vram_advisor.core.errors import UsageError
from vram_advisor.inventory.model import Inventory, select_disk
from vram_advisor.plan.choose import estimate_choice, verdict
from vram_advisor.plan.disk import DiskCheck
from vram_advisor.plan.estimate import estimate_with_weights
from vram_advisor.plan.machine import Fit
from vram_advisor.plan.rules import Machine, Option, Plan, fit_of, requirement

SOURCE = "hub"


def download_detail(listing: RepoListing) -> str:
    """The disk check's figure: what must be fetched, and why that much."""
    count = len(listing.files)
    where = "in the HF cache" if listing.target_kind == "cache" else f"in {listing.target}"
    parts = [f"{count} file{'s' if count != 1 else ''} of {listing.label}, {units.format_file_gb(listing.total_bytes)}"]
    if not listing.local_consulted:
        parts.append("this disk's copies not consulted (another machine's inventory)")
    elif listing.local_bytes:
        parts.append(f"{units.format_file_gb(listing.local_bytes)} already {where}")
    if listing.scratch_bytes:
        parts.append(f"+ {units.format_file_gb(listing.scratch_bytes)} of Xet chunk cache")
    else:
        parts.append("no scratch beyond the files")
    return f"{units.format_file_gb(listing.disk_need_bytes)} to download ({'; '.join(parts)})"


def repo_option(listing: RepoListing, need: DerivedNeed, option_fit: Callable[[QuantRow], Fit]) -> Option:
    """The repo as an option: a derived row (rounded up to 0.1 GB of VRAM) of a model named after the repo."""
    ratios = need.ratios
    row = derived_row(
        need,
        row_id=need.quant or ratios.row.id,
        label=f"{listing.repo_id} ({', '.join(listing.include) or 'all files'})",
        best_for=need.basis,
        source=SOURCE,
    )
    model = ModelProfile(
        id=listing.repo_id,
        name=listing.repo_id,
        short_name=listing.repo_id.rsplit("/", 1)[-1],
        base=ratios.model.base,
        params_total=ratios.model.params_total,
        params_active=ratios.model.params_active,
        official_weights=row.weights,
        quants=(row,),
        source=SOURCE,
        origin=SOURCE,
        hf_repo=listing.repo_id,
    )
    return Option(model=model, quant=row, fit=option_fit(row), rank=-1)


def on_listing(option: Option, listing: RepoListing, machine: Machine, engines: EngineTable | None = None) -> Option:
    """``option`` judged again with the live listing's bytes in place of the packaged download's (rule 9: the
    files you will fetch): on the same engine where it loads the listed files, else on the first engine of this
    platform that does (``engines``: unsloth's split GGUF is llama.cpp's, not ds4's); unchanged where the option was
    judged on the table alone or no engine here loads the files."""
    choice = option.choice
    if choice is None or not listing.total_bytes:
        return option
    fmt = listing_format(listing)
    engine = choice.engine
    if engines is not None and not engine.loads(fmt, listing.repo_id):
        platform = platform_of(choice.estimate.machine.gpus if choice.estimate.machine is not None else ())
        found = next((e for e in engines.order(platform) if e.loads(fmt, listing.repo_id)), None)
        if found is None:
            return option
        engine = found
    download = replace(
        choice.download,
        repo=listing.repo_id,
        bytes=listing.total_bytes,
        name=f"{listing.repo_id} as the Hub lists it",
        format=fmt,
        engines=(engine.id,),
        same_weights_as=None,
    )
    row = option.table_quant or option.quant
    if engine is choice.engine:
        estimate = estimate_with_weights(choice.estimate, listing.total_bytes, "published")
    else:
        kv = choice.estimate.kv
        kv_dtype = kv.dtype if kv is not None and choice.engine.memory != "vllm" else "bf16"
        estimate = estimate_choice(
            choice.estimate.model,
            row,
            download,
            engine,
            choice.estimate.context_tokens,
            choice.estimate.machine,
            kv_dtype,
        )
    judged_row, fit, placement = verdict(row, estimate, machine)
    judged = replace(
        choice, download=download, engine=engine, estimate=estimate, row=judged_row, fit=fit, placement=placement
    )
    return replace(option, quant=judged_row, fit=fit, placement=placement, choice=judged)


#: File extensions of the weights the engines load (profiles/engines.json ``formats``; MLX ships safetensors).
WEIGHT_EXTENSIONS = {".gguf": "gguf", ".safetensors": "safetensors"}


def listing_format(listing: RepoListing) -> str | None:
    """What the listed weights are: "gguf", "mlx" (an MLX conversion: mlx-community's, or MLX in the repo's name;
    its safetensors load only in MLX engines), "safetensors", or None (no weights)."""
    found = {fmt for f in listing.files for ext, fmt in WEIGHT_EXTENSIONS.items() if f.path.endswith(ext)}
    if "gguf" in found:
        return "gguf"
    if "safetensors" not in found:
        return None
    owner, _, name = listing.repo_id.lower().partition("/")
    return "mlx" if owner == "mlx-community" or "mlx" in name.split("-") else "safetensors"


def _real_option(
    result: Plan,
    listing: RepoListing,
    machine: Machine,
    model: ModelProfile,
    row: QuantRow,
    matched: Sequence[ModelProfile],
    engines: EngineTable,
) -> Option | None:
    """The plan's own option for the profile row the repo matches, judged on the listed files (rule 9) by an engine
    here that loads them, named after the repo; None where no profile names the repo, the option was judged on the
    table alone, or no engine here loads the files (the need is then derived from the table's ratios)."""
    if not any(m.id == model.id for m in matched):
        return None
    option = next((o for o in result.options if o.key == (model.id, row.id)), None)
    if option is None or option.choice is None:
        return None
    judged = on_listing(option, listing, machine, engines)
    if judged is option:  # no engine here loads the listed files
        return None
    named = replace(judged.model, id=listing.repo_id, name=listing.repo_id, short_name=listing.repo_id.split("/")[-1])
    return replace(judged, model=named)


def apply_download(
    result: Plan,
    listing: RepoListing,
    catalog: Catalog,
    inventory: Inventory,
    *,
    model_dir: str | None,
    allow_offload: bool,
    models: Sequence[str] = (),
    vram_word: str = "usable",
) -> tuple[Plan, DerivedNeed | None]:
    """``result`` with its requirement judged on the download (see the module docstring)."""
    machine = result.machine
    disk = select_disk(inventory, model_dir)
    detail = download_detail(listing)
    need: DerivedNeed | None = None
    real: Option | None = None
    if result.required is not None:
        option = on_listing(result.required.option, listing, machine, catalog.engines)
    else:
        quant = guess_quant((f.path for f in listing.files), listing.repo_id)
        pool = [catalog.model(model_id) for model_id in models]
        ratios = ratios_for(catalog, listing.repo_id, quant, pool)
        matched = matching_models(catalog, listing.repo_id, pool)
        real = _real_option(result, listing, machine, ratios.model, ratios.row, matched, catalog.engines)
        if real is not None:
            option = real
        else:
            need = derived_need(listing.total_bytes, ratios, quant)
            option = repo_option(listing, need, lambda row: fit_of(row, machine))
    disk_check = DiskCheck(need_bytes=listing.disk_need_bytes, what="its download", disk=disk, described=detail)
    judged = requirement(option, machine, disk_check, allow_offload, vram_word=vram_word)
    if real is not None and real.choice is not None:
        judged = replace(
            judged,
            reason=f"{judged.reason} (rule 9: its {units.format_file_gb(listing.total_bytes)} of files run by "
            f"{real.choice.engine.name}, as {real.table_quant.id if real.table_quant else real.quant.id} of "
            f"{real.choice.estimate.model.id})",
        )
    if need is not None:
        judged = replace(
            judged,
            reason=f"{judged.reason} (derived: {units.format_file_gb(need.weights_bytes)} of files x the "
            f"{need.ratios.reference} ratios)",
        )
    return replace(result, required=judged), need


def check_loadable(listing: RepoListing, engines: EngineTable, platform: Platform | None = None) -> None:
    """A listing must hold weights some engine loads (GGUF or safetensors) on ``platform`` (None: anywhere); else a
    UsageError naming the repo and what it holds instead (``.bin``, ``.exl3`` folders, ``.pt``, nothing at all), or
    where its format runs (an MLX conversion on an NVIDIA machine)."""
    fmt = listing_format(listing)
    everywhere = {f for engine in engines.engines.values() for f in engine.formats} or set(WEIGHT_EXTENSIONS.values())
    if fmt is not None and fmt in everywhere:
        if platform is None or not engines.engines:
            return
        if any(engine.loads(fmt, listing.repo_id) for engine in engines.order(platform)):
            return
        runs = sorted({engine.name for engine in engines.engines.values() if engine.loads(fmt, listing.repo_id)})
        raise UsageError(
            f"--repo {listing.repo_id}: its {fmt} weights load in {', '.join(runs)}, none of which runs on "
            f"{platform.words}"
        )
    suffixes = sorted({f.path.rsplit(".", 1)[-1] for f in listing.files if "." in f.path})[:6]
    held = ", ".join(f".{suffix}" for suffix in suffixes) if suffixes else "no files"
    selection = f" (with --include {', '.join(listing.include)})" if listing.include else ""
    raise UsageError(
        f"--repo {listing.repo_id}{selection}: no engine here loads its files ({held}); vram-advisor plans GGUF and "
        "safetensors weights (llama.cpp, ds4, vLLM, SGLang, mlx-vlm, oMLX)"
    )


def notes_of(listing: RepoListing) -> list[str]:
    """Lines worth a user's attention about the download."""
    notes = [f"download scratch: {listing.scratch_note}"]
    if listing.source == "cache":
        notes.append(
            f"HF_HUB_OFFLINE=1: {listing.repo_id} listed from the local cache"
            + ("" if listing.complete else " (a partial snapshot: files never downloaded are not known)")
        )
    if listing.stale_incomplete_bytes:
        notes.append(
            f"{units.format_file_gb(listing.stale_incomplete_bytes)} of .incomplete files left by interrupted downloads"
            f" under {listing.target} will never be resumed and can be deleted"
        )
    return notes
