"""Engines as data (contract rule 11): which program loads which file format, on which platforms, with which flags
for DeepSeek V4 and from which version; and, per platform, the order in which they are tried.

The figures live in ``profiles/engines.json`` (schema ``vram-advisor/engines/v1``), each with a public source. A
platform is what the visible GPUs are: NVIDIA (``cuda``, by compute capability), AMD (``rocm``), Apple (``metal``),
Intel (``sycl``), or no GPU (``cpu``). An engine runs on a platform when it lists that platform and the GPUs meet
its condition there (a minimum compute capability, or GPU names it is known to run on). Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from vram_advisor.catalog.speculative import SpeculativeSupport, read_support
from vram_advisor.core.errors import ProfileError
from vram_advisor.core.jsonread import FieldReader
from vram_advisor.core.records import Record, dataclass

if TYPE_CHECKING:
    from vram_advisor.catalog.architecture import PublishedFile
    from vram_advisor.inventory.model import Gpu

ENGINES_SCHEMA = "vram-advisor/engines/v1"
PLATFORMS = ("cuda", "rocm", "metal", "sycl", "cpu")
FORMATS = ("safetensors", "gguf", "mlx")
#: How the estimate counts an engine's memory: vLLM-like (tensor parallel, FP8 KV cache, vLLM's own memory) or
#: llama.cpp-like (layers split by capacity, 16-bit KV cache, CUDA context and compute buffers).
MEMORY_MODELS = ("vllm", "llama.cpp")

SourceCheck = Callable[[FieldReader, Any, str], str]


@dataclass(frozen=True, eq=False, repr=False)
class Platform(Record):
    """What the visible GPUs are, as the engines' platform lists name them."""

    kind: str
    compute_capabilities: tuple[str | None, ...] = ()
    gpu_names: tuple[str, ...] = ()

    @property
    def words(self) -> str:
        if self.kind == "cuda":
            known = sorted({cc for cc in self.compute_capabilities if cc})
            return f"NVIDIA CUDA (sm_{'/'.join(cc.replace('.', '') for cc in known)})" if known else "NVIDIA CUDA"
        return {"rocm": "AMD ROCm", "metal": "Apple Metal", "sycl": "Intel GPUs", "cpu": "CPU only"}[self.kind]


def platform_of(gpus: Sequence[Gpu]) -> Platform:
    """The platform of the GPUs a check counts: the first GPU's vendor decides (a what-if size with no vendor counts
    as NVIDIA, the GPUs such specs describe); no GPU is ``cpu``."""
    if not gpus:
        return Platform("cpu")
    vendor = gpus[0].vendor or "nvidia"
    kind = {"nvidia": "cuda", "amd": "rocm", "apple": "metal", "intel": "sycl"}.get(vendor, "cuda")
    return Platform(
        kind,
        tuple(gpu.compute_capability for gpu in gpus) if kind == "cuda" else (),
        tuple(gpu.name for gpu in gpus),
    )


