"""Speculative decoding on a plan: where the release ships a draft module (``Release.draft``) and the chosen engine
drafts with it on these GPUs (``Engine.drafting``: profiles/engines.json), the decode speed with drafting beside
the plain one, the drafting flag for the printed command, and the memory drafting adds. Pure.

* Speed: the plain single-stream estimate (``speed.decode_speed``) times the engine's speed-up over plain decoding
  (``SpeculativeSupport.speedup``, each figure with its public source): the estimate times the assumed speed-up,
  the low end times the lowest, the high end times the highest. Only where the weights are read from GPU memory:
  a verify step of a few tokens then costs about one plain step; where experts stream from RAM it does not.
* Memory: the draft's weights are in the checkpoint already (its size counts them); drafting adds the draft
  stages' own sliding-window KV cache (a ring like a main layer's, per stage) and the draft tokens' slots in the
  main cache (``draft_bytes``), counted in ``need_bytes`` and checked against the GPUs' budget before the flag
  is printed.
* Command: vLLM's ``--speculative-config`` with the keys its parser reads (vllm/config/speculative.py:
  ``method``, ``num_speculative_tokens``), the draft length the checkpoint's ``dspark_block_size`` (5 for
  DeepSeek-V4-Flash-0731: vllm-project/vllm PR #41834).

Where the engine's support is unknown or missing, or the release ships no draft, there is no figure and no flag,
and ``note`` says why.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Protocol

from vram_advisor.catalog.engines import Engine, platform_of
from vram_advisor.catalog.speculative import Draft, Speedup
from vram_advisor.core import units
from vram_advisor.plan.estimate.option import Estimate
from vram_advisor.plan.estimate.placement import Placement
from vram_advisor.plan.estimate.speed import format_rate, round_rate
from vram_advisor.plan.machine import PLACEMENT_GPU

#: How each method is named in words.
METHOD_NAMES = {"dspark": "DSpark", "mtp": "MTP"}


class Speculative(NamedTuple):
    """Drafting on one plan: the speed with it (None where it does not apply) and why, the flag, the memory. A
    named tuple, not a ``Record``: ``check --json`` builds one on every run, and a record's compiled ``__init__``
    costs start-up time."""

    method: str | None
    note: str
    tokens_per_s: float | None = None
    low: float | None = None
    high: float | None = None
    speedup: Speedup | None = None
    acceptance: str | None = None
    source: str | None = None
    #: tokens drafted per step (``num_speculative_tokens``)
    draft_tokens: int | None = None
    #: the memory drafting adds to the plan (the draft's own KV cache and its slots in the main cache)
    draft_bytes: int = 0
    #: the plan's need with drafting (weights + KV + overhead + ``draft_bytes``)
    need_bytes: int | None = None
    requires: str | None = None
    flag: tuple[str, ...] = ()

    @property
    def applies(self) -> bool:
        return self.tokens_per_s is not None

    def text(self) -> str | None:
        """ "≈ 53 tok/s (28-115) with DSpark drafting", or None where it does not apply."""
        if self.tokens_per_s is None or self.low is None or self.high is None:
            return None
        name = METHOD_NAMES.get(self.method or "", self.method or "")
        rates = f"{format_rate(self.tokens_per_s)} tok/s ({format_rate(self.low)}-{format_rate(self.high)})"
        return f"≈ {rates} with {name} drafting"

    def short(self) -> str | None:
        """ "≈ 53 (28-115) with DSpark", beside the plain speed in the verdict line."""
        if self.tokens_per_s is None or self.low is None or self.high is None:
            return None
        name = METHOD_NAMES.get(self.method or "", self.method or "")
        return f"≈ {format_rate(self.tokens_per_s)} ({format_rate(self.low)}-{format_rate(self.high)}) with {name}"


def _draft(estimate: Estimate) -> tuple[str, Draft | None]:
    """The release the estimate is for, in words, and the draft module it ships."""
    model = estimate.model
    release = next((r for r in model.releases if r.id == model.release), None)
    if release is None:
        return model.name, None
    return release.name, release.draft


def draft_bytes(estimate: Estimate, draft: Draft) -> int:
    """The memory drafting adds: each draft stage keeps a sliding-window ring like one main layer's, and each
    sequence holds ``block_size`` draft slots in the main cache (vLLM schedules them as lookahead tokens)."""
    kv, arch = estimate.kv, estimate.model.architecture
    if kv is None or arch is None or arch.layers <= 0:
        return 0
    ring = math.ceil(kv.swa_ring_bytes * draft.stages / arch.layers)
    slots = math.ceil((draft.block_size or 0) * kv.amortised_bytes_per_token * kv.sequences)
    return ring + slots


def speculative_for(
    estimate: Estimate, placement: Placement | None, engine: Engine, loads_repo: str | None
) -> Speculative | None:
    """Drafting on ``placement`` of ``estimate`` run by ``engine`` from ``loads_repo``; None for a model that has no
    releases (nothing is known of a draft)."""
    if not estimate.model.releases:
        return None
    release_name, draft = _draft(estimate)
    if draft is None:
        return Speculative(None, f"no draft module is recorded for {release_name}: no speculative decoding")
    method = METHOD_NAMES.get(draft.method, draft.method)
    support = engine.drafting(draft.method)
    if support is None:
        return Speculative(draft.method, f"{engine.name}: nothing is known of {method} drafting here (unknown)")
    if support.status != "supported":
        return Speculative(draft.method, f"{engine.name}, {method} drafting {support.status}: {support.note}")
    machine = estimate.machine
    where = platform_of(machine.gpus if machine is not None else ())
    entry = next((p for p in support.platforms if p.admits(where)), None)
    if entry is None:
        return Speculative(draft.method, f"{engine.name} does not draft with {method} on {where.words} (unknown)")
    release_repo = next((r.repo for r in estimate.model.releases if r.id == estimate.model.release), None)
    if loads_repo is None or release_repo is None or loads_repo.lower() != release_repo.lower():
        return Speculative(
            draft.method,
            f"the file loaded ({loads_repo or 'unknown'}) is not {release_name}, whose checkpoint ships the draft",
        )
    if draft.block_size is None:
        return Speculative(draft.method, f"{release_name}: {draft.note or 'its draft block size is unknown'}")
    if placement is None or placement.kind != PLACEMENT_GPU:
        return Speculative(draft.method, f"{method} drafting is counted only where the weights are in GPU memory")
    plain, speedup = placement.speed, support.speedup
    if plain is None or speedup is None:
        return Speculative(draft.method, "no plain decode speed to scale (a bandwidth is unknown)")
    extra = draft_bytes(estimate, draft)
    budget = placement.budget_bytes
    if budget is not None and placement.gpu_bytes + extra > budget:
        return Speculative(
            draft.method,
            f"{method} drafting needs {units.format_gib(extra)} more than the "
            f"{units.format_gib(budget - placement.gpu_bytes)} left on the GPUs",
        )
    # the JSON vLLM's parser reads, without spaces (one shell word); the method is one of METHODS, no quoting needed
    config = f'{{"method":"{draft.method}","num_speculative_tokens":{draft.block_size}}}'
    version = entry.version or support.version
    return Speculative(
        method=draft.method,
        note=(
            f"{method} drafting with the draft module in {release_name}'s checkpoint, {draft.block_size} tokens per "
            f"step: {speedup.estimate:g}x plain decoding ({speedup.low:g}-{speedup.high:g}x), single stream"
            + (f"; {entry.note}" if entry.note else "")
        ),
        tokens_per_s=plain.tokens_per_s * speedup.estimate,
        low=plain.low * speedup.low,
        high=plain.high * speedup.high,
        speedup=speedup,
        acceptance=support.acceptance,
        source=support.source,
        draft_tokens=draft.block_size,
        draft_bytes=extra,
        need_bytes=placement.need_bytes + extra,
        requires=f"{engine.name} {version}" if version else None,
        flag=(support.flag or "", config),
    )


class _Download(Protocol):
    @property
    def repo(self) -> str | None: ...


class _Run(Protocol):
    """What ``of_run`` reads of a run block (``runners.RunPlan``, which imports this package)."""

    @property
    def engine(self) -> Engine: ...
    @property
    def placement(self) -> Placement | None: ...
    @property
    def download(self) -> _Download: ...


def of_run(estimate: Estimate | None, run: _Run | None) -> Speculative | None:
    """Drafting on a run block (the recommendation's), exactly as its engine line was built."""
    if estimate is None or run is None or run.placement is None:
        return None
    return speculative_for(estimate, run.placement, run.engine, run.download.repo)


def with_speculative(
    words: list[str], notes: list[str], estimate: Estimate, placement: Placement, engine: Engine, repo: str | None
) -> tuple[list[str], list[str]]:
    """A vLLM line's words and notes with the drafting flag where drafting applies (``speculative_for``), or with
    the note that says why not."""
    found = speculative_for(estimate, placement, engine, repo)
    if found is None or found.method is None:
        return words, notes
    if not found.applies:
        return words, [*notes, f"no speculative decoding: {found.note}"]
    flag, value = found.flag
    # before --gpu-memory-utilization, where the wrapped lines pack tighter (the flag's JSON is one long word)
    at = words.index("--gpu-memory-utilization") if "--gpu-memory-utilization" in words else len(words)
    return [*words[:at], flag, value, *words[at:]], [
        *notes,
        f"{flag}: {found.note}; {found.draft_tokens} is the checkpoint's dspark_block_size (vllm-project/vllm PR "
        f"#41834: the 7 of the recipes lowers acceptance); needs {found.requires or engine.requirement}",
    ]


def speculative_dict(found: Speculative | None) -> dict[str, Any] | None:
    """``decode_tokens_per_s.speculative`` of ``check --json``: the range with drafting (null figures where it does
    not apply), the acceptance assumed and its source, the memory it adds, and why."""
    if found is None:
        return None
    speedup = found.speedup
    return {
        "method": found.method,
        "estimate": round_rate(found.tokens_per_s),
        "low": round_rate(found.low),
        "high": round_rate(found.high),
        "text": found.text(),
        "speedup": None
        if speedup is None
        else {"estimate": speedup.estimate, "low": speedup.low, "high": speedup.high},
        "acceptance": found.acceptance,
        "source": found.source,
        "draft_tokens": found.draft_tokens,
        "draft_bytes": found.draft_bytes if found.applies else None,
        "need_bytes": found.need_bytes,
        "requires": found.requires,
        "flag": list(found.flag) if found.flag else None,
        "note": found.note,
    }
