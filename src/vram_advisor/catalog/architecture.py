"""The optional estimate data of a model profile: its architecture (layer kinds, MoE geometry, KV row sizes), each
quantization's bits per weight, and the published files of each quantization, read and validated.

``profiles.py`` calls the ``read_*`` functions for the optional fields ``architecture`` (per model), ``bits`` and
``published`` (per quantization row); every error names the profile file and the field. The numbers themselves are
in ``profiles/deepseek-v4.json`` and ``profiles/deepseek-v41-flash.json`` with a public source each (the official
config.json files, engine PRs and issues, ``ggml-common.h``). DeepSeek-V4.1 adds three optional fields:
``kv_scheme: "global"`` (one KV rate per token shared by all layers), ``engram_params_b`` (its n-gram tables, kept
on disk by the engines) and a null ``attention_heads`` where the sources do not give it.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from vram_advisor.core import units
from vram_advisor.core.jsonread import FieldReader, clean_text
from vram_advisor.core.records import Record, dataclass

#: KV cache formats a profile may describe, and the ones ``--kv-dtype`` accepts.
KV_DTYPES = ("bf16", "fp8")
#: Engines a quantization row may name (runners.py builds their command lines).
ENGINES = ("vllm", "llama.cpp")
#: How a model's KV cache grows: V4's per-layer CSA/HCA rows, or one global rate per token shared by all layers
#: (DeepSeek-V4.1: compressed latents shared across layers, 890 B/token; kv.py).
KV_SCHEMES = ("v4", "global")

SourceCheck = Callable[[FieldReader, Any, str], str]


@dataclass(frozen=True, eq=False, repr=False)
class KvRow(Record):
    """Bytes of one cached row in a KV format: the 512-wide latent row and the 128-wide indexer-key row."""

    main_bytes: int
    indexer_bytes: int
    source: str
    note: str | None = None
    global_bytes_per_token: int | None = None


@dataclass(frozen=True, eq=False, repr=False)
class Architecture(Record):
    """What the estimate needs of a DeepSeek V4 model (config.json values and the model card's parameter counts).

    Every layer keeps a ``sliding_window`` ring of latent rows; CSA layers add one compressed row and one indexer row
    per ``csa_ratio`` tokens, HCA layers one compressed row per ``hca_ratio`` tokens (the vLLM blog "DeepSeek V4 in
    vLLM"; huggingface/blog#3363).
    """

    layers: int
    swa_only_layers: int
    csa_layers: int
    hca_layers: int
    sliding_window: int
    csa_ratio: int
    hca_ratio: int
    attention_heads: int | None
    hidden_size: int
    routed_experts: int
    experts_per_token: int
    moe_intermediate_size: int
    max_context_tokens: int
    params_total: int
    params_active: int
    kv_rows: Mapping[str, KvRow]
    source: str
    params_source: str
    #: config.json's ``model_type``, where the profile gives it
    model_type: str | None = None
    kv_scheme: str = "v4"
    engram_params: int = 0

    @property
    def routed_params(self) -> int:
        """Routed-expert parameters: layers x experts x 3 projections (gate, up, down) x hidden x expert width
        (the official config.json values: Flash 43 x 256 x 3 x 4096 x 2048 = 277.03B, Pro 1,547.4B)."""
        return self.layers * self.routed_experts * 3 * self.hidden_size * self.moe_intermediate_size

    @property
    def other_params(self) -> int:
        """Everything else of the backbone (attention, shared experts, embeddings and head, mHC, indexer,
        compressor, MTP); the engram tables are outside the backbone's count (``engram_params``)."""
        return self.params_total - self.routed_params

    @property
    def active_routed_params(self) -> int:
        """Routed-expert parameters one token passes through: layers x experts per token x 3 x hidden x width."""
        return self.layers * self.experts_per_token * 3 * self.hidden_size * self.moe_intermediate_size

    @property
    def active_other_params(self) -> int:
        """The rest of the active parameters (the model card's active count less the active routed experts)."""
        return self.params_active - self.active_routed_params


@dataclass(frozen=True, eq=False, repr=False)
class QuantBits(Record):
    """Bits per weight of a quantization: routed experts and everything else (and the engram tables, where a model
    has them), the file format and its engine."""

    experts: float
    other: float
    format: str
    engine: str
    source: str
    engram: float | None = None


#: File formats a download may have (``format``); EXL3 and others have no engine here yet.
DOWNLOAD_FORMATS = ("safetensors", "gguf", "mlx", "exl3")


@dataclass(frozen=True, eq=False, repr=False)
class PublishedFile(Record):
    """A real, published download (a file, a set of shards or a checkpoint) for a quantization: its repository and
    files, its size as the source states it, its format and the engines that load it (contract rules 9 and 11)."""

    name: str
    size_bytes: int
    stated: str
    source: str
    repo: str | None = None
    include: str | None = None
    hf_tag: str | None = None
    note: str | None = None
    release: str | None = None
    format: str | None = None
    #: engine ids (profiles/engines.json) that load it; filled from the format or the row's engine when left out
    engines: tuple[str, ...] = ()
    #: the files in the repository, the first the one an engine is pointed at (a split GGUF's first shard)
    files: tuple[str, ...] = ()
    #: when the size was read or published (YYYY-MM-DD)
    date: str | None = None
    #: the profile and field it was read from, for messages about it
    where: str = ""
    #: the better-ranked row whose weights this file holds as they are (a GGUF that keeps the checkpoint's FP4
    #: experts bit for bit): rule 10 passes it over wherever that row runs (plan/dominance.py)
    same_weights_as: str | None = None


def positive_int(r: FieldReader, value: Any, where: str) -> int:
    """A whole number above zero (a count of layers, heads, experts), or an error naming the field."""
    number = r.int_(value, where)
    if number <= 0:
        raise r.fail(where, f"{number} must be larger than zero")
    return number


def _count(r: FieldReader, value: Any, where: str) -> int:
    number = r.int_(value, where)
    if number < 0:
        raise r.fail(where, f"{number} must not be negative")
    return number


def _billions(r: FieldReader, value: Any, where: str) -> int:
    number = r.number(value, where)
    if number <= 0:
        raise r.fail(where, f"{number} must be larger than zero")
    return round(number * 10**9)


def _bits(r: FieldReader, value: Any, where: str) -> float:
    number = r.number(value, where)
    if not 0 < number <= 32:
        raise r.fail(where, f"{number} is not a number of bits per weight (0 < bits <= 32)")
    return number


def _kv_row(r: FieldReader, check_source: SourceCheck, value: Any, where: str) -> KvRow:
    data = r.obj(value, where)
    p = f"{where}."
    return KvRow(
        main_bytes=r.required(data, "main_bytes", p, lambda v, w: positive_int(r, v, w)),
        indexer_bytes=r.required(data, "indexer_bytes", p, lambda v, w: _count(r, v, w)),
        source=r.required(data, "source", p, lambda v, w: check_source(r, v, w)),
        note=r.optional(data, "note", p, r.text),
        global_bytes_per_token=r.optional(data, "global_bytes_per_token", p, lambda v, w: positive_int(r, v, w)),
    )


def _heads(r: FieldReader, value: Any, where: str) -> int | None:
    """``attention_heads``: a positive count, or null where the sources do not give it."""
    return None if value is None else positive_int(r, value, where)


def read_architecture(r: FieldReader, check_source: SourceCheck, value: Any, where: str) -> Architecture:
    """Read a model's ``architecture`` object; the layer kinds must add up and the counts must be consistent."""
    data = r.obj(value, where)
    p = f"{where}."

    def positive(key: str) -> int:
        return r.required(data, key, p, lambda v, w: positive_int(r, v, w))

    rows_raw = r.required(data, "kv_rows", p, r.obj)
    rows: dict[str, KvRow] = {}
    for key, row in rows_raw.items():
        if key not in KV_DTYPES:
            raise r.fail(f"{p}kv_rows.{key}", f"unknown KV format (expected one of {', '.join(KV_DTYPES)})")
        rows[key] = _kv_row(r, check_source, row, f"{p}kv_rows.{key}")
    if not rows:
        raise r.fail(f"{p}kv_rows", "at least one KV format is needed")
    arch = Architecture(
        layers=positive("layers"),
        swa_only_layers=r.required(data, "swa_only_layers", p, lambda v, w: _count(r, v, w)),
        csa_layers=r.required(data, "csa_layers", p, lambda v, w: _count(r, v, w)),
        hca_layers=r.required(data, "hca_layers", p, lambda v, w: _count(r, v, w)),
        sliding_window=positive("sliding_window"),
        csa_ratio=positive("csa_ratio"),
        hca_ratio=positive("hca_ratio"),
        attention_heads=_heads(r, data.get("attention_heads"), f"{p}attention_heads")
        if "attention_heads" in data
        else positive("attention_heads"),
        hidden_size=positive("hidden_size"),
        routed_experts=positive("routed_experts"),
        experts_per_token=positive("experts_per_token"),
        moe_intermediate_size=positive("moe_intermediate_size"),
        max_context_tokens=positive("max_context_tokens"),
        params_total=r.required(data, "params_total_b", p, lambda v, w: _billions(r, v, w)),
        params_active=r.required(data, "params_active_b", p, lambda v, w: _billions(r, v, w)),
        kv_rows=rows,
        source=r.required(data, "source", p, lambda v, w: check_source(r, v, w)),
        params_source=r.required(data, "params_source", p, lambda v, w: check_source(r, v, w)),
        model_type=r.optional(data, "model_type", p, r.text),
        kv_scheme=r.optional(data, "kv_scheme", p, r.choice(KV_SCHEMES)) or "v4",
        engram_params=r.optional(data, "engram_params_b", p, lambda v, w: _billions(r, v, w)) or 0,
    )
    if arch.kv_scheme == "global":
        missing = [key for key, row in rows.items() if row.global_bytes_per_token is None]
        if missing:
            raise r.fail(f"{p}kv_rows.{missing[0]}", "a global KV scheme needs global_bytes_per_token")
    kinds = arch.swa_only_layers + arch.csa_layers + arch.hca_layers
    if kinds != arch.layers:
        raise r.fail(
            f"{p}layers",
            f"swa_only_layers + csa_layers + hca_layers = {kinds}, not the {arch.layers} layers given",
        )
    if arch.experts_per_token > arch.routed_experts:
        raise r.fail(f"{p}experts_per_token", f"{arch.experts_per_token} is more than routed_experts")
    if arch.params_active > arch.params_total:
        raise r.fail(f"{p}params_active_b", "more active than total parameters")
    if arch.routed_params >= arch.params_total:
        raise r.fail(
            f"{p}params_total_b",
            f"the routed experts alone have {arch.routed_params / 1e9:.1f}B parameters (layers x routed_experts x 3 x "
            "hidden_size x moe_intermediate_size), more than the total",
        )
    if arch.active_routed_params >= arch.params_active:
        raise r.fail(
            f"{p}params_active_b",
            f"the active routed experts alone have {arch.active_routed_params / 1e9:.1f}B parameters, more than the "
            "active total",
        )
    return arch


def read_bits(r: FieldReader, check_source: SourceCheck, value: Any, where: str) -> QuantBits:
    """Read a quantization row's ``bits`` object."""
    data = r.obj(value, where)
    p = f"{where}."
    return QuantBits(
        experts=r.required(data, "experts", p, lambda v, w: _bits(r, v, w)),
        other=r.required(data, "other", p, lambda v, w: _bits(r, v, w)),
        format=r.required(data, "format", p, r.text),
        engine=r.required(data, "engine", p, r.choice(ENGINES)),
        source=r.required(data, "source", p, lambda v, w: check_source(r, v, w)),
        engram=r.optional(data, "engram", p, lambda v, w: _bits(r, v, w)),
    )


def _published_file(r: FieldReader, check_source: SourceCheck, value: Any, where: str) -> PublishedFile:
    data = r.obj(value, where)
    p = f"{where}."
    exact = r.optional(data, "bytes", p, lambda v, w: positive_int(r, v, w))
    size_gb = r.optional(data, "size_gb", p, r.number)
    size_gib = r.optional(data, "size_gib", p, r.number)
    if sum(size is not None for size in (exact, size_gb, size_gib)) != 1:
        raise r.fail(
            f"{p}bytes",
            "a download needs its size: give exactly one of bytes (exact), size_gb (decimal GB) or size_gib (GiB)",
        )
    if exact is not None:
        size, stated = exact, units.format_file_gb(exact)
    elif size_gb is not None:
        if size_gb <= 0:
            raise r.fail(f"{p}size_gb", f"{size_gb} must be larger than zero")
        size = units.file_size_bytes(size_gb)
        stated = f"{size_gb:g} GB"
    else:
        assert size_gib is not None
        if size_gib <= 0:
            raise r.fail(f"{p}size_gib", f"{size_gib} must be larger than zero")
        size = units.vram_gb_bytes(size_gib)
        stated = f"{size_gib:g} GiB"
    files = r.optional(data, "files", p, r.texts) or ()
    for i, path in enumerate(files):
        if not path.strip() or path.startswith("/") or ".." in path.split("/"):
            raise r.fail(f"{p}files[{i}]", f"{path!r} is not a path inside a repository")
    include = r.optional(data, "include", p, r.text)
    fmt = r.optional(data, "format", p, r.choice(DOWNLOAD_FORMATS))
    if fmt is None and any(name.endswith(".gguf") for name in (*files, include or "")):
        fmt = "gguf"
    date = r.optional(data, "date", p, r.text)
    if date is not None and not _is_date(date):
        raise r.fail(f"{p}date", f"{date!r} is not a date (YYYY-MM-DD)")
    repo = r.optional(data, "repo", p, r.text)
    if repo is not None and not REPO_ID.fullmatch(repo):
        raise r.fail(f"{p}repo", f"{clean_text(repo)!r} is not a Hugging Face repository id (owner/name)")
    _check_files(r, files, include, p)
    engines = r.optional(data, "engines", p, r.texts)
    if engines is not None and not engines:
        raise r.fail(f"{p}engines", "an empty list: leave the field out to take the format's engines")
    return PublishedFile(
        name=r.required(data, "name", p, r.text),
        size_bytes=size,
        stated=stated,
        source=r.required(data, "source", p, lambda v, w: check_source(r, v, w)),
        repo=repo,
        include=include,
        hf_tag=r.optional(data, "hf_tag", p, r.text),
        note=r.optional(data, "note", p, r.text),
        release=r.optional(data, "release", p, r.text),
        format=fmt,
        engines=engines or (),
        files=files,
        date=date,
        where=f"{r.source}: {where}",
        same_weights_as=r.optional(data, "same_weights_as", p, r.choice(QUANT_IDS)),
    )


#: The quantization rows of a profile, best first (contract rule 4).
QUANT_IDS = ("fp8", "q6", "q5", "q4", "q3", "q2")
#: A Hugging Face repository id: owner/name, each of letters, digits, "-", "_" and "." (huggingface_hub's
#: validate_repo_id).
REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}")
_SHARD = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$")


def _check_files(r: FieldReader, files: tuple[str, ...], include: str | None, p: str) -> None:
    """The files a run block fetches and loads: the first (the one an engine is pointed at) is selected by
    ``include`` and, for a split GGUF, is its first shard (llama.cpp finds the others beside it)."""
    if not files:
        return
    first = files[0]
    if include is not None and not fnmatch.fnmatchcase(first, include):
        raise r.fail(f"{p}include", f"{include!r} does not select {first!r}, the first of files")
    shard = _SHARD.search(first)
    if shard is not None and shard.group(1) != "00001":
        raise r.fail(f"{p}files[0]", f"{first!r} is not the first shard of its split GGUF (an engine loads shard 1)")


def _is_date(text: str) -> bool:
    from datetime import date

    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


#: The engines that load a format, for downloads that do not name theirs (profiles/engines.json has the engines).
FORMAT_ENGINES = {"gguf": ("llama.cpp",), "safetensors": ("vllm", "sglang"), "mlx": ("mlx-vlm",)}


def with_engines(item: PublishedFile, bits: QuantBits | None) -> PublishedFile:
    """``item`` with its format and engines filled where the profile leaves them out: from the format, else from
    the row's engine (a vLLM row's file is a safetensors checkpoint, a llama.cpp row's a GGUF)."""
    if item.engines and item.format:
        return item
    fmt = item.format or ({"vllm": "safetensors", "llama.cpp": "gguf"}.get(bits.engine) if bits else None)
    engines = item.engines or FORMAT_ENGINES.get(fmt or "", ())
    return replace(item, format=fmt, engines=engines)


def read_published(r: FieldReader, check_source: SourceCheck, value: Any, where: str) -> tuple[PublishedFile, ...]:
    """Read a quantization row's ``published`` list (the first entry is the one compared with the table)."""
    files = r.items(value, where, lambda v, w: _published_file(r, check_source, v, w))
    if not files:
        raise r.fail(where, "an empty list: leave the field out when nothing is published")
    return files
