"""Contract rules 9 and 11: which download and engine an option runs on here, and its verdict on them.

Every (download, engine) pair of the row that runs on this platform (``catalog.downloads.candidates``) is
estimated on its own file and with its own engine's memory (vLLM's tensor-parallel split and FP8 cache, or
llama.cpp's layer split and 16-bit cache), and judged (``realfit.verdict``). The option runs on the best of them:
the best fit (comfortable, minimum, offload, none), then the engine the platform prefers, then the smallest need.
So the grid, the verdict, the gate and the run block all read the same file, engine and need.

The verdict on one pair (``verdict``), rule 9: need = the file + the KV cache at the context for the sequences the
command serves + the engine's overhead per GPU, within the placement's own budget (an even tensor-parallel split
for vLLM). ``minimum`` when usable VRAM covers max(table minimum, need): 98% of the table's figure (rule 1), the need
whole; ``comfortable`` likewise for max(table safer figure, need x the row's safer/minimum ratio); else
``offload`` when the same need, split as it runs (the experts in spare RAM, or everything on the CPU), fits; else
``none``. Never more optimistic than the article: the table's figures stay the floor. Pure.
"""

from __future__ import annotations

from dataclasses import replace

from vram_advisor.catalog.downloads import ReferenceDownload, candidates, downloads_of
from vram_advisor.catalog.engines import Engine, EngineTable, Platform
from vram_advisor.catalog.profiles import ModelProfile, QuantRow
from vram_advisor.core import units
from vram_advisor.core.records import Record, dataclass
from vram_advisor.plan import estimate as est
from vram_advisor.plan.machine import COMFORTABLE, MINIMUM, NONE, OFFLOAD, Fit, Machine, RunsOn

FIT_ORDER = {COMFORTABLE: 0, MINIMUM: 1, OFFLOAD: 2, NONE: 3}


@dataclass(frozen=True, eq=False, repr=False)
class Choice(Record):
    """One option as it would run here: the download, the engine, their estimate, and the verdict on them."""

    download: ReferenceDownload
    engine: Engine
    estimate: est.Estimate
    row: QuantRow
    fit: Fit
    placement: RunsOn | None
    #: why the engines the platform prefers were not chosen (another file or engine fits better), in words
    notes: tuple[str, ...] = ()
    #: The spare RAM at which a placement of any pair judged for this row starts to fit (``ram_needed_bytes``):
    #: between two of these the choice and its verdict stay the same (a fleet plans once per step).
    ram_steps: tuple[int, ...] = ()

    @property
    def need_bytes(self) -> int:
        return self.row.need_bytes or 0


