"""The catalogue of smaller local models (schema ``vram-advisor/local-models/v1``, ``profiles/local-models.json``)
offered when DeepSeek V4 does not fit: each with its file size (decimal GB) and source. Pure."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from vram_advisor.core import units
from vram_advisor.core.jsonread import FieldReader
from vram_advisor.core.records import Record, dataclass

LOCAL_MODELS_SCHEMA = "vram-advisor/local-models/v1"

SourceCheck = Callable[[FieldReader, Any, str], str]


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

    @property
    def size_bytes(self) -> int:
        return units.file_size_bytes(self.size_gb)


def _local(r: FieldReader, check_source: SourceCheck, value: Any, where: str) -> LocalModel:
    data = r.obj(value, where)
    p = f"{where}."
    params = r.required(data, "params", p, r.obj)
    size = r.required(data, "size_gb", p, r.number)
    if size <= 0:
        raise r.fail(f"{p}size_gb", f"{size} must be larger than zero")
    return LocalModel(
        name=r.required(data, "name", p, r.text),
        family=r.required(data, "family", p, r.text),
        params_total=r.required(params, "total", f"{p}params.", r.text),
        params_active=r.optional(params, "active", f"{p}params.", r.text),
        quant=r.required(data, "quant", p, r.text),
        size_gb=size,
        source=r.required(data, "source", p, lambda v, w: check_source(r, v, w)),
        note=r.optional(data, "note", p, r.text),
    )


def read_local_models(r: FieldReader, check_source: SourceCheck, data: Mapping[str, Any]) -> tuple[LocalModel, ...]:
    """A local-models file's ``models``."""
    return r.required(data, "models", "", lambda v, w: r.items(v, w, lambda x, y: _local(r, check_source, x, y)))
