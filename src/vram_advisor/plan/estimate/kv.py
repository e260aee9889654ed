"""DeepSeek V4's KV cache for a context length: the compressed CSA/HCA rows and the sliding-window ring (the vLLM
blog "DeepSeek V4 in vLLM: Efficient Long-context Attention"; row sizes: vllm-project/vllm#48993). The per-token
rate, the ring and the formula's text are plain functions of the layer counts, ratios and row sizes, so that
``importer.py`` (which has a config.json, not an ``Architecture``) uses the same arithmetic. Pure.
"""

from __future__ import annotations

import math
from dataclasses import replace

from vram_advisor.catalog.architecture import Architecture
from vram_advisor.core.errors import UsageError
from vram_advisor.core.numbers import shown
from vram_advisor.core.records import Record, dataclass


@dataclass(frozen=True, eq=False, repr=False)
class KvEstimate(Record):
    """The KV cache of ``sequences`` sequences of ``context_tokens`` tokens, with the rows that make it up."""

    dtype: str
    context_tokens: int
    sequences: int
    main_row_bytes: int
    indexer_row_bytes: int
    csa_rows: int
    hca_rows: int
    swa_rows: int
    compressed_bytes: int
    swa_ring_bytes: int
    total_bytes: int
    amortised_bytes_per_token: float
    source: str
    csa_ratio: int
    hca_ratio: int
    sliding_window: int
    global_bytes_per_token: int | None = None
    #: how many times the rows above the engine keeps (ds4: about 3.6, its own figure); 1 for the others
    engine_factor: float = 1.0
    #: where ``engine_factor`` comes from (the engine's public figure)
    engine_source: str | None = None


def kv_for_engine(kv: KvEstimate, factor: float, source: str | None) -> KvEstimate:
    """``kv`` as an engine that keeps ``factor`` times the compressed rows holds it (the ring is unchanged), with the
    engine's own figure cited: ds4 keeps about 26 GB for 1M tokens of V4-Flash (its README), where the rows above
    count 7.2 GB."""
    if factor == 1.0:
        return kv
    compressed = round(kv.compressed_bytes * factor)
    return replace(
        kv,
        compressed_bytes=compressed,
        total_bytes=compressed + kv.swa_ring_bytes,
        amortised_bytes_per_token=kv.amortised_bytes_per_token * factor,
        source=f"{kv.source}; x{factor:g} for this engine: {source}" if source else kv.source,
        engine_factor=factor,
        engine_source=source,
    )


def kv_bytes_per_token(
    csa_layers: int, hca_layers: int, csa_ratio: int, hca_ratio: int, main_bytes: int, indexer_bytes: int
) -> float:
    """The compressed rows' bytes per token, amortised: ``N_csa (E_main + E_idx) / csa_ratio + N_hca E_main /
    hca_ratio`` (Flash 6,880 B at BF16, Pro 9,848 B)."""
    return csa_layers * (main_bytes + indexer_bytes) / csa_ratio + hca_layers * main_bytes / hca_ratio


def kv_ring_bytes(layers: int, window_tokens: int, main_bytes: int) -> int:
    """The sliding-window ring of one sequence: every layer keeps ``window_tokens`` latent rows."""
    return layers * window_tokens * main_bytes


def kv_formula(csa_ratio: int, hca_ratio: int, sliding_window: int, global_bytes_per_token: int | None = None) -> str:
    """The formula, with the architecture's ratios and window written in (V4.1's global rate where given)."""
    if global_bytes_per_token is not None:
        return f"T*{global_bytes_per_token} + N_layers*min(T,{sliding_window})*E_main"
    return (
        f"N_csa*ceil(T/{csa_ratio})*(E_main+E_idx) + N_hca*ceil(T/{hca_ratio})*E_main "
        f"+ N_layers*min(T,{sliding_window})*E_main"
    )


