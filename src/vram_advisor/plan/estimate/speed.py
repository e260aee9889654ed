"""Single-stream decode speed of one placement: bandwidth arithmetic beside a per-token latency floor, calibrated
against measured DeepSeek V4 runs from public issues (docs/speeds.md has the table, bench/speeds_table.py
regenerates it, tests/fixtures/measured_speeds.json holds the points with their sources).

Per decoded token::

    time = sum over the tiers that read (bytes read per token / (peak bandwidth x the tier's fraction))
         + layers x the engine's per-layer floor (+ multi-GPU synchronisation)

* Bandwidth: at batch 1 a GPU reads its weights at ~70% of peak (``TIER_FRACTION["gpu"]``); system RAM streams
  experts at about half of peak (at that share the RAM-bound runs land within 2x: kvcache-ai/ktransformers#2001,
  ikawrakow/ik_llama.cpp#1752, FlashML-org/FreeToken#444); mmap page faults from the disk do no better.
* The floor: at batch 1 these engines are bound by per-layer kernel latency and synchronisation, not by memory
  bandwidth (V4-Flash decodes at 20-40 tok/s whether on an 819 GB/s M3 Ultra, ggml-org/llama.cpp#22319, or two
  1.8 TB/s RTX PRO 6000s, vllm-project/vllm#40852). A floor per layer and engine, plus the all-reduces tensor
  parallelism adds per layer and the hops of a llama.cpp layer split: multi-GPU splits add latency, they never
  remove it.

The constants were fitted by hand on rows 1, 2, 4 and 6 of docs/speeds.md; rows 3 and 5 were held out and land
within 2x. The estimate is printed as a range (``RANGE_FACTOR`` either side), never one figure. Pure.
"""

from __future__ import annotations

import math
from typing import Protocol

from vram_advisor.core.records import Record, dataclass
from vram_advisor.inventory import bandwidth as bw

#: The share of a tier's peak bandwidth a single-stream decode step reads at. GPU memory (HBM, GDDR, and the unified
#: memory of Apple Silicon and GB10, which the GPU reads the same way): 70%, the GEMV share memory-bound kernels
#: reach; system RAM and the disk: 50% (docs/speeds.md rows 1-3: kvcache-ai/ktransformers#2001,
#: ikawrakow/ik_llama.cpp#1752, FlashML-org/FreeToken#444).
TIER_FRACTION: dict[str, float] = {"gpu": 0.7, "ram": 0.5, "disk": 0.5}

#: vLLM's per-layer floor at tensor-parallel 1, in milliseconds per decoded token (fitted on vllm-project/vllm#40852,
#: docs/speeds.md row 6: two RTX PRO 6000 Max-Q at TP=2 peak at 37.8 tok/s, where 5.2 GB per GPU at 1.8 TB/s alone
#: would allow ~250).
VLLM_LAYER_MS = 0.6
#: What tensor parallelism adds per layer for each doubling of its size (two all-reduces per layer; vLLM's custom
#: all-reduce takes tens of microseconds over NVLink or PCIe).
VLLM_TP_LAYER_MS = 0.03
#: llama.cpp's (and the hybrid engines': ktransformers, FreeToken) per-layer floor, milliseconds per token (fitted on
#: docs/speeds.md rows 1, 2 and 4: M3 Ultra Q4 23.3 tok/s, ggml-org/llama.cpp#22319; EPYC CPU-only 9.7,
#: ikawrakow/ik_llama.cpp#1752; ktransformers V4-Pro 7.33, kvcache-ai/ktransformers#2001).
LLAMA_CPP_LAYER_MS = 0.55
#: What each extra GPU of a llama.cpp layer split adds per token (one hand-off of the hidden state).
LLAMA_CPP_SPLIT_MS = 0.5
#: The printed range: the estimate divided and multiplied by this (the measured points land within 2x).
RANGE_FACTOR = 1.5


