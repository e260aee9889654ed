"""``vram-advisor models``: the model profiles with the article's figures; ``models import ORG/NAME`` adds one.

``models`` is a command group whose callback lists the profiles when no subcommand is given, so ``models`` and
``models --json`` answer as they always did. ``models import`` reads a repo's config.json and weights' size from the
Hub (``hub``), builds a user profile with derived rows (``importer``) and writes it to the user profile folder
(``userprofiles``), where ``models`` lists it and ``check --model ID`` plans it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from vram_advisor.cli.app import JsonOpt, app
from vram_advisor.cli.common import console
from vram_advisor.render import write_json, write_line

if TYPE_CHECKING:
    from vram_advisor.catalog.engines import Engine
    from vram_advisor.catalog.profiles import Catalog, ModelProfile

IMPORT_SCHEMA = "vram-advisor/import/v1"

models_app = typer.Typer(
    name="models",
    help="List the model profiles (packaged and imported); models import ORG/NAME adds one from the Hub.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(models_app, name="models")


def _model_dict(model: ModelProfile) -> dict[str, Any]:
    from vram_advisor.catalog.downloads import download_dict, downloads_of, reference_download
    from vram_advisor.catalog.releases import release_dict, size_differences
    from vram_advisor.report.check import json_number

    return {
        "id": model.id,
        "name": model.name,
        "base": model.base,
        "params_total": model.params_total,
        "params_active": model.params_active,
        "official_weights": model.official_weights,
        "profile": model.origin,
        "source": model.source,
        "release": release_dict(model),
        "releases": [
            {
                "release": release.id,
                "name": release.name,
                "repo": release.repo,
                "published": release.published,
                "official": release.official,
                "source": release.source,
                "note": release.note,
            }
            for release in model.releases
        ],
        "size_differences": size_differences(model),
        "quants": [
            {
                "quant": row.id,
                "weights_gb": json_number(row.weights_gb),
                "min_vram_gb": json_number(row.min_vram_gb),
                "safer_vram_gb": json_number(row.safer_vram_gb),
                "experimental": row.experimental,
                "best_for": row.best_for,
                "source": row.source,
                "derived": row.derived,
                "reference_download": download_dict(reference_download(model, row)),
                "downloads": [download_dict(download) for download in downloads_of(model, row)],
            }
            for row in model.quants
        ],
    }


def _engine_dict(engine: Engine) -> dict[str, Any]:
    return {
        "id": engine.id,
        "name": engine.name,
        "program": engine.program,
        "formats": list(engine.formats),
        "platforms": [
            {
                "kind": entry.kind,
                "min_compute_capability": entry.min_compute_capability,
                "max_compute_capability": entry.max_compute_capability,
                "gpu_names": list(entry.gpu_names),
                "max_gpus": entry.max_gpus,
                "conditions": entry.conditions(),
                "install": entry.install,
                "version": entry.version,
                "note": entry.note,
            }
            for entry in engine.platforms
        ],
        "offload": engine.offload,
        "min_version": engine.min_version,
        "added": engine.added,
        "install": engine.install,
        "flags": list(engine.flags),
        "repos": list(engine.repos),
        "kv_scale": engine.kv_scale,
        "source": engine.source,
    }


def models_dict(catalog: Catalog) -> dict[str, Any]:
    from vram_advisor.catalog.api import api_dict
    from vram_advisor.report.check import json_number

    return {
        "schema": "vram-advisor/models/v1",
        "models": [_model_dict(model) for model in catalog.models],
        "engines": [_engine_dict(engine) for engine in catalog.engines.engines.values()],
        "engine_preference": {kind: list(ids) for kind, ids in catalog.engines.preference.items()},
        "api": None if catalog.api is None else api_dict(catalog.api),
        "quick_summary": [
            {
                "vram_gb": json_number(row.vram_gb),
                "label": row.vram,
                "realistic": row.realistic,
                "do_not_expect": row.do_not_expect,
            }
            for row in catalog.quick_summary
        ],
        "smaller_models": [
            {
                "name": m.name,
                "quant": m.quant,
                "size_gb": m.size_gb,
                "params": m.params_total,
                "source": m.source,
            }
            for m in catalog.local_models
        ],
    }


@models_app.callback(invoke_without_command=True)
def models(
    ctx: typer.Context,
    json_output: JsonOpt = False,
    only: Annotated[
        list[str] | None,
        typer.Option("--model", metavar="MODEL", help="List only this model (repeatable): an id from this list."),
    ] = None,
) -> None:
    """List the model profiles: variants, quantizations, the table's figures, the downloads and the engines."""
    if ctx.invoked_subcommand is not None:
        return
    from dataclasses import replace

    from vram_advisor.catalog.userprofiles import default_catalog, report_broken

    catalog = default_catalog()
    report_broken(catalog, only or ())
    if only:
        catalog = replace(catalog, models=tuple(dict.fromkeys(catalog.model(model_id) for model_id in only)))
    if json_output:
        write_json(models_dict(catalog))
        return
    from vram_advisor.render.human import print_view
    from vram_advisor.render.models_view import models_view

    print_view(models_view(catalog), console())