def _cc(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return int(major), int(minor or 0)


@dataclass(frozen=True, eq=False, repr=False)
class EnginePlatform(Record):
    """One platform an engine runs on, with its condition there."""

    kind: str
    min_compute_capability: str | None = None
    max_compute_capability: str | None = None
    gpu_names: tuple[str, ...] = ()
    max_gpus: int | None = None
    #: what must be known to run the engine here (printed under its run block)
    note: str | None = None
    #: how to install it here, where that differs from the engine's ``install``
    install: str | None = None
    #: the version it needs here, where that differs from the engine's ``min_version``
    version: str | None = None

    def conditions(self) -> str:
        """Where this entry runs V4, in words: "sm_90 to sm_110", "MI325, on at most 1 GPU", "any GPU"."""
        low, high = self.min_compute_capability, self.max_compute_capability
        parts = []
        if low and high:
            parts.append(f"sm_{low.replace('.', '')} to sm_{high.replace('.', '')}")
        elif low:
            parts.append(f"sm_{low.replace('.', '')} and newer")
        elif high:
            parts.append(f"up to sm_{high.replace('.', '')}")
        if self.gpu_names:
            parts.append("/".join(self.gpu_names))
        if self.max_gpus is not None:
            parts.append(f"at most {self.max_gpus} GPU{'s' if self.max_gpus > 1 else ''}")
        return ", ".join(parts) or "any GPU"

    def admits(self, platform: Platform) -> bool:
        if platform.kind != self.kind:
            return False
        if self.max_gpus is not None and len(platform.gpu_names) > self.max_gpus:
            return False
        # an unknown compute capability (a what-if size, an old inventory) is not held against the engine
        known = [_cc(cc) for cc in platform.compute_capabilities if cc is not None]
        if self.min_compute_capability is not None and any(cc < _cc(self.min_compute_capability) for cc in known):
            return False
        if self.max_compute_capability is not None and any(cc > _cc(self.max_compute_capability) for cc in known):
            return False
        if self.gpu_names:
            wanted = [name.lower() for name in self.gpu_names]
            return all(any(part in name.lower() for part in wanted) for name in platform.gpu_names)
        return True


@dataclass(frozen=True, eq=False, repr=False)
class Engine(Record):
    """A program that serves V4: the formats it loads, where it runs, its V4 flags and the version that has them."""

    id: str
    name: str
    program: str
    formats: tuple[str, ...]
    platforms: tuple[EnginePlatform, ...]
    memory: str
    offload: bool
    min_version: str
    added: str
    install: str
    flags: tuple[str, ...]
    source: str
    note: str | None = None
    kv_scale: float = 1.0
    kv_source: str | None = None
    #: the only repositories whose files it loads (ds4: antirez/deepseek-v4-gguf); empty: any of its formats
    repos: tuple[str, ...] = ()
    #: speculative decoding: per drafting method, whether it works here and how much faster (catalog/speculative.py)
    speculative: tuple[SpeculativeSupport, ...] = ()

    def drafting(self, method: str) -> SpeculativeSupport | None:
        """What the engine's entry says of drafting with ``method``; None where it says nothing."""
        return next((entry for entry in self.speculative if entry.method == method), None)

    def loads(self, fmt: str | None, repo: str | None) -> bool:
        """Whether it loads files of format ``fmt`` from ``repo``."""
        if fmt is None or fmt not in self.formats:
            return False
        return not self.repos or (repo or "").lower() in {r.lower() for r in self.repos}

    def on(self, platform: Platform) -> EnginePlatform | None:
        """The platform entry that admits ``platform``, or None where the engine does not run there."""
        return next((entry for entry in self.platforms if entry.admits(platform)), None)

    @property
    def requirement(self) -> str:
        """What to install, in words: "vLLM >= 0.25.0", "llama.cpp b9840 or newer"."""
        return f"{self.name} {self.min_version}"


@dataclass(frozen=True, eq=False, repr=False)
class EngineTable(Record):
    """Every engine, by id, and the order they are tried in on each platform."""

    engines: Mapping[str, Engine]
    preference: Mapping[str, tuple[str, ...]]

    def order(self, platform: Platform) -> tuple[Engine, ...]:
        """The engines that run on ``platform``, in its order of preference."""
        ids = self.preference.get(platform.kind, ())
        return tuple(self.engines[i] for i in ids if i in self.engines and self.engines[i].on(platform) is not None)

    def rank(self, platform: Platform, engine_id: str) -> int:
        ids = self.preference.get(platform.kind, ())
        return ids.index(engine_id) if engine_id in ids else len(ids)


EMPTY = EngineTable({}, {})


def _compute_capability(r: FieldReader, data: Mapping[str, Any], key: str, p: str) -> str | None:
    cc: str | None = r.optional(data, key, p, r.text)
    if cc is not None:
        try:
            _cc(cc)
        except ValueError:
            raise r.fail(f"{p}{key}", f"{cc!r} is not a compute capability such as 9.0") from None
    return cc


def _platform(r: FieldReader, value: Any, where: str) -> EnginePlatform:
    data = r.obj(value, where)
    p = f"{where}."
    max_gpus = r.optional(data, "max_gpus", p, r.int_)
    if max_gpus is not None and max_gpus < 1:
        raise r.fail(f"{p}max_gpus", f"{max_gpus} is not a number of GPUs (at least 1)")
    return EnginePlatform(
        kind=r.required(data, "kind", p, r.choice(PLATFORMS)),
        min_compute_capability=_compute_capability(r, data, "min_compute_capability", p),
        max_compute_capability=_compute_capability(r, data, "max_compute_capability", p),
        gpu_names=r.optional(data, "gpu_names", p, r.texts) or (),
        max_gpus=max_gpus,
        note=r.optional(data, "note", p, r.text),
        install=r.optional(data, "install", p, r.text),
        version=r.optional(data, "version", p, r.text),
    )


def _engine(r: FieldReader, check_source: SourceCheck, value: Any, where: str) -> Engine:
    data = r.obj(value, where)
    p = f"{where}."
    formats = r.required(data, "formats", p, r.texts)
    for i, fmt in enumerate(formats):
        if fmt not in FORMATS:
            raise r.fail(f"{p}formats[{i}]", f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")
    platforms = r.required(data, "platforms", p, lambda v, w: r.items(v, w, lambda x, y: _platform(r, x, y)))
    if not platforms:
        raise r.fail(f"{p}platforms", "at least one platform is needed")
    return Engine(
        id=r.required(data, "id", p, r.text),
        name=r.required(data, "name", p, r.text),
        program=r.required(data, "program", p, r.text),
        formats=formats,
        platforms=platforms,
        memory=r.required(data, "memory", p, r.choice(MEMORY_MODELS)),
        offload=r.required(data, "offload", p, r.flag),
        min_version=r.required(data, "min_version", p, r.text),
        added=r.required(data, "added", p, r.text),
        install=r.required(data, "install", p, r.text),
        flags=r.optional(data, "flags", p, r.texts) or (),
        source=r.required(data, "source", p, lambda v, w: check_source(r, v, w)),
        note=r.optional(data, "note", p, r.text),
        kv_scale=_kv_scale(r, data, p),
        kv_source=r.optional(data, "kv_source", p, r.text),
        repos=r.optional(data, "repos", p, r.texts) or (),
        speculative=_speculative(r, check_source, data, p),
    )


def _speculative(
    r: FieldReader, check_source: SourceCheck, data: Mapping[str, Any], p: str
) -> tuple[SpeculativeSupport, ...]:
    if data.get("speculative") is None:
        return ()
    return read_support(r, check_source, _platform, data["speculative"], f"{p}speculative")


def _kv_scale(r: FieldReader, data: Mapping[str, Any], p: str) -> float:
    """How many times the KV cache the estimate counts this engine keeps (ds4 keeps its indexer rows wider)."""
    scale = r.optional(data, "kv_scale", p, r.number)
    if scale is None:
        return 1.0
    if not 0.5 <= scale <= 10:
        raise r.fail(f"{p}kv_scale", f"{scale} is not a plausible KV-cache factor (0.5 to 10)")
    if data.get("kv_source") is None:
        raise r.fail(f"{p}kv_source", "a kv_scale needs the public source it comes from")
    return float(scale)


def read_engines(r: FieldReader, check_source: SourceCheck, data: Mapping[str, Any]) -> EngineTable:
    """An engines file's ``engines`` and ``preference``: ids unique, every preferred id an engine of the file."""
    found = r.required(data, "engines", "", lambda v, w: r.items(v, w, lambda x, y: _engine(r, check_source, x, y)))
    engines: dict[str, Engine] = {}
    for i, engine in enumerate(found):
        if engine.id in engines:
            raise r.fail(f"engines[{i}].id", f"duplicate engine {engine.id!r}")
        engines[engine.id] = engine
    raw = r.required(data, "preference", "", r.obj)
    preference: dict[str, tuple[str, ...]] = {}
    for kind, ids in raw.items():
        if kind not in PLATFORMS:
            raise r.fail(f"preference.{kind}", f"unknown platform (expected one of {', '.join(PLATFORMS)})")
        order = r.texts(ids, f"preference.{kind}")
        for i, engine_id in enumerate(order):
            if engine_id not in engines:
                raise r.fail(f"preference.{kind}[{i}]", f"unknown engine {engine_id!r}")
        preference[kind] = order
    return EngineTable(engines, preference)


def check_downloads(downloads: Iterable[PublishedFile], engines: EngineTable) -> None:
    """Every engine a download names is one of ``engines`` and loads the download's format (read after the models
    it may be): a run block never points an engine at a file it cannot load."""
    known = engines.engines
    if not known:
        return
    for item in downloads:
        unknown = [engine for engine in item.engines if engine not in known]
        if unknown:
            raise ProfileError(f"{item.where}.engines: unknown engine {unknown[0]!r} (known: {', '.join(known)})")
        wrong = [e for e in item.engines if item.format is not None and item.format not in known[e].formats]
        if wrong:
            engine = known[wrong[0]]
            raise ProfileError(
                f"{item.where}.engines: {engine.name} does not load {item.format} files (it loads "
                f"{', '.join(engine.formats)})"
            )
