"""Reference downloads (contract rule 9): for every model x quantization of a release, the files a user would
fetch for that row and their size.

* Where the profile names a published file of the release for the row, that file: its repository, include glob,
  bytes and source (``QuantRow.published``, the first entry; ``releases.select_release`` keeps the chosen release's).
  The FP8 row of an instruct model is the release's official FP4+FP8 checkpoint.
* Where nothing is published, the size computed from the architecture at the row's bits per weight
  (``QuantBits``), with the routed experts never below their native bits (FP4 where the FP8 row ships them as FP4:
  a conversion of an FP4 expert cannot be smaller than the FP4 it comes from without losing the same information
  twice) and the engram tables at the row's bits. The repository is then the release's checkpoint (what a
  conversion starts from), and ``hint`` names a published file of another release of the same architecture.
* Where neither is possible (no architecture or no bits), ``bytes`` is None and ``unknown`` says what is missing.

Pure: reads profiles only. ``--sizes published`` (published.py) and the estimate (plan/estimate/weights.py) read
sizes through ``reference_download``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vram_advisor.catalog.releases import release_named, select_release
from vram_advisor.core import units
from vram_advisor.core.records import Record

if TYPE_CHECKING:
    from vram_advisor.catalog.architecture import Architecture, PublishedFile, QuantBits
    from vram_advisor.catalog.profiles import ModelProfile, QuantRow

#: The bits per weight of natively FP4 routed experts (packed FP4 with one E8M0 scale per 32 weights;
#: deepseek-v4-facts.md §1.4): the floor of a computed size (contract rule 9).
NATIVE_FP4_EXPERT_BITS = 4.25


@dataclass(frozen=True, eq=False, repr=False)
class ReferenceDownload(Record):
    """What a user fetches for one row of one release: repository, include glob, size and where it comes from."""

    model: str
    quant: str
    release: str | None
    repo: str | None
    include: str | None
    bytes: int | None
    source: str
    computed: bool
    name: str | None = None
    stated: str | None = None
    hf_tag: str | None = None
    floor_applied: bool = False
    hint: PublishedFile | None = None
    unknown: str | None = None

    @property
    def basis(self) -> str:
        """ "published", "computed" or "unknown"."""
        if self.bytes is None:
            return "unknown"
        return "computed" if self.computed else "published"


def native_expert_bits(model: ModelProfile) -> float | None:
    """The routed experts' bits in the model's own checkpoint: the FP8 (official weights) row's expert bits."""
    for row in model.quants:
        if row.id == "fp8" and row.bits is not None:
            return row.bits.experts
    return None


def computed_bytes(arch: Architecture, bits: QuantBits, expert_floor: float | None = None) -> tuple[int, bool]:
    """Weights from the architecture at ``bits``: routed experts at max(``bits.experts``, ``expert_floor``), the
    engram tables at ``bits.engram`` (else the experts' bits), the rest at ``bits.other``; and whether the floor
    raised the experts' bits."""
    expert_bits = bits.experts
    floored = expert_floor is not None and expert_bits < expert_floor
    if floored and expert_floor is not None:
        expert_bits = expert_floor
    engram_bits = bits.engram if bits.engram is not None else bits.experts
    total = (
        arch.routed_params * expert_bits / 8 + arch.other_params * bits.other / 8 + arch.engram_params * engram_bits / 8
    )
    return round(total), floored


def _same_architecture_file(model: ModelProfile, row: QuantRow) -> PublishedFile | None:
    """A published file of this row from another release (same architecture): a hint, never the reference."""
    return next((f for f in row.published_all if f not in row.published and f.repo), None)


def reference_download(model: ModelProfile, row: QuantRow | str, release: str | None = None) -> ReferenceDownload:
    """The reference download of ``row`` (a row or its id) of ``model`` as of ``release`` (a release id; by default
    the model's chosen release, ``model.release``)."""
    if release is not None:
        model = select_release(model, release_named(model, release))
    if isinstance(row, str) or release is not None:
        row = model.quant(row if isinstance(row, str) else row.id)
    vllm_row = row.bits is not None and row.bits.engine == "vllm"
    files = row.published
    if vllm_row and model.hf_repo:
        files = tuple(f for f in files if f.repo == model.hf_repo) or files
    first = files[0] if files else None
    if first is not None:
        return ReferenceDownload(
            model=model.id,
            quant=row.id,
            release=model.release,
            repo=first.repo,
            include=first.include,
            bytes=first.size_bytes,
            source=first.source,
            computed=False,
            name=first.name,
            stated=first.stated,
            hf_tag=first.hf_tag,
            unknown=None if first.repo else "the repository of this file is not known",
        )
    hint = _same_architecture_file(model, row)
    arch, bits = model.architecture, row.bits
    if arch is None or bits is None:
        missing = "architecture" if arch is None else f"bits per weight for {row.id}"
        return ReferenceDownload(
            model=model.id,
            quant=row.id,
            release=model.release,
            repo=model.hf_repo,
            include=None,
            bytes=None,
            source=model.source,
            computed=True,
            hint=hint,
            unknown=f"no published file and no {missing} in the profile: the download's size cannot be judged",
        )
    native = native_expert_bits(model)
    floor = NATIVE_FP4_EXPERT_BITS if native is not None and native <= NATIVE_FP4_EXPERT_BITS else None
    size, floored = computed_bytes(arch, bits, floor)
    return ReferenceDownload(
        model=model.id,
        quant=row.id,
        release=model.release,
        repo=model.hf_repo,
        include=None,
        bytes=size,
        source=bits.source,
        computed=True,
        name=f"{model.name} {row.id.upper()} ({bits.format})",
        stated=units.format_file_gb(size),
        floor_applied=floored,
        hint=hint,
    )


def download_dict(download: ReferenceDownload) -> dict[str, Any]:
    """A reference download as JSON (``check --json`` options, ``models --json``)."""
    hint = download.hint
    return {
        "release": download.release,
        "repo": download.repo,
        "include": download.include,
        "hf_tag": download.hf_tag,
        "name": download.name,
        "bytes": download.bytes,
        "stated": download.stated,
        "basis": download.basis,
        "computed": download.computed,
        "source": download.source,
        "experts_floored_to_native_fp4": download.floor_applied,
        "unknown": download.unknown,
        "same_architecture_file": None
        if hint is None
        else {"name": hint.name, "repo": hint.repo, "bytes": hint.size_bytes, "release": hint.release},
    }