@dataclass(frozen=True, eq=False, repr=False)
class MemoryTier(Record):
    """One memory tier of a placement: what it holds, what it reads per decoded token, and how fast it reads."""

    name: str
    holds_bytes: int
    reads_per_token_bytes: int
    bandwidth: bw.Bandwidth

    @property
    def tokens_per_s(self) -> float | None:
        """This tier's own ceiling: bandwidth / bytes read per token."""
        if self.reads_per_token_bytes <= 0:
            return None
        if self.bandwidth.bytes_per_s is None:
            return None
        return self.bandwidth.bytes_per_s / self.reads_per_token_bytes


@dataclass(frozen=True, eq=False, repr=False)
class SpeedEstimate(Record):
    """A decode-speed estimate (tokens per second) with its range and the parts of a token's time."""

    tokens_per_s: float
    low: float
    high: float
    bandwidth_ms: float
    floor_ms: float
    floor_words: str
    #: A speed ``verify`` measured for this very option, placement and engine on this machine (the calibration
    #: store), with its date: shown beside the estimate, and the range stretched to take it in.
    measured: float | None = None
    measured_on: str | None = None

    def text(self) -> str:
        """ "≈ 26 tok/s (17-39)": the estimate and its range, never a bare figure; a measured speed beside it
        ("; measured here: 22 tok/s (2026-12-07)")."""
        text = f"≈ {format_rate(self.tokens_per_s)} tok/s ({format_rate(self.low)}-{format_rate(self.high)})"
        if self.measured is not None:
            text += f"; measured here: {format_rate(self.measured)} tok/s ({self.measured_on})"
        return text

    def short(self) -> str:
        """ "≈26 (17-39)" for a table cell ("≈26 (17-39), measured 22")."""
        text = f"≈{format_rate(self.tokens_per_s)} ({format_rate(self.low)}-{format_rate(self.high)})"
        if self.measured is not None:
            text += f", measured {format_rate(self.measured)}"
        return text

    def with_measured(self, tokens_per_s: float, on: str) -> SpeedEstimate:
        """This estimate with a speed measured here beside it: the range stretched to take it in (the estimate
        itself stays the model's)."""
        return SpeedEstimate(
            tokens_per_s=self.tokens_per_s,
            low=min(self.low, tokens_per_s),
            high=max(self.high, tokens_per_s),
            bandwidth_ms=self.bandwidth_ms,
            floor_ms=self.floor_ms,
            floor_words=self.floor_words,
            measured=tokens_per_s,
            measured_on=on,
        )


def format_rate(value: float) -> str:
    """A rate to two significant figures: 26, 9.3, 0.84, 140."""
    if value <= 0:
        return "0"
    digits = 1 - math.floor(math.log10(value))
    rounded = round(value, digits)
    return f"{rounded:.{digits}f}" if digits > 0 else f"{rounded:.0f}"


def floor_ms(engine: str, layers: int, tensor_parallel: int, split_gpus: int) -> tuple[float, str]:
    """The per-token latency floor of ``engine`` over ``layers`` layers, and how it was made, in words."""
    if engine == "vllm":
        doublings = math.log2(tensor_parallel) if tensor_parallel > 1 else 0.0
        per_layer = VLLM_LAYER_MS + VLLM_TP_LAYER_MS * doublings
        words = f"vLLM {per_layer:.2f} ms per layer x {layers} layers"
        if tensor_parallel > 1:
            words += f" (incl. tensor-parallel {tensor_parallel} synchronisation)"
        return per_layer * layers, words
    total = LLAMA_CPP_LAYER_MS * layers
    words = f"llama.cpp {LLAMA_CPP_LAYER_MS:.2f} ms per layer x {layers} layers"
    if split_gpus > 1:
        total += LLAMA_CPP_SPLIT_MS * (split_gpus - 1)
        words += f" + {LLAMA_CPP_SPLIT_MS:g} ms per token for each of {split_gpus - 1} layer-split hand-off(s)"
    return total, words


