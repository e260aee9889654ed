"""A model's ``Release`` record (one publication: id, repository, day, source) and what reading a profile needs of
it: ``read_releases``, ``default_release`` (the newest official one) and ``select_release`` (a model as of one
release). Below ``catalog/profiles.py``, which knows nothing of the functions over the whole catalogue
(``catalog/releases.py``); typed by the shape of a model (``Released``), so that neither imports the other. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import Field, replace
from datetime import date
from typing import Any, ClassVar, Protocol, TypeVar

from vram_advisor.catalog.architecture import PublishedFile
from vram_advisor.catalog.speculative import Draft, read_draft
from vram_advisor.core.jsonread import FieldReader
from vram_advisor.core.records import Record, dataclass

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
    #: the draft module its checkpoint ships (DSpark in V4 0731 and 0813), for speculative decoding
    draft: Draft | None = None

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
        draft=r.optional(data, "draft", p, lambda v, w: read_draft(r, check_source, v, w)),
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


class _Row(Protocol):
    """What ``select_release`` reads of a quantization row (``profiles.QuantRow``), a dataclass."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]

    @property
    def published_all(self) -> tuple[PublishedFile, ...]: ...


class Released(Protocol):
    """What ``select_release`` reads of a model (``profiles.ModelProfile``), a dataclass."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]

    @property
    def releases(self) -> tuple[Release, ...]: ...

    @property
    def quants(self) -> Sequence[_Row]: ...


ModelT = TypeVar("ModelT", bound=Released)


def select_release(model: ModelT, release: Release | None) -> ModelT:
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