def safer_need(need_bytes: int, row: QuantRow) -> int:
    """A need scaled by the row's safer/minimum ratio (the headroom the article asks for comfort), rounded up."""
    return -(-need_bytes * row.safer_vram_bytes // row.min_vram_bytes)


def raised_row(row: QuantRow, weights_bytes: int, need_bytes: int | None) -> QuantRow:
    """``row`` with the real weights and the need of its download beside the table's own figures (which stay the
    floor and keep their 98% allowance): ``QuantRow.judged_min_bytes`` and the thresholds read both."""
    return replace(
        row,
        weights=units.weights_text(max(weights_bytes, 1)),
        need_bytes=need_bytes,
        safer_need_bytes=None if need_bytes is None else safer_need(need_bytes, row),
    )


def verdict(row: QuantRow, estimate: est.Estimate, machine: Machine) -> tuple[QuantRow, Fit, RunsOn | None]:
    """Rule 9 for one estimate: the row raised to its need, the fit and where it runs."""
    gpu = estimate.gpu
    gpu_need = gpu.gpu_bytes if gpu is not None else None  # less what stays on disk (V4.1's engram tables)
    judged = raised_row(row, estimate.weights.bytes, gpu_need)
    usable = machine.usable_vram_bytes
    on_gpu: RunsOn = "unified" if machine.unified else "gpu"
    if gpu is not None and gpu.fits and gpu.budget_bytes is not None and judged.safer_need_bytes is not None:
        if usable >= judged.safer_threshold_bytes and judged.safer_need_bytes <= gpu.budget_bytes:
            return judged, COMFORTABLE, on_gpu
        if usable >= judged.min_threshold_bytes:
            return judged, MINIMUM, on_gpu
    for placement in estimate.placements:
        if placement.kind in (est.PLACEMENT_HYBRID, est.PLACEMENT_CPU) and placement.fits:
            return judged, OFFLOAD, placement.kind
    return judged, NONE, None


def row_for(row: QuantRow, engine: Engine) -> QuantRow:
    """``row`` with its memory counted the way ``engine`` runs it (the estimate's two engine families)."""
    if row.bits is None or row.bits.engine == engine.memory:
        return row
    return replace(row, bits=replace(row.bits, engine=engine.memory))


def estimate_choice(
    model: ModelProfile,
    row: QuantRow,
    download: ReferenceDownload,
    engine: Engine,
    context_tokens: int,
    view: est.MachineView | None,
    kv_dtype: str,
    sequences: int = 1,
) -> est.Estimate:
    """The estimate of ``row`` on ``download`` run by ``engine``, for ``sequences`` sequences of the context."""
    assert download.bytes is not None
    return est.estimate_option(
        model,
        row_for(row, engine),
        context_tokens,
        view,
        kv_dtype,
        "real",
        download=(download.bytes, download.basis),
        offload=engine.offload,
        kv_factor=(engine.kv_scale, engine.kv_source),
        sequences=sequences,
    )


#: A passed-over engine's fit, in a sentence.
FIT_WORDS = {"none": "does not fit", "minimum": "fits only at its minimum", "offload": "fits only with offload"}


def choose(
    model: ModelProfile,
    row: QuantRow,
    machine: Machine,
    view: est.MachineView,
    platform: Platform,
    engines: EngineTable,
    context_tokens: int,
    kv_dtype: str,
    sequences: int = 1,
) -> Choice | None:
    """The pair ``row`` runs on here, judged for ``sequences`` sequences of the context; None where no engine of
    this platform has a file for it."""
    judged_pairs: list[tuple[tuple[int, int, int], Choice]] = []
    for download, engine in candidates(model, row, platform, engines):
        estimate = estimate_choice(model, row, download, engine, context_tokens, view, kv_dtype, sequences)
        judged, fit, placement = verdict(row, estimate, machine)
        choice = Choice(download, engine, estimate, judged, fit, placement)
        judged_pairs.append(((FIT_ORDER[fit], engines.rank(platform, engine.id), choice.need_bytes), choice))
    if not judged_pairs:
        return None
    key, best = min(judged_pairs, key=lambda pair: pair[0])
    steps = tuple(
        sorted(
            {
                placement.ram_needed_bytes
                for _key, pair in judged_pairs
                for placement in pair.estimate.placements
                if placement.ram_needed_bytes is not None
            }
        )
    )
    best = replace(best, ram_steps=steps)
    passed = [
        f"{other.engine.name} runs here too, but {other.download.name} "
        + FIT_WORDS.get(other.fit, f"fits {other.fit}")
        + f" (it needs {units.format_gib(other.need_bytes)})"
        for other_key, other in judged_pairs
        if other_key[1] < key[1] and other.engine.id != best.engine.id
    ]
    passed += not_here(model, row, platform, engines)
    return replace(best, notes=tuple(dict.fromkeys(passed))) if passed else best


def not_here(model: ModelProfile, row: QuantRow, platform: Platform, engines: EngineTable) -> list[str]:
    """The engines a published file of ``row`` is made for that do not run on ``platform``, and why."""
    runnable = {engine.id for engine in engines.order(platform)}
    lines = []
    for engine_id in dict.fromkeys(e for d in downloads_of(model, row) for e in d.engines):
        engine = engines.engines.get(engine_id)
        if engine is None or engine_id in runnable:
            continue
        same_kind = [entry for entry in engine.platforms if entry.kind == platform.kind]
        if not same_kind:  # an engine of another platform altogether (MLX on a PC): nothing worth saying
            continue
        where = "; or ".join(dict.fromkeys(entry.conditions() for entry in same_kind))
        count = len(platform.gpu_names)
        lines.append(
            f"{engine.name} does not run here ({platform.words}, {count} GPU{'s' if count != 1 else ''}): it runs V4 "
            f"on {where}"
        )
    return lines