@models_app.command("import")
def import_model(
    repo: Annotated[str, typer.Argument(metavar="ORG/NAME", help="The Hub repo of a transformers checkpoint.")],
    revision: Annotated[
        str | None, typer.Option("--revision", metavar="REV", help="A branch, tag or commit (default: main).")
    ] = None,
    model_id: Annotated[
        str | None,
        typer.Option("--id", metavar="ID", help="The profile's model id (default: org-name, lower case)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Allow an id that replaces a packaged profile.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Build a user profile from a Hub repo's config.json and safetensors index, with derived rows."""
    import os
    from contextlib import nullcontext

    from vram_advisor.catalog import userdirs, userprofiles
    from vram_advisor.catalog.profiles import packaged_catalog
    from vram_advisor.cli.hubopts import hub_spinner
    from vram_advisor.hub import importer
    from vram_advisor.hub import settings as hub
    from vram_advisor.hub.modelfiles import fetch_model_files

    chosen_id = importer.check_model_id(model_id) if model_id else importer.default_model_id(hub.check_repo_id(repo))
    hub.check_revision(revision)
    settings = hub.HubSettings.from_environ()  # a malformed HF_ENDPOINT is one line here, before any request
    target_dir = userprofiles.user_profile_dir()  # no safe folder to write to: one line before the Hub is asked
    if not settings.offline and userdirs.hf_cache_needs_home(os.environ):  # the download would go to $HOME/.cache
        userdirs.safe_home(os.environ, "Hugging Face cache", "HF_HUB_CACHE or HF_HOME")
    seen = userprofiles.profile_state(chosen_id, target_dir)  # a change made meanwhile is said before it is replaced
    where = "the local cache" if settings.offline else settings.endpoint  # redacted: no userinfo, no query
    status = hub_spinner(not json_output) or (lambda _message: nullcontext())
    with status(f"asking {where} about {repo}"):
        files = fetch_model_files(repo, revision, settings)
    packaged = packaged_catalog()
    profile = importer.build_profile(files, packaged, userprofiles.packaged_raw_models(), chosen_id)
    path, replaced = userprofiles.write_user_profile(
        profile, chosen_id, packaged, directory=target_dir, force=force, seen=seen
    )
    from vram_advisor.catalog.userprofiles import default_catalog

    model = default_catalog().model(chosen_id)
    if json_output:
        write_json(
            {
                "schema": IMPORT_SCHEMA,
                "id": chosen_id,
                "path": str(path),
                "replaced": replaced,
                "imported": profile["imported"],
                "model": _model_dict(model),
            }
        )
        return
    from vram_advisor.render.human import print_view
    from vram_advisor.render.models_view import models_view

    verb = "replaced" if replaced else "wrote"
    write_line(f"imported {files.repo_id}@{(files.commit or files.revision)[:12]} as {chosen_id}: {verb} {path}")
    from vram_advisor.catalog.profiles import Catalog

    single = Catalog(models=(model,), quick_summary=(), advice=(), api=None, local_models=(), files=(str(path),))
    print_view(models_view(single), console())
    write_line(f"plan it with: vram-advisor check --model {chosen_id}")
