"""Which profile option a running engine serves, from what the engine says (``verify``): never from a file name
alone.

1. A repository name: a ``root`` or served id that is an official checkpoint's whole repository name, e.g. vLLM
   serving ``deepseek-ai/DeepSeek-V4-Flash-0731`` (as ``check``'s run block names it with ``--served-model-name``):
   that release's FP8 row. A local folder of the same last name is not enough: it may hold any quantization.
2. A size: the model's bytes as the engine reports them (llama-server's ``/v1/models`` ``meta.size``) within
   ``SIZE_TOLERANCE`` of one published download; where several rows' downloads match, the names the server gives
   (``flash``/``pro``/``base`` in its id or path) and the parameter count (``meta.n_params`` within
   ``PARAMS_TOLERANCE`` of the architecture's) pick among them, and where they still disagree nothing is mapped.

``--as MODEL:QUANT`` overrides all of this. Pure.
"""

from __future__ import annotations

from collections.abc import Iterator

from vram_advisor.catalog.downloads import ReferenceDownload, downloads_of
from vram_advisor.catalog.profiles import Catalog, ModelProfile
from vram_advisor.catalog.releases import select_release
from vram_advisor.core.records import Record, dataclass

#: How far a served model's bytes may be from a download's to be that download (a GGUF's tensor data is its file
#: less a few MB of metadata; a split GGUF's shards add up).
SIZE_TOLERANCE = 0.03
#: Within this, a size is that download's (a file's own metadata is a few MB of hundreds of GB).
SIZE_EXACT = 0.005
#: How far a served parameter count may be from the architecture's.
PARAMS_TOLERANCE = 0.10


@dataclass(frozen=True, repr=False)
class Mapping(Record):
    """The option a server runs, and how that was told."""

    model: str
    quant: str
    release: str | None
    how: str


def _downloads(catalog: Catalog) -> Iterator[tuple[ModelProfile, str | None, ReferenceDownload]]:
    for model in catalog.models:
        pairs: list[tuple[ModelProfile, str | None]] = [
            (select_release(model, release), release.id) for release in model.releases
        ]
        for at, release_id in pairs or [(model, None)]:
            for row in at.quants:
                for download in downloads_of(at, row):
                    yield at, release_id, download


def _hints(*texts: str | None) -> set[str]:
    words = " ".join(t.lower() for t in texts if t)
    found = {word for word in ("flash", "pro", "base") if word in words}
    return found


def _agrees(model: ModelProfile, hints: set[str]) -> bool:
    name = model.id.lower()
    if "flash" in hints and "flash" not in name:
        return False
    if "pro" in hints and "flash" not in hints and "-pro" not in name:
        return False
    return ("base" in hints) == ("base" in name) if hints else True


def _near(
    candidates: list[tuple[ModelProfile, str | None, ReferenceDownload]],
    size_bytes: int,
    tolerance: float,
    n_params: int | None,
    hints: set[str],
) -> list[tuple[ModelProfile, str | None, ReferenceDownload]]:
    """The published downloads within ``tolerance`` of ``size_bytes`` that the parameter count and the names allow."""
    near = [
        (model, release, download)
        for model, release, download in candidates
        if download.bytes and not download.computed and abs(size_bytes - download.bytes) <= tolerance * download.bytes
    ]
    if n_params is not None:
        near = [
            item
            for item in near
            if item[0].architecture is None
            or abs(n_params - item[0].architecture.params_total) <= PARAMS_TOLERANCE * item[0].architecture.params_total
        ]
    return [item for item in near if _agrees(item[0], hints)] if hints else near


def map_served(
    catalog: Catalog,
    model_id: str | None,
    root: str | None = None,
    path: str | None = None,
    size_bytes: int | None = None,
    n_params: int | None = None,
) -> tuple[Mapping | None, str]:
    """The option the server runs, or None, and why, in words."""
    names = [n for n in (model_id, root, path) if n]
    candidates = list(_downloads(catalog))
    checkpoints = {
        download.repo.lower(): (model, release, download)
        for model, release, download in candidates
        if download.repo and not download.files and download.quant == "fp8"
    }
    for name in (root, model_id):  # the whole repository name (vLLM's root, or --served-model-name), root first
        found = checkpoints.get(name.strip().lower()) if name else None
        if found is not None:
            model, release, download = found
            return Mapping(model.id, download.quant, release, f"repository {download.repo}"), ""
    if size_bytes is None:
        return None, "the server gives neither a known repository nor the model's size"
    hints = _hints(*names)
    near: list[tuple[ModelProfile, str | None, ReferenceDownload]] = []
    tolerance = SIZE_EXACT
    for tolerance in (SIZE_EXACT, SIZE_TOLERANCE):  # a download within 0.5% first, then within 3%
        near = _near(candidates, size_bytes, tolerance, n_params, hints)
        if len({(model.id, download.quant) for model, _release, download in near}) == 1:
            break
    rows = {(model.id, download.quant) for model, _release, download in near}
    size = f"{size_bytes / 1e9:.3g} GB"
    if not rows:
        return None, f"no published download of the profiles is {size} (within {SIZE_TOLERANCE:.0%})"
    if len(rows) > 1:
        listed = ", ".join(sorted(f"{m}:{q}" for m, q in rows))
        return None, f"{size} matches more than one option ({listed}); name it with --as MODEL:QUANT"
    model, release, download = min(near, key=lambda item: abs(size_bytes - (item[2].bytes or 0)))
    how = f"size {size} within {tolerance:.1%} of {download.name} ({release or 'its'} release)"
    return Mapping(model.id, download.quant, release, how), ""
