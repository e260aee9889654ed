"""The ``check`` result as JSON: a ``CheckReport`` turned into the contract's document (``vram-advisor/check/v1``).

Built here and nowhere else, in one pass (nothing edits the document afterwards). The human view reads the same
``CheckReport`` (render/human.py), and ``cluster`` reuses the helpers here for its nodes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vram_advisor.catalog.api import api_dict
from vram_advisor.catalog.profiles import QuantRow
from vram_advisor.core import units
from vram_advisor.inventory import model as inv
from vram_advisor.plan import estimate as est
from vram_advisor.plan.check import CheckReport, differs
from vram_advisor.plan.check_estimates import loads_from_vram
from vram_advisor.plan.disk import DiskCheck
from vram_advisor.plan.rules import Option, Plan, Recommendation, shortfall
from vram_advisor.report.alternatives import planned_alternatives, ranking_dict, smaller_models_list
from vram_advisor.report.capacity import capacity_dict
from vram_advisor.report.estimate import expert_layers_dict, machine_dict, speed_dict

if TYPE_CHECKING:  # only --repo reports carry them: check --json does not import them
    from vram_advisor.catalog.derive import DerivedNeed
    from vram_advisor.catalog.listing import RepoListing

CHECK_SCHEMA = "vram-advisor/check/v1"


def json_number(value: float) -> float | int:
    """A table figure as JSON writes it: a whole number as an integer, anything else rounded to 2 decimals."""
    return int(value) if float(value).is_integer() else round(value, 2)


def option_dict(option: Option) -> dict[str, Any]:
    """One option: the article's figures (contract rule 1) and its fit; under rule 9 the fit is judged on the real
    download, whose figures are ``real`` beside ``table_fit``, the article's own fit."""
    quant = option.quant
    table = option.table_quant or quant
    choice = option.choice
    return {
        "model": option.model.id,
        "quant": quant.id,
        **_figures(table),
        "fit": option.fit,
        "experimental": quant.experimental,
        "rank": option.rank + 1,
        "best_for": quant.best_for,
        "placement": option.placement,
        "table_fit": option.table_fit,
        "real": _judged_figures(quant),
        **need_fields(quant),
        "engine": choice.engine.id if choice is not None else None,
        "dominated_by": None
        if option.dominated_by is None
        else {
            "model": option.dominated_by.model.id,
            "quant": option.dominated_by.quant.id,
            "why": option.dominance,
        },
    }


def _figures(row: QuantRow) -> dict[str, Any]:
    """A row's weights and VRAM figures as the table writes them (GB of weights, GB = GiB of VRAM)."""
    return {
        "weights_gb": json_number(row.weights_gb),
        "min_vram_gb": json_number(row.min_vram_gb),
        "safer_vram_gb": json_number(row.safer_vram_gb),
    }


def _judged_figures(row: QuantRow) -> dict[str, Any]:
    """The judged row's figures (rule 9): the real download's weights (decimal GB) and the judged minimum and safer
    figures in GiB (rule 12), rounded; ``need_fields`` has the bytes."""
    return {
        "weights_gb": json_number(round(row.weights_gb, 2)),
        "min_vram_gb": json_number(round(row.judged_min_bytes / units.GIB, 2)),
        "safer_vram_gb": json_number(round(row.judged_safer_bytes / units.GIB, 2)),
    }


def need_fields(row: QuantRow) -> dict[str, Any]:
    """Rule 12 in bytes: the download's own need (null on the table alone), the judged minimum and safer figures,
    and whether the table's minimum governs."""
    return {
        "need_bytes": row.need_bytes,
        "judged_min_bytes": row.judged_min_bytes,
        "judged_safer_bytes": row.judged_safer_bytes,
        "table_floor_governs": row.table_governs,
    }


def short_option(option: Option | None) -> dict[str, Any] | None:
    """An option in brief (``stretch``, ``next_up``; ``cluster`` writes the same): which, how it fits, its figures."""
    if option is None:
        return None
    return {
        "model": option.model.id,
        "quant": option.quant.id,
        "fit": option.fit,
        "experimental": option.experimental,
        "min_vram_gb": json_number((option.table_quant or option.quant).min_vram_gb),
        "safer_vram_gb": json_number((option.table_quant or option.quant).safer_vram_gb),
        "real_min_vram_gb": json_number(round(option.quant.judged_min_bytes / units.GIB, 2)),
        "real_safer_vram_gb": json_number(round(option.quant.judged_safer_bytes / units.GIB, 2)),
        "need_bytes": option.quant.need_bytes,
        "judged_min_bytes": option.quant.judged_min_bytes,
    }


