"""Which models a check plans and which newer model it mentions: profile fields, not code.

* ``candidates`` (a family profile's top level): the pair a default ``check`` ranks (contract rule 4), large then
  small, ``models`` and under ``--base`` ``base_models``, with the ``label`` the answer names them by ("no
  non-experimental LABEL option fits"). The packaged profiles declare it once; a user profile's is ignored (like its
  ``api``), so the contract's candidates stay the article's.
* ``succeeds`` (a model's): the model it is a newer line of, and a ``note`` on why it matters. A default ``check``
  plans such a model beside its predecessor and says so in one line where it would run where the predecessor would
  not, or faster (plan/family.py).

* ``engine_flags`` (a model's): per engine id, the flags a model needs in place of the engine's own (engines.json
  ``flags``; vLLM puts them after the model, llama.cpp after the placement's ``-ot``) and the notes said with them.

Which KV scheme a model's cache follows is its ``architecture.kv_scheme`` (catalog/architecture.py). Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vram_advisor.core.jsonread import FieldReader
from vram_advisor.core.records import Record, dataclass


@dataclass(frozen=True, eq=False, repr=False)
class Candidates(Record):
    """The two models a default check ranks (large, small), the Base pair under ``--base``, and their label."""

    label: str
    models: tuple[str, str]
    base_models: tuple[str, str]

    def pair(self, base: bool) -> tuple[str, str]:
        return self.base_models if base else self.models


@dataclass(frozen=True, eq=False, repr=False)
class Succeeds(Record):
    """A model's predecessor (by id) and the note said beside "newer than the article" (may be empty)."""

    model: str
    note: str | None = None


@dataclass(frozen=True, eq=False, repr=False)
class EngineFlags(Record):
    """A model's own flags for one engine (in place of the engine's) and the notes said with them."""

    flags: tuple[str, ...]
    notes: tuple[str, ...] = ()


def _pair(r: FieldReader, value: Any, where: str) -> tuple[str, str]:
    ids = r.texts(value, where)
    if len(ids) != 2:
        raise r.fail(where, f"expected two model ids (large, small), got {len(ids)}")
    return ids[0], ids[1]


def read_candidates(r: FieldReader, value: Any, where: str = "candidates") -> Candidates:
    """A family profile's ``candidates`` object."""
    data: Mapping[str, Any] = r.obj(value, where)
    p = f"{where}."
    return Candidates(
        label=r.required(data, "label", p, r.text),
        models=r.required(data, "models", p, lambda v, w: _pair(r, v, w)),
        base_models=r.required(data, "base_models", p, lambda v, w: _pair(r, v, w)),
    )


def read_succeeds(r: FieldReader, value: Any, where: str) -> Succeeds:
    """A model's ``succeeds`` object."""
    data: Mapping[str, Any] = r.obj(value, where)
    p = f"{where}."
    return Succeeds(model=r.required(data, "model", p, r.text), note=r.optional(data, "note", p, r.text))


def read_engine_flags(r: FieldReader, value: Any, where: str) -> dict[str, EngineFlags]:
    """A model's ``engine_flags`` object: engine id -> ``{"flags": [...], "notes": [...]}``."""
    data: Mapping[str, Any] = r.obj(value, where)
    out: dict[str, EngineFlags] = {}
    for engine, item in data.items():
        p = f"{where}.{engine}."
        entry = r.obj(item, f"{where}.{engine}")
        out[engine] = EngineFlags(
            flags=r.required(entry, "flags", p, r.texts), notes=r.optional(entry, "notes", p, r.texts) or ()
        )
    return out
