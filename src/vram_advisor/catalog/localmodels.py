"""The catalogue of smaller local models (schema ``vram-advisor/local-models/v1``, ``profiles/local-models.json``)
offered when DeepSeek V4 does not fit: each with its file size (decimal GB) and source and, for planning it like V4
(plan/alternatives.py), three optional blocks, each with its own public source:

* ``gguf``: the GGUF a llama.cpp command loads (``repo`` and ``tag``, as in ``llama-server -hf REPO:TAG``);
* ``architecture``: config.json's geometry: parameters (total, active), layers, hidden size, the attention layers
  that keep a KV cache (KV heads, head dim, a sliding window where the layers have one; hybrid models list their
  layer kinds separately, and layers of linear attention keep none) and, for a mixture of experts, its MoE layers;
* ``score``: a quality figure (a benchmark the maker reports, or a public leaderboard's) with its date.

Every error names the file and the field, in one line. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from vram_advisor.catalog.architecture import positive_int
from vram_advisor.core import units
from vram_advisor.core.jsonread import FieldReader
from vram_advisor.core.records import Record, dataclass

LOCAL_MODELS_SCHEMA = "vram-advisor/local-models/v1"

SourceCheck = Callable[[FieldReader, Any, str], str]


@dataclass(frozen=True, eq=False, repr=False)
class Cited(Record):
    """A source as the user sees it: its title and address (never a local file)."""

    id: str
    title: str
    url: str | None = None


@dataclass(frozen=True, eq=False, repr=False)
class GgufFile(Record):
    """The GGUF a llama.cpp command loads: ``-hf REPO:TAG``, or ``-hf REPO --hf-file FILE`` where the file's name
    carries no quantization tag (Google's QAT GGUFs)."""

    repo: str
    tag: str
    source: Cited
    file: str | None = None


@dataclass(frozen=True, eq=False, repr=False)
class AttentionLayers(Record):
    """Layers of one attention kind that keep a KV cache: K and V rows of ``kv_heads x head_dim`` per token, for
    the last ``window`` tokens only where the layers slide (None: the whole context)."""

    layers: int
    kv_heads: int
    head_dim: int
    window: int | None = None


@dataclass(frozen=True, eq=False, repr=False)
class MoeLayers(Record):
    """The routed experts: ``layers`` MoE layers of ``experts`` experts (gate, up and down projections of
    ``hidden x expert_intermediate`` each), ``experts_per_token`` of them read per token."""

    layers: int
    experts: int
    experts_per_token: int
    expert_intermediate: int


@dataclass(frozen=True, eq=False, repr=False)
class LocalArchitecture(Record):
    """What the planner needs of a smaller model (its config.json and the maker's parameter counts)."""

    params_total: int
    params_active: int
    layers: int
    hidden_size: int
    max_context_tokens: int
    attention: tuple[AttentionLayers, ...]
    source: Cited
    moe: MoeLayers | None = None

    @property
    def routed_params(self) -> int:
        """Routed-expert parameters: MoE layers x experts x 3 x hidden x expert width (0 for a dense model)."""
        if self.moe is None:
            return 0
        return self.moe.layers * self.moe.experts * 3 * self.hidden_size * self.moe.expert_intermediate

    @property
    def active_routed_params(self) -> int:
        """Routed-expert parameters one token passes through."""
        if self.moe is None:
            return 0
        return self.moe.layers * self.moe.experts_per_token * 3 * self.hidden_size * self.moe.expert_intermediate


@dataclass(frozen=True, eq=False, repr=False)
class Score(Record):
    """A quality figure: ``value`` on ``benchmark`` (higher is better), from ``source``, as of ``date``."""

    benchmark: str
    value: float
    source: Cited
    date: str


@dataclass(frozen=True, eq=False, repr=False)
class LocalModel(Record):
    """A smaller local model for the fallback list, with its file size (decimal GB) and source."""

    name: str
    family: str
    params_total: str
    quant: str
    size_gb: float
    source: str
    params_active: str | None = None
    note: str | None = None
    gguf: GgufFile | None = None
    architecture: LocalArchitecture | None = None
    score: Score | None = None
    #: ``source`` with its title and address
    size_source: Cited | None = None

    @property
    def size_bytes(self) -> int:
        return units.file_size_bytes(self.size_gb)


def _billions(r: FieldReader, value: Any, where: str) -> int:
    number = r.number(value, where)
    if number <= 0:
        raise r.fail(where, f"{number} must be larger than zero")
    return round(number * 10**9)


class _Reader:
    """Reads one file's models, resolving each source key to its title and address."""

    def __init__(self, r: FieldReader, check_source: SourceCheck, sources: Mapping[str, Any]) -> None:
        self.r, self.check_source, self.sources = r, check_source, sources

    def cited(self, value: Any, where: str) -> Cited:
        key = self.check_source(self.r, value, where)
        raw = self.sources.get(key)
        data = raw if isinstance(raw, dict) else {}
        title, url = data.get("title"), data.get("url")
        return Cited(key, title if isinstance(title, str) else key, url if isinstance(url, str) else None)

    def gguf(self, value: Any, where: str) -> GgufFile:
        r, p = self.r, f"{where}."
        data = r.obj(value, where)
        repo = r.required(data, "repo", p, r.text)
        if repo.count("/") != 1 or not all(repo.split("/")) or " " in repo:
            raise r.fail(f"{p}repo", f"{repo!r} is not a Hugging Face repository id (owner/name)")
        tag = r.required(data, "tag", p, r.text)
        if not tag or any(c in tag for c in " :/"):
            raise r.fail(f"{p}tag", f"{tag!r} is not a quantization tag (as in -hf REPO:TAG)")
        file = r.optional(data, "file", p, r.text)
        if file is not None and (not file.endswith(".gguf") or file.startswith("/") or ".." in file.split("/")):
            raise r.fail(f"{p}file", f"{file!r} is not a GGUF file inside the repository")
        return GgufFile(repo=repo, tag=tag, source=r.required(data, "source", p, self.cited), file=file)

    def attention(self, value: Any, where: str) -> AttentionLayers:
        r, p = self.r, f"{where}."
        data = r.obj(value, where)
        return AttentionLayers(
            layers=r.required(data, "layers", p, lambda v, w: positive_int(r, v, w)),
            kv_heads=r.required(data, "kv_heads", p, lambda v, w: positive_int(r, v, w)),
            head_dim=r.required(data, "head_dim", p, lambda v, w: positive_int(r, v, w)),
            window=r.optional(data, "window", p, lambda v, w: positive_int(r, v, w)),
        )

    def moe(self, value: Any, where: str) -> MoeLayers:
        r, p = self.r, f"{where}."
        data = r.obj(value, where)
        moe = MoeLayers(
            layers=r.required(data, "layers", p, lambda v, w: positive_int(r, v, w)),
            experts=r.required(data, "experts", p, lambda v, w: positive_int(r, v, w)),
            experts_per_token=r.required(data, "experts_per_token", p, lambda v, w: positive_int(r, v, w)),
            expert_intermediate=r.required(data, "expert_intermediate_size", p, lambda v, w: positive_int(r, v, w)),
        )
        if moe.experts_per_token > moe.experts:
            raise r.fail(f"{p}experts_per_token", f"{moe.experts_per_token} is more than experts ({moe.experts})")
        return moe

    def architecture(self, value: Any, where: str) -> LocalArchitecture:
        r, p = self.r, f"{where}."
        data = r.obj(value, where)
        attention = r.required(data, "attention", p, lambda v, w: r.items(v, w, self.attention))
        if not attention:
            raise r.fail(f"{p}attention", "an empty list: at least one kind of attention layer is needed")
        arch = LocalArchitecture(
            params_total=r.required(data, "params_total_b", p, lambda v, w: _billions(r, v, w)),
            params_active=r.required(data, "params_active_b", p, lambda v, w: _billions(r, v, w)),
            layers=r.required(data, "layers", p, lambda v, w: positive_int(r, v, w)),
            hidden_size=r.required(data, "hidden_size", p, lambda v, w: positive_int(r, v, w)),
            max_context_tokens=r.required(data, "max_context_tokens", p, lambda v, w: positive_int(r, v, w)),
            attention=attention,
            source=r.required(data, "source", p, self.cited),
            moe=r.optional(data, "moe", p, self.moe),
        )
        kv_layers = sum(kind.layers for kind in arch.attention)
        if kv_layers > arch.layers:
            raise r.fail(f"{p}attention", f"{kv_layers} attention layers, more than the {arch.layers} layers given")
        if arch.moe is not None and arch.moe.layers > arch.layers:
            raise r.fail(f"{p}moe.layers", f"{arch.moe.layers} is more than the {arch.layers} layers given")
        if arch.params_active > arch.params_total:
            raise r.fail(f"{p}params_active_b", "more active than total parameters")
        if arch.routed_params >= arch.params_total:
            raise r.fail(
                f"{p}moe",
                f"the routed experts alone have {arch.routed_params / 1e9:.1f}B parameters (layers x experts x 3 x "
                "hidden_size x expert_intermediate_size), not less than the total",
            )
        if arch.moe is not None and arch.active_routed_params >= arch.params_active:
            raise r.fail(
                f"{p}moe",
                f"the active routed experts alone have {arch.active_routed_params / 1e9:.1f}B parameters, not less "
                "than the active total",
            )
        return arch

    def score(self, value: Any, where: str) -> Score:
        r, p = self.r, f"{where}."
        data = r.obj(value, where)
        number = r.required(data, "value", p, r.number)
        if not 0 <= number <= 100:
            raise r.fail(f"{p}value", f"{number} is not a score from 0 to 100")
        date = r.required(data, "date", p, r.text)
        if not _is_date(date):
            raise r.fail(f"{p}date", f"{date!r} is not a date (YYYY-MM-DD)")
        return Score(
            benchmark=r.required(data, "benchmark", p, r.text),
            value=number,
            source=r.required(data, "source", p, self.cited),
            date=date,
        )

    def model(self, value: Any, where: str) -> LocalModel:
        r, p = self.r, f"{where}."
        data = r.obj(value, where)
        params = r.required(data, "params", p, r.obj)
        size = r.required(data, "size_gb", p, r.number)
        if size <= 0:
            raise r.fail(f"{p}size_gb", f"{size} must be larger than zero")
        size_source = r.required(data, "source", p, self.cited)
        return LocalModel(
            name=r.required(data, "name", p, r.text),
            family=r.required(data, "family", p, r.text),
            params_total=r.required(params, "total", f"{p}params.", r.text),
            params_active=r.optional(params, "active", f"{p}params.", r.text),
            quant=r.required(data, "quant", p, r.text),
            size_gb=size,
            source=size_source.id,
            size_source=size_source,
            note=r.optional(data, "note", p, r.text),
            gguf=r.optional(data, "gguf", p, self.gguf),
            architecture=r.optional(data, "architecture", p, self.architecture),
            score=r.optional(data, "score", p, self.score),
        )


def _is_date(text: str) -> bool:
    from datetime import date

    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def read_local_models(r: FieldReader, check_source: SourceCheck, data: Mapping[str, Any]) -> tuple[LocalModel, ...]:
    """A local-models file's ``models``."""
    raw_sources = data.get("sources")
    reader = _Reader(r, check_source, raw_sources if isinstance(raw_sources, dict) else {})
    return r.required(data, "models", "", lambda v, w: r.items(v, w, reader.model))