def recommendation_dict(recommendation: Recommendation) -> dict[str, Any]:
    """The ``recommendation`` block of ``check --json`` (``cluster`` writes the same for each node)."""
    option = recommendation.option
    return {
        "kind": recommendation.kind,
        "model": option.model.id if option else None,
        "quant": option.quant.id if option else None,
        "fit": option.fit if option else None,
        "experimental": option.experimental if option else False,
        "reason": recommendation.reason,
        "placement": option.placement if option else None,
        "need_bytes": option.quant.need_bytes if option else None,
        "judged_min_bytes": option.quant.judged_min_bytes if option else None,
        "engine": option.choice.engine.id if option and option.choice else None,
    }


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
        "decode_tokens_per_s": speed_dict(placement),
        "bottleneck": bottleneck.name if bottleneck is not None else None,
        "expert_layers": expert_layers_dict(placement),
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
        "need_bytes": option.quant.need_bytes
        if option.quant.need_bytes is not None
        else (gpu.need_bytes if gpu is not None else None),
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


def check_document(report: CheckReport) -> dict[str, Any]:
    """The whole ``check --json`` document of one report (key order is part of the byte-for-byte contract)."""
    plan, extras = report.plan, report.estimates
    document = _plan_dict(plan, report.inventory, report.notes, report)
    for entry, option in zip(document["options"], plan.options, strict=True):
        entry.update(option_fields(option, extras.of(option)))
    document["context_tokens"] = report.options.context_tokens
    document["users"] = report.options.estimate.sequences
    document["graded_on"] = report.graded_on
    document["visible_gpus"] = list(report.visible_gpus)
    document["cuda_visible_devices"] = report.options.cuda_visible_devices
    if report.free_memory_notes is not None:
        document["free_memory_notes"] = list(report.free_memory_notes)
    document["warnings"] = list(report.warnings)
    machine = machine_dict(extras.machine)
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
    speed = speed_dict(extras.run_placement) if extras.run_placement is not None else None
    if speed is not None:  # the speed with drafting beside the plain one (issue 21)
        from vram_advisor.plan.estimate.speculative import of_run, speculative_dict

        speed["speculative"] = speculative_dict(of_run(chosen, extras.run_plan))
    document["recommendation"]["decode_tokens_per_s"] = speed
    document["capacity"] = capacity_dict(report)
    document["measured"] = measured_list(report)
    document["sizes"] = report.options.estimate.sizes
    _add_family(document, report)
    document["table_verdict"] = None if report.table_plan is None else table_verdict(report)
    if report.download is not None:
        document["download"] = listing_dict(report.download)
        if report.derived is not None and "required" in document:
            document["required"]["derived"] = derived_dict(report.derived)
    return document


def measured_list(report: CheckReport) -> list[dict[str, Any]]:
    """The speeds ``verify`` measured on this machine (the calibration store's points for its fingerprint, or those
    its inventory carries), newest first; each says whether it speaks for the recommendation's speed."""
    if not report.inventory.measured:
        return []
    from vram_advisor.inventory.fingerprint import own_points
    from vram_advisor.plan.measured import newest_first, point_dict

    placement = report.estimates.run_placement
    shown = placement.measured if placement is not None else None
    return [
        {**point_dict(point), "applies_to_recommendation": point == shown}
        for point in newest_first(own_points(report.inventory))
    ]


def listing_dict(listing: RepoListing) -> dict[str, Any]:
    """The ``download`` block of ``check --json``."""
    return {
        "repo": listing.repo_id,
        "revision": listing.revision,
        "commit": listing.commit,
        "include": list(listing.include),
        "source": listing.source,
        "complete": listing.complete,
        "gated": listing.gated,
        "target": listing.target,
        "target_kind": listing.target_kind,
        "local_consulted": listing.local_consulted,
        "files": [{"path": f.path, "size_bytes": f.size_bytes, "local": f.local} for f in listing.files],
        "total_bytes": listing.total_bytes,
        "local_bytes": listing.local_bytes,
        "download_bytes": listing.download_bytes,
        "scratch_bytes": listing.scratch_bytes,
        "scratch_note": listing.scratch_note,
        "disk_need_bytes": listing.disk_need_bytes,
        "stale_incomplete_bytes": listing.stale_incomplete_bytes,
    }


def derived_dict(need: DerivedNeed) -> dict[str, Any]:
    """How a repo's VRAM need was derived (``required.derived`` of ``check --json``)."""
    ratios = need.ratios
    return {
        "weights_bytes": need.weights_bytes,
        "min_vram_bytes": need.min_vram_bytes,
        "safer_vram_bytes": need.safer_vram_bytes,
        "quant_from_file_names": need.quant,
        "reference": {"model": ratios.model.id, "quant": ratios.row.id},
        "min_ratio": round(ratios.min_ratio, 4),
        "safer_ratio": round(ratios.safer_ratio, 4),
        "basis": need.basis,
    }