class Placed(Protocol):
    """What the speed model reads of a placement (``placement.Placement``, which imports this module)."""

    @property
    def tiers(self) -> tuple[MemoryTier, ...]: ...
    @property
    def layers(self) -> int: ...
    @property
    def engine(self) -> str: ...
    @property
    def gpus_used(self) -> int: ...
    @property
    def weights_gpu(self) -> int: ...
    @property
    def tensor_parallel(self) -> int: ...


def decode_speed(placement: Placed) -> SpeedEstimate | None:
    """The calibrated single-stream decode speed of ``placement``; None when a tier that reads has no known
    bandwidth, or the placement knows no layer count."""
    reading = [tier for tier in placement.tiers if tier.reads_per_token_bytes > 0]
    if not reading or placement.layers <= 0:
        return None
    seconds = 0.0
    for tier in reading:
        tier_seconds = read_seconds(tier, tier.reads_per_token_bytes)
        if tier_seconds is None:
            return None
        seconds += tier_seconds
    split = placement.gpus_used if placement.weights_gpu else 0  # a layer split (vLLM's floor has none)
    floor, words = floor_ms(placement.engine, placement.layers, placement.tensor_parallel, split)
    return step_speed(1, seconds, floor, words)


def read_seconds(tier: MemoryTier, read_bytes: float) -> float | None:
    """Seconds a decode step takes to read ``read_bytes`` from ``tier`` at its share of peak bandwidth
    (``TIER_FRACTION``); None when the tier's bandwidth is unknown."""
    rate = tier.bandwidth.bytes_per_s
    if rate is None:
        return None
    return read_bytes / (rate * TIER_FRACTION.get(tier.name, TIER_FRACTION["ram"]))


def step_speed(tokens_per_step: int, read_s: float, floor: float, floor_words: str) -> SpeedEstimate:
    """The speed of decode steps that each yield ``tokens_per_step`` tokens (one per sequence) in ``read_s``
    seconds of reading plus a ``floor`` of milliseconds, with its printed range (``RANGE_FACTOR`` either side)."""
    tokens_per_s = tokens_per_step * 1000 / (read_s * 1000 + floor)
    return SpeedEstimate(
        tokens_per_s=tokens_per_s,
        low=tokens_per_s / RANGE_FACTOR,
        high=tokens_per_s * RANGE_FACTOR,
        bandwidth_ms=read_s * 1000,
        floor_ms=floor,
        floor_words=floor_words,
    )


def serial_estimate_words(engine: str | None = None) -> str:
    """How the ``≈`` speed is computed, in words (every view and the assumptions print it); ``engine`` (a memory
    model: "vllm" or "llama.cpp") names only its own floor."""
    return model_words(engine)


def model_words(engine: str | None = None) -> str:
    """How the estimate is made, in one line (for the assumptions and the views): the floor of ``engine``'s family
    ("vllm" or "llama.cpp"), or of both."""
    fractions = ", ".join(f"{name} {share:.0%}" for name, share in TIER_FRACTION.items())
    floors = {
        "vllm": f"vLLM {VLLM_LAYER_MS} ms per layer (+{VLLM_TP_LAYER_MS} per doubling of tensor parallelism)",
        "llama.cpp": f"llama.cpp {LLAMA_CPP_LAYER_MS} ms per layer (+{LLAMA_CPP_SPLIT_MS} ms per extra GPU of a "
        "layer split)",
    }
    floor = floors[engine] if engine in floors else ", ".join(floors.values())
    return (
        f"estimate = 1 / (bytes per token / (bandwidth x share of peak: {fractions}) + a per-token floor: {floor}); "
        f"range ÷/x {RANGE_FACTOR}; calibrated on measured runs from public issues (docs/speeds.md)"
    )


def round_rate(value: float | None, digits: int = 2) -> float | None:
    """A rate or ratio rounded for JSON (None stays None)."""
    return None if value is None else round(value, digits)
