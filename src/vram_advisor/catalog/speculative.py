"""Speculative decoding as data: which release ships a draft module (``releases[].draft`` in a model profile), and
which engine drafts with it, from which version, on which platforms, at what speed-up (``engines[].speculative`` in
profiles/engines.json). Every figure names its public source; the estimate is ``plan/estimate/speculative.py``.

A release's ``draft``: the method (DeepSeek V4 0731 and 0813 ship DSpark, a fused block drafter, in the main
checkpoint, so its weights are already in the checkpoint's size), the block it drafts (``block_size``: the
``dspark_block_size`` of its config.json, the ``num_speculative_tokens`` the engine must be given; unknown where no
public config says) and the stages that keep a sliding-window KV cache of their own.

An engine's ``speculative`` entries: ``status`` is ``supported`` (with the platforms and version, the flag, and the
speed-up range over plain decoding with the acceptance it assumes), ``unknown`` (nobody has shown it; say so) or
``unsupported``. Pure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from vram_advisor.core.jsonread import FieldReader
from vram_advisor.core.records import Record, dataclass


class PlatformEntry(Protocol):
    """What drafting reads of a platform entry (``engines.EnginePlatform``, whose module imports this one)."""

    @property
    def version(self) -> str | None: ...

    @property
    def note(self) -> str | None: ...

    def admits(self, platform: Any) -> bool: ...


SourceCheck = Callable[[FieldReader, Any, str], str]
PlatformReader = Callable[[FieldReader, Any, str], PlatformEntry]

#: The drafting methods a profile may name: DeepSeek's DSpark block drafter and the classic MTP head.
METHODS = ("dspark", "mtp")
STATUSES = ("supported", "unknown", "unsupported")
#: The most tokens a draft block may hold (the DeepSeek V4 checkpoints draft 5; the recipes print 7).
MAX_BLOCK = 16
#: The widest speed-up a profile may claim over plain decoding (the public single-stream runs stay under 2.5x).
MAX_SPEEDUP = 4.0


@dataclass(frozen=True, eq=False, repr=False)
class Draft(Record):
    """The draft module a release ships in its checkpoint."""

    method: str
    source: str
    #: tokens drafted per step (the config's ``dspark_block_size``); None where no public config says
    block_size: int | None = None
    #: draft stages, each with a sliding-window KV cache of its own (counted beside the main KV cache)
    stages: int = 1
    note: str | None = None


class Speedup(NamedTuple):
    """Single-stream decode speed with drafting over plain decoding: the figure assumed and its range."""

    low: float
    estimate: float
    high: float


@dataclass(frozen=True, eq=False, repr=False)
class SpeculativeSupport(Record):
    """Whether an engine drafts with ``method``, where and from which version, and how much faster it decodes."""

    method: str
    status: str
    source: str
    note: str | None = None
    #: the version that has it (platform entries may say otherwise)
    version: str | None = None
    platforms: tuple[PlatformEntry, ...] = ()
    #: the command-line option that takes the drafting config (vLLM: ``--speculative-config``)
    flag: str | None = None
    speedup: Speedup | None = None
    #: the acceptance the speed-up assumes, in words, with its public source
    acceptance: str | None = None


def read_draft(r: FieldReader, check_source: SourceCheck, value: Any, where: str) -> Draft:
    """A release's ``draft``: a known method, a block of 1 to ``MAX_BLOCK`` tokens where given, 1 to 8 stages."""
    data = r.obj(value, where)
    p = f"{where}."
    block = r.optional(data, "block_size", p, r.int_)
    if block is not None and not 1 <= block <= MAX_BLOCK:
        raise r.fail(f"{p}block_size", f"{block} is not a draft block (1 to {MAX_BLOCK} tokens)")
    stages = r.optional(data, "stages", p, r.int_)
    if stages is not None and not 1 <= stages <= 8:
        raise r.fail(f"{p}stages", f"{stages} is not a number of draft stages (1 to 8)")
    return Draft(
        method=r.required(data, "method", p, r.choice(METHODS)),
        source=r.required(data, "source", p, lambda v, w: check_source(r, v, w)),
        block_size=block,
        stages=stages or 1,
        note=r.optional(data, "note", p, r.text),
    )


def _speedup(r: FieldReader, value: Any, where: str) -> Speedup:
    data = r.obj(value, where)
    p = f"{where}."
    low, estimate, high = (r.required(data, key, p, r.number) for key in ("low", "estimate", "high"))
    if not 1.0 <= low <= estimate <= high <= MAX_SPEEDUP:
        raise r.fail(
            where, f"expected 1 <= low <= estimate <= high <= {MAX_SPEEDUP:g}, got {low:g}/{estimate:g}/{high:g}"
        )
    return Speedup(low, estimate, high)


def _support(
    r: FieldReader, check_source: SourceCheck, platform: PlatformReader, value: Any, where: str
) -> SpeculativeSupport:
    data = r.obj(value, where)
    p = f"{where}."
    status = r.required(data, "status", p, r.choice(STATUSES))
    support = SpeculativeSupport(
        method=r.required(data, "method", p, r.choice(METHODS)),
        status=status,
        source=r.required(data, "source", p, lambda v, w: check_source(r, v, w)),
        note=r.optional(data, "note", p, r.text),
        version=r.optional(data, "version", p, r.text),
        platforms=r.optional(data, "platforms", p, lambda v, w: r.items(v, w, lambda x, y: platform(r, x, y))) or (),
        flag=r.optional(data, "flag", p, r.text),
        speedup=r.optional(data, "speedup", p, lambda v, w: _speedup(r, v, w)),
        acceptance=r.optional(data, "acceptance", p, r.text),
    )
    if status == "supported":
        for key in ("version", "platforms", "flag", "speedup", "acceptance"):
            if not data.get(key):
                raise r.fail(f"{p}{key}", "required where the status is 'supported'")
        if not support.flag or not support.flag.startswith("--"):
            raise r.fail(f"{p}flag", f"{support.flag!r} is not a command-line option (--name)")
    elif support.note is None:
        raise r.fail(f"{p}note", f"required where the status is {status!r}: say what is known")
    return support


def read_support(
    r: FieldReader, check_source: SourceCheck, platform: PlatformReader, value: Any, where: str
) -> tuple[SpeculativeSupport, ...]:
    """An engine's ``speculative`` list: one entry per method."""
    found = r.items(value, where, lambda v, w: _support(r, check_source, platform, v, w))
    methods = [entry.method for entry in found]
    for i, method in enumerate(methods):
        if method in methods[:i]:
            raise r.fail(f"{where}[{i}].method", f"duplicate method {method!r}")
    return found
