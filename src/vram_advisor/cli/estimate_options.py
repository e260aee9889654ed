"""The estimate options shared by ``check`` and ``estimate``: KV cache format, which weights drive the verdict, and
the RAM and disk bandwidths for the speed bounds (typer's public API only)."""

from __future__ import annotations

from typing import Annotated

import typer

KvDtypeOpt = Annotated[
    str,
    typer.Option(
        "--kv-dtype",
        metavar="bf16|fp8",
        help="KV cache format for the context estimate: bf16 (llama.cpp's) or fp8 (vLLM's fp8_ds_mla).",
    ),
]
SizesOpt = Annotated[
    str,
    typer.Option(
        "--sizes",
        metavar="real|table|published",
        help="Sizes that drive the verdict: real downloads with KV and overhead (default), the article's table "
        "alone (rules 1-8 exactly), or the published files scaled by the table's headroom.",
    ),
]
RamBwOpt = Annotated[
    str | None,
    typer.Option(
        "--ram-bw",
        metavar="RATE",
        help="RAM bandwidth for offload speeds: 460GB/s or a setup such as 12xDDR5-4800 (default: 2xDDR4-3200).",
    ),
]
DiskBwOpt = Annotated[
    str | None,
    typer.Option(
        "--disk-bw", metavar="RATE", help="Disk read bandwidth for mmap speeds, e.g. 7GB/s (default: by kind)."
    ),
]
ReleaseOpt = Annotated[
    str | None,
    typer.Option(
        "--release",
        metavar="NAME",
        help="Which release of the model to plan: preview, 0731 (V4-Flash), 0813 (V4-Pro); default: the newest "
        "official one. (--revision names a Hub git revision.)",
    ),
]
