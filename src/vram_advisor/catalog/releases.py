"""The releases of a model: the same model published more than once (DeepSeek-V4-Flash's April preview and its
official 0731 release; V4-Pro's preview and 0813), each with its repository, the date it appeared and its source.

A profile lists them under ``releases``; each published file of a quantization row names the release it belongs to
(``release``, the first release when left out). A ``ModelProfile`` carries every release's files in
``QuantRow.published_all`` and the chosen release's in ``QuantRow.published``, with ``hf_repo`` the chosen release's
repository, so that everything downstream (run commands, ``--repo`` checks, ``--sizes published``) reads the chosen
release without knowing releases exist. The default is the newest official release (``default_release``);
``check --release NAME`` and ``estimate --release NAME`` pick another (``with_release``). The numbers are in
profiles/deepseek-v4.json, each with its source (vLLM recipes, the Hugging Face listings). Pure.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from vram_advisor.catalog.profiles import Catalog, ModelProfile
from vram_advisor.catalog.release import Release as Release
from vram_advisor.catalog.release import default_release as default_release
from vram_advisor.catalog.release import select_release as select_release
from vram_advisor.core import units
from vram_advisor.core.errors import UsageError
from vram_advisor.core.numbers import shown


def release_named(model: ModelProfile, name: str) -> Release:
    """``model``'s release called ``name``; a UsageError naming the known ones otherwise."""
    for release in model.releases:
        if release.id == name:
            return release
    known = ", ".join(release.id for release in model.releases) or "none"
    raise UsageError(f"--release {shown(name)}: {model.id} has no such release (known: {known})")


def with_release(catalog: Catalog, name: str | None) -> Catalog:
    """The catalogue with ``name`` chosen for every model that has that release (the others keep theirs); ``None``
    keeps every model's current release. A name no model knows is a UsageError naming the releases there are."""
    if name is None:
        return catalog
    wanted = name.strip().lower()
    if not any(release.id == wanted for model in catalog.models for release in model.releases):
        known = sorted({release.id for model in catalog.models for release in model.releases})
        raise UsageError(f"--release {shown(name)}: no model has such a release (known: {', '.join(known) or 'none'})")
    models = tuple(
        select_release(model, release_named(model, wanted))
        if any(release.id == wanted for release in model.releases)
        else model
        for model in catalog.models
    )
    return replace(catalog, models=models)


def chosen_release(model: ModelProfile) -> Release | None:
    """The release ``model`` is planned as, or None for a model without releases."""
    return next((release for release in model.releases if release.id == model.release), None)


def release_dict(model: ModelProfile) -> dict[str, Any] | None:
    """The release a model was judged as, for ``check --json`` and ``models --json``."""
    release = chosen_release(model)
    if release is None:
        return None
    return {
        "release": release.id,
        "name": release.name,
        "repo": release.repo,
        "published": release.published,
        "official": release.official,
        "source": release.source,
        "note": release.note,
    }


def size_differences(model: ModelProfile) -> list[str]:
    """Where a release's published files differ in size from the first release's files of the same row, in words
    (V4-Pro 0813: the fused DSpark draft module adds ~28 GB)."""
    if len(model.releases) < 2:
        return []
    first = model.releases[0]
    lines: list[str] = []
    for row in model.quants:
        base = next((f for f in row.published_all if (f.release or first.id) == first.id and f.repo), None)
        if base is None:
            continue
        for release in model.releases[1:]:
            other = next((f for f in row.published_all if f.release == release.id and f.repo), None)
            if other is None:
                continue
            change = other.size_bytes - base.size_bytes
            if abs(change) * 1000 < base.size_bytes:  # under 0.1%: the same file, re-uploaded
                continue
            name = other.name.replace(f" {release.id}", "").strip() or other.name  # "official checkpoint 0813"
            lines.append(
                f"{row.id}: {release.id}'s {name} is {units.format_file_gb(other.size_bytes)}, "
                f"{units.format_file_gb(abs(change))} ({abs(change) / base.size_bytes:.1%}) "
                f"{'larger' if change > 0 else 'smaller'} than the {first.id}'s {units.format_file_gb(base.size_bytes)}"
            )
    return lines
