"""Downloads (contract rules 9 and 11): for every model x quantization of a release, the real files a user fetches
for that row, the engines that load them, and, where no published file can run, the conversion that makes one.

* The profile lists each row's published downloads per release (``QuantRow.published``: the chosen release's;
  ``releases.select_release``): repository, files (a split GGUF's shards, the first one the file an engine is
  pointed at), include glob, exact bytes, format, engines, source and date.
* Where nothing is published for the row (or nothing published runs on the platform), the download is the
  release's checkpoint and a conversion with llama.cpp's tools (``Conversion``): its size is computed from the
  architecture at the row's own bits per weight (a Q2 or Q3 GGUF requantizes the FP4 experts: nothing is floored
  to FP4) and labelled computed.
* ``reference_download`` is the row's download without a platform (the one of the row's own engine family: the
  official checkpoint for FP8, a GGUF for the others); ``candidates`` are the (download, engine) pairs that run on
  a platform, which the planner (plan/choose.py) judges one by one.

Pure: reads profiles only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vram_advisor.catalog.engines import Engine, EngineTable, Platform
from vram_advisor.catalog.releases import release_named, select_release
from vram_advisor.core import units
from vram_advisor.core.records import Record, dataclass

if TYPE_CHECKING:
    from vram_advisor.catalog.architecture import Architecture, PublishedFile, QuantBits
    from vram_advisor.catalog.profiles import ModelProfile, QuantRow

#: llama-quantize's type for each row a conversion makes (its own names; tools/quantize/README.md), and
#: convert_hf_to_gguf.py's --outtype for the FP8 row, which needs no second step.
QUANTIZE_TYPES = {"q6": "Q6_K", "q5": "Q5_K_M", "q4": "Q4_K_M", "q3": "Q3_K_M", "q2": "Q2_K"}
FP8_OUTTYPE = "q8_0"
#: The 16-bit GGUF a conversion writes first: 2 bytes a parameter.
BF16_BYTES_PER_PARAM = 2


@dataclass(frozen=True, eq=False, repr=False)
class Conversion(Record):
    """How a GGUF that nobody publishes is made: from the release's checkpoint, with llama.cpp's converter, then
    (below FP8) llama-quantize; what each step writes to the disk."""

    checkpoint_repo: str
    checkpoint_bytes: int | None
    outtype: str
    quantize_type: str | None
    intermediate_bytes: int
    #: what the profile says of the checkpoint (e.g. that llama.cpp's converter fails on it), printed with the steps
    checkpoint_note: str | None = None

    @property
    def disk_bytes(self) -> int:
        """Disk the steps need beside the output: the checkpoint and, with a second step, the 16-bit GGUF."""
        return (self.checkpoint_bytes or 0) + (self.intermediate_bytes if self.quantize_type else 0)


@dataclass(frozen=True, eq=False, repr=False)
class ReferenceDownload(Record):
    """What a user fetches for one row of one release: repository, files, size, format, engines, and where it comes
    from; ``conversion`` where the file is made rather than downloaded."""

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
    hint: PublishedFile | None = None
    unknown: str | None = None
    format: str | None = None
    engines: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    date: str | None = None
    conversion: Conversion | None = None
    note: str | None = None
    #: the better-ranked row whose weights the file holds as they are (``PublishedFile.same_weights_as``)
    same_weights_as: str | None = None

    @property
    def basis(self) -> str:
        """ "published", "computed" or "unknown"."""
        if self.bytes is None:
            return "unknown"
        return "computed" if self.computed else "published"

    @property
    def key(self) -> tuple[str | None, str | None, tuple[str, ...]]:
        return (self.repo, self.include, self.files)

    @property
    def disk_bytes(self) -> int | None:
        """What the download (and a conversion's scratch) takes on the disk."""
        if self.bytes is None:
            return None
        return self.bytes + (self.conversion.disk_bytes if self.conversion is not None else 0)


def computed_bytes(arch: Architecture, bits: QuantBits) -> int:
    """Weights from the architecture at ``bits``: routed experts at the row's expert bits (a Q2/Q3 GGUF requantizes
    the FP4 experts below FP4), the engram tables at ``bits.engram`` (else the experts' bits), the rest at
    ``bits.other``."""
    engram_bits = bits.engram if bits.engram is not None else bits.experts
    total = (
        arch.routed_params * bits.experts / 8
        + arch.other_params * bits.other / 8
        + arch.engram_params * engram_bits / 8
    )
    return round(total)


def _published(model: ModelProfile, row: QuantRow, item: PublishedFile) -> ReferenceDownload:
    return ReferenceDownload(
        model=model.id,
        quant=row.id,
        release=model.release,
        repo=item.repo,
        include=item.include,
        bytes=item.size_bytes,
        source=item.source,
        computed=False,
        name=item.name,
        stated=item.stated,
        hf_tag=item.hf_tag,
        unknown=None if item.repo else "the repository of this file is not known",
        format=item.format,
        engines=item.engines,
        files=item.files,
        date=item.date,
        note=item.note,
        same_weights_as=item.same_weights_as,
    )


def _checkpoint(model: ModelProfile) -> PublishedFile | None:
    """The release's own checkpoint (the FP8 row's safetensors file), which a conversion starts from."""
    for row in model.quants:
        if row.id == "fp8":
            for item in row.published:
                if item.format == "safetensors" and item.repo == model.hf_repo:
                    return item
    return None


def computed_download(model: ModelProfile, row: QuantRow) -> ReferenceDownload:
    """The GGUF a user makes for ``row`` from the release's checkpoint, sized by the row's bits per weight."""
    hint = next((f for f in row.published_all if f not in row.published and f.repo), None)
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
    size = computed_bytes(arch, bits)
    quantize = QUANTIZE_TYPES.get(row.id)
    params = arch.params_total + arch.engram_params
    checkpoint = _checkpoint(model)
    conversion = (
        Conversion(
            checkpoint_repo=model.hf_repo,
            checkpoint_bytes=checkpoint.size_bytes if checkpoint is not None else None,
            outtype="bf16" if quantize else FP8_OUTTYPE,
            quantize_type=quantize,
            intermediate_bytes=params * BF16_BYTES_PER_PARAM,
            checkpoint_note=checkpoint.note if checkpoint is not None else None,
        )
        if model.hf_repo
        else None
    )
    return ReferenceDownload(
        model=model.id,
        quant=row.id,
        release=model.release,
        repo=model.hf_repo,
        include=None,
        bytes=size,
        source=bits.source,
        computed=True,
        name=f"{model.name} {row.id.upper()} GGUF made from the checkpoint",
        note=bits.format,
        stated=units.format_file_gb(size),
        hint=hint,
        format="gguf",
        engines=("llama.cpp",),
        conversion=conversion,
    )


def downloads_of(model: ModelProfile, row: QuantRow) -> tuple[ReferenceDownload, ...]:
    """Every published download of ``row`` in the model's chosen release (none: empty)."""
    return tuple(_published(model, row, item) for item in row.published)


def reference_download(model: ModelProfile, row: QuantRow | str, release: str | None = None) -> ReferenceDownload:
    """The download of ``row`` (a row or its id) of ``model`` as of ``release`` (default: the model's chosen
    release) without a platform: the smallest published one of the row's own engine family (the official checkpoint
    for a vLLM row, a GGUF for a llama.cpp row), else the smallest published, else the computed one."""
    if release is not None:
        model = select_release(model, release_named(model, release))
    if isinstance(row, str) or release is not None:
        row = model.quant(row if isinstance(row, str) else row.id)
    found = downloads_of(model, row)
    if not found:
        return computed_download(model, row)
    family = {"vllm": "safetensors", "llama.cpp": "gguf"}.get(row.bits.engine) if row.bits is not None else None
    own = [d for d in found if d.format == family and (family != "safetensors" or d.repo == model.hf_repo)]
    return min(own or found, key=lambda d: d.bytes or 0)


def candidates(
    model: ModelProfile, row: QuantRow, platform: Platform, engines: EngineTable
) -> list[tuple[ReferenceDownload, Engine]]:
    """The (download, engine) pairs of ``row`` that run on ``platform``, in the platform's order of engines, then
    smallest first; the computed conversion (llama.cpp) where no published download runs there."""
    order = engines.order(platform)
    found = [d for d in downloads_of(model, row) if d.repo is not None]  # a file nobody can fetch is no plan
    pairs = [(d, e) for e in order for d in sorted(found, key=lambda d: d.bytes or 0) if e.id in d.engines]
    if pairs:
        return pairs
    llama = next((e for e in order if e.id == "llama.cpp"), None)
    if llama is None:
        return []
    computed = computed_download(model, row)
    return [(computed, llama)] if computed.bytes is not None else []


def download_dict(download: ReferenceDownload, engine: Engine | None = None) -> dict[str, Any]:
    """A download as JSON (``check --json`` options, ``models --json``, ``estimate --json``)."""
    hint = download.hint
    conversion = download.conversion
    return {
        "release": download.release,
        "repo": download.repo,
        "include": download.include,
        "files": list(download.files),
        "hf_tag": download.hf_tag,
        "name": download.name,
        "bytes": download.bytes,
        "stated": download.stated,
        "format": download.format,
        "engines": list(download.engines),
        "engine": engine.id if engine is not None else None,
        "basis": download.basis,
        "computed": download.computed,
        "source": download.source,
        "date": download.date,
        "unknown": download.unknown,
        "same_weights_as": download.same_weights_as,
        "conversion": None
        if conversion is None
        else {
            "from": conversion.checkpoint_repo,
            "checkpoint_bytes": conversion.checkpoint_bytes,
            "outtype": conversion.outtype,
            "quantize_type": conversion.quantize_type,
            "intermediate_bytes": conversion.intermediate_bytes if conversion.quantize_type else 0,
        },
        "disk_bytes": download.disk_bytes,
        "same_architecture_file": None
        if hint is None
        else {"name": hint.name, "repo": hint.repo, "bytes": hint.size_bytes, "release": hint.release},
    }
