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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any

from vram_advisor.core import units
from vram_advisor.core.errors import UsageError
from vram_advisor.core.jsonread import FieldReader
from vram_advisor.core.numbers import shown
from vram_advisor.core.records import Record

if TYPE_CHECKING:
    from vram_advisor.catalog.profiles import Catalog, ModelProfile

SourceCheck = Callable[[FieldReader, Any, str], str]


@dataclass(frozen=True, eq=False, repr=False)
class Release(Record):
    """One publication of a model: ``id`` ("preview", "0731", "0813"), its repository and the day it appeared."""

    id: str
    name: str
    repo: str
    published: str
    official: bool
    source: str
    note: str | None = None

    @property
    def day(self) -> date:
        return date.fromisoformat(self.published)


def _release(r: FieldReader, check_source: SourceCheck, value: Any, where: str) -> Release:
    data = r.obj(value, where)
    p = f"{where}."
    release_id = r.required(data, "id", p, r.text)
    if release_id != release_id.strip().lower() or not release_id or " " in release_id:
        raise r.fail(f"{p}id", f"{release_id!r} must be a lower-case id without spaces")
    published = r.required(data, "published", p, r.text)
    try:
        date.fromisoformat(published)
    except ValueError:
        raise r.fail(f"{p}published", f"{published!r} is not a date (YYYY-MM-DD)") from None
    return Release(
        id=release_id,
        name=r.required(data, "name", p, r.text),
        repo=r.required(data, "repo", p, r.text),
        published=published,
        official=r.required(data, "official", p, r.flag),
        source=r.required(data, "source", p, lambda v, w: check_source(r, v, w)),
        note=r.optional(data, "note", p, r.text),
    )


def read_releases(r: FieldReader, check_source: SourceCheck, value: Any, where: str) -> tuple[Release, ...]:
    """Read a model's ``releases`` list: at least one, ids unique."""
    releases = r.items(value, where, lambda v, w: _release(r, check_source, v, w))
    if not releases:
        raise r.fail(where, "an empty list: leave the field out when the model has one release")
    seen: set[str] = set()
    for i, release in enumerate(releases):
        if release.id in seen:
            raise r.fail(f"{where}[{i}].id", f"duplicate release {release.id!r}")
        seen.add(release.id)
    return releases


def default_release(releases: Sequence[Release]) -> Release | None:
    """The newest official release; the newest of all when none is official; None without releases."""
    if not releases:
        return None
    official = [release for release in releases if release.official]
    return max(official or releases, key=lambda release: release.day)


def release_named(model: ModelProfile, name: str) -> Release:
    """``model``'s release called ``name``; a UsageError naming the known ones otherwise."""
    for release in model.releases:
        if release.id == name:
            return release
    known = ", ".join(release.id for release in model.releases) or "none"
    raise UsageError(f"--release {shown(name)}: {model.id} has no such release (known: {known})")


def select_release(model: ModelProfile, release: Release | None) -> ModelProfile:
    """``model`` as of ``release``: its repository and, per quantization, that release's published files (files
    that name no release belong to the first release). Unchanged without releases."""
    if release is None or not model.releases:
        return model
    first = model.releases[0].id
    quants = tuple(
        replace(row, published=tuple(f for f in row.published_all if (f.release or first) == release.id))
        for row in model.quants
    )
    return replace(model, hf_repo=release.repo, quants=quants, release=release.id)


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