def kv_cache_bytes(arch: Architecture, context_tokens: int, kv_dtype: str = "bf16", sequences: int = 1) -> KvEstimate:
    """DeepSeek V4's KV cache for ``sequences`` sequences of ``context_tokens`` tokens.

    V4 is not V3's MLA: every layer keeps a sliding window of ``W`` latent rows; a CSA layer adds one compressed
    row per ``csa_ratio`` (4) tokens plus one indexer-key row; an HCA layer adds one compressed row per
    ``hca_ratio`` (128) tokens. With ``E_main`` and ``E_idx`` the row sizes of the KV format (profile ``kv_rows``:
    BF16 1024 / 256 bytes, vLLM fp8_ds_mla 584 / 132 bytes), per sequence of ``T`` tokens::

        KV = N_csa x ceil(T / 4) x (E_main + E_idx)
           + N_hca x ceil(T / 128) x E_main
           + N_layers x min(T, W) x E_main              (the sliding-window ring)

    i.e. ``kv_bytes_per_token`` amortised (Flash 6,880 B at BF16, Pro 9,848 B) plus a fixed ring (5.4 MiB for
    Flash, 7.6 MiB for Pro). At 1M tokens that is 6.72 GiB (Flash) and 9.62 GiB (Pro) at BF16, 3.76 / 5.38 GiB in
    vLLM's fp8 layout. The compressors' FP32 states (small, bounded) are not counted.
    """
    if kv_dtype not in arch.kv_rows:
        known = ", ".join(arch.kv_rows)
        raise UsageError(f"--kv-dtype {shown(kv_dtype)}: this model's profile has no such KV format (known: {known})")
    if context_tokens <= 0 or sequences <= 0:
        raise UsageError("the context and the number of sequences must be at least 1")
    row = arch.kv_rows[kv_dtype]
    if arch.kv_scheme == "global":
        return _global_kv(arch, context_tokens, kv_dtype, sequences)
    csa_rows = math.ceil(context_tokens / arch.csa_ratio)
    hca_rows = math.ceil(context_tokens / arch.hca_ratio)
    swa_rows = min(context_tokens, arch.sliding_window)
    compressed = (
        arch.csa_layers * csa_rows * (row.main_bytes + row.indexer_bytes) + arch.hca_layers * hca_rows * row.main_bytes
    )
    ring = kv_ring_bytes(arch.layers, swa_rows, row.main_bytes)
    return KvEstimate(
        dtype=kv_dtype,
        context_tokens=context_tokens,
        sequences=sequences,
        main_row_bytes=row.main_bytes,
        indexer_row_bytes=row.indexer_bytes,
        csa_rows=csa_rows,
        hca_rows=hca_rows,
        swa_rows=swa_rows,
        compressed_bytes=compressed * sequences,
        swa_ring_bytes=ring * sequences,
        total_bytes=(compressed + ring) * sequences,
        amortised_bytes_per_token=kv_bytes_per_token(
            arch.csa_layers, arch.hca_layers, arch.csa_ratio, arch.hca_ratio, row.main_bytes, row.indexer_bytes
        ),
        source=row.source,
        csa_ratio=arch.csa_ratio,
        hca_ratio=arch.hca_ratio,
        sliding_window=arch.sliding_window,
    )


def _global_kv(arch: Architecture, context_tokens: int, kv_dtype: str, sequences: int) -> KvEstimate:
    """DeepSeek-V4.1's KV cache: one global rate per token for the compressed latents, which every layer shares
    (DeepSeek: 890 B/token, "about a quarter of V4-Flash"), plus the sliding-window ring of every layer::

        KV = T x G + N_layers x min(T, W) x E_main

    (profiles/deepseek-v41-flash.json ``kv_rows``: G and E_main with their sources; the BF16 G is inferred)."""
    row = arch.kv_rows[kv_dtype]
    rate = row.global_bytes_per_token or 0
    swa_rows = min(context_tokens, arch.sliding_window)
    compressed = context_tokens * rate
    ring = kv_ring_bytes(arch.layers, swa_rows, row.main_bytes)
    return KvEstimate(
        dtype=kv_dtype,
        context_tokens=context_tokens,
        sequences=sequences,
        main_row_bytes=row.main_bytes,
        indexer_row_bytes=row.indexer_bytes,
        csa_rows=0,
        hca_rows=0,
        swa_rows=swa_rows,
        compressed_bytes=compressed * sequences,
        swa_ring_bytes=ring * sequences,
        total_bytes=(compressed + ring) * sequences,
        amortised_bytes_per_token=float(rate),
        source=row.source,
        csa_ratio=arch.csa_ratio,
        hca_ratio=arch.hca_ratio,
        sliding_window=arch.sliding_window,
        global_bytes_per_token=rate,
    )