def _plan_dict(
    plan: Plan, inventory: inv.Inventory, notes: tuple[str, ...], report: CheckReport | None = None
) -> dict[str, Any]:
    """The rules' part of the document: verdict, options, tier and advice, alternatives, the requirement."""
    tier = None
    if plan.tier is not None:
        tier = {
            "vram_gb": json_number(plan.tier.vram_gb),
            "label": plan.tier.vram,
            "realistic": plan.tier.realistic,
            "do_not_expect": plan.tier.do_not_expect,
        }
    next_up = short_option(plan.next_up)
    if next_up is not None and plan.next_up is not None:
        short_by = shortfall(plan.machine.usable_vram_bytes, plan.next_up.quant)
        next_up["short_by_bytes"] = short_by
    alternatives: dict[str, Any] = {
        "api": None if plan.api is None else api_dict(plan.api),
        "smaller_models": smaller_models_list(
            plan.small_models,
            planned_alternatives(report) if report is not None else None,
            report.estimates.machine if report is not None else None,
        ),
        "smaller_models_ranking": ranking_dict(),
    }
    document: dict[str, Any] = {
        "schema": CHECK_SCHEMA,
        "inventory": inv.to_dict(inventory),
        "usable_vram_bytes": plan.machine.usable_vram_bytes,
        "spare_ram_bytes": plan.machine.spare_ram_bytes,
        "gpu_count": plan.machine.gpu_count,
        "base": plan.base,
        "recommendation": recommendation_dict(plan.recommendation),
        "stretch": short_option(plan.stretch),
        "next_up": next_up,
        "tier": tier,
        "advice": list(plan.advice),
        "options": [option_dict(o) for o in plan.options],
        "alternatives": alternatives,
        "notes": list(notes),
    }
    if plan.required is not None:
        req = plan.required
        document["required"] = {
            "model": req.option.model.id,
            "quant": req.option.quant.id,
            "fits": req.fits,
            "fit": req.option.fit,
            "reason": req.reason,
            "checks": [{"check": name, "ok": ok, "detail": detail} for name, ok, detail in req.checks],
            "disk": None if req.disk is None else {"path": req.disk.path, "free_bytes": req.disk.free_bytes},
            **need_fields(req.option.quant),
            "download_disk": disk_dict(req.disk_check),
        }
    document["disk"] = disk_dict(plan.disk)
    return document


def disk_dict(check: DiskCheck | None) -> dict[str, Any] | None:
    """A download against the disk (rule 11): the bytes it needs, the disk, whether it fits or is there already."""
    if check is None:
        return None
    return {
        "need_bytes": check.need_bytes,
        "what": check.what,
        "path": check.disk.path if check.disk is not None else None,
        "free_bytes": check.disk.free_bytes if check.disk is not None else None,
        "present": check.present,
        "fits": check.ok,
        "line": check.line(),
    }


def quiet_line(plan: Plan) -> str:
    """The one line of ``check --require ... --quiet``: ``ok: ...`` or ``no: ...``."""
    assert plan.required is not None
    return f"{'ok' if plan.required.fits else 'no'}: {plan.required.reason}"


def table_verdict(report: CheckReport) -> dict[str, Any]:
    """What the article's figures alone say (``--sizes table``), and the one line that says where they differ."""
    assert report.table_plan is not None
    table = report.table_plan.recommendation
    return {
        **recommendation_dict(table),
        "differs": differs(report.table_plan, report.plan),
        "note": report.table_note,
    }


def _add_family(document: dict[str, Any], report: CheckReport) -> None:
    """The releases judged, each option's reference download (catalog/downloads.py), and the V4.1-Flash line."""
    from vram_advisor.catalog.downloads import download_dict, reference_download
    from vram_advisor.catalog.releases import release_dict

    plan = report.plan
    judged = {option.model.id: option.model for option in plan.options}
    document["releases"] = {model_id: release_dict(model) for model_id, model in judged.items()}
    for entry, option in zip(document["options"], plan.options, strict=True):
        row = option.table_quant or option.quant
        entry["release"] = option.model.release
        if option.choice is not None:  # the download it was judged on here (rule 9)
            entry["reference_download"] = download_dict(option.choice.download, option.choice.engine)
        else:
            entry["reference_download"] = download_dict(reference_download(option.model, row))
    document["v41_flash"] = report.family.as_dict() if report.family is not None else None
