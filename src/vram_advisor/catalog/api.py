"""The hosted alternative a profile names (``api``): the service, its model names today and what each serves, their
prices per million tokens with the date they took effect, the names that were retired or rerouted, the link, why,
the source, and the day it was all checked. Read and validated here; the figures are in profiles/deepseek-v4.json
(DeepSeek's pricing page and change log: the API's Flash name serves V4.1-Flash since 2026-09-10; its V4-Pro name,
whose move to V4.1-Flash was announced for 2026-09-14, still serves V4-Pro: the move was called off on 2026-09-11)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from vram_advisor.core.jsonread import FieldReader
from vram_advisor.core.records import Record, dataclass

SourceCheck = Callable[[FieldReader, Any, str], str]


@dataclass(frozen=True, eq=False, repr=False)
class ApiModel(Record):
    """A model name the API serves today: what it serves, its context, its list prices per million tokens
    (off-peak; peak is ``peak_multiplier`` times) with the day they took effect, the source."""

    id: str
    serves: str
    source: str
    context_tokens: int | None = None
    currency: str | None = None
    input_cache_hit: float | None = None
    input_cache_miss: float | None = None
    output: float | None = None
    prices_since: str | None = None
    peak_multiplier: float | None = None
    prices_note: str | None = None


@dataclass(frozen=True, eq=False, repr=False)
class ApiAlias(Record):
    """A model name that was retired, or is still accepted and served by another model."""

    id: str
    status: str
    since: str
    source: str


@dataclass(frozen=True, eq=False, repr=False)
class ApiOption(Record):
    """The hosted alternative: ``models`` are the API's model names, ``checked`` the day they were checked."""

    name: str
    url: str
    why: str
    source: str
    models: tuple[str, ...] = ()
    checked: str | None = None
    note: str | None = None
    served: tuple[ApiModel, ...] = ()
    retired: tuple[ApiAlias, ...] = ()


def _date(r: FieldReader, value: Any, where: str) -> str:
    text = r.text(value, where)
    try:
        date.fromisoformat(text)
    except ValueError:
        raise r.fail(where, f"{text!r} is not a date (YYYY-MM-DD)") from None
    return text


def _price(r: FieldReader, value: Any, where: str) -> float:
    number = r.number(value, where)
    if number < 0:
        raise r.fail(where, f"{number} is not a price")
    return number


def _prices(r: FieldReader, value: Any, where: str) -> dict[str, Any]:
    data = r.obj(value, where)
    p = f"{where}."
    return {
        "currency": r.required(data, "currency", p, r.text),
        "input_cache_hit": r.required(data, "input_cache_hit", p, lambda v, w: _price(r, v, w)),
        "input_cache_miss": r.required(data, "input_cache_miss", p, lambda v, w: _price(r, v, w)),
        "output": r.required(data, "output", p, lambda v, w: _price(r, v, w)),
        "prices_since": r.required(data, "since", p, lambda v, w: _date(r, v, w)),
        "peak_multiplier": r.optional(data, "peak_multiplier", p, r.number),
        "prices_note": r.optional(data, "note", p, r.text),
    }


def _model(r: FieldReader, check_source: SourceCheck, value: Any, where: str) -> ApiModel:
    data = r.obj(value, where)
    p = f"{where}."
    return ApiModel(
        id=r.required(data, "id", p, r.text),
        serves=r.required(data, "serves", p, r.text),
        source=r.required(data, "source", p, lambda v, w: check_source(r, v, w)),
        context_tokens=r.optional(data, "context_tokens", p, r.int_),
        **(r.optional(data, "prices_per_million_tokens", p, lambda v, w: _prices(r, v, w)) or {}),
    )


def _alias(r: FieldReader, check_source: SourceCheck, value: Any, where: str) -> ApiAlias:
    data = r.obj(value, where)
    p = f"{where}."
    return ApiAlias(
        id=r.required(data, "id", p, r.text),
        status=r.required(data, "status", p, r.text),
        since=r.required(data, "since", p, lambda v, w: _date(r, v, w)),
        source=r.required(data, "source", p, lambda v, w: check_source(r, v, w)),
    )


def read_api(r: FieldReader, check_source: SourceCheck, value: Any) -> ApiOption:
    """Read a family's ``api`` object; dates must be dates (YYYY-MM-DD)."""
    api = r.obj(value, "api")
    served = r.optional(api, "served", "api.", lambda v, w: r.items(v, w, lambda x, y: _model(r, check_source, x, y)))
    retired = r.optional(api, "retired", "api.", lambda v, w: r.items(v, w, lambda x, y: _alias(r, check_source, x, y)))
    return ApiOption(
        name=r.required(api, "name", "api.", r.text),
        url=r.required(api, "url", "api.", r.text),
        why=r.required(api, "why", "api.", r.text),
        source=r.required(api, "source", "api.", lambda v, w: check_source(r, v, w)),
        models=r.optional(api, "models", "api.", r.texts) or tuple(model.id for model in served or ()),
        checked=r.optional(api, "checked", "api.", lambda v, w: _date(r, v, w)),
        note=r.optional(api, "note", "api.", r.text),
        served=served or (),
        retired=retired or (),
    )


def prices_text(model: ApiModel) -> str | None:
    """A model's prices in words: "$0.15 in / $0.60 out per 1M tokens off-peak (x2 at peak), since 2026-09-10"."""
    if model.input_cache_miss is None or model.output is None:
        return None
    sign = "$" if model.currency == "USD" else f"{model.currency} "

    def money(value: float) -> str:  # cents as prices are written, more digits only where they matter
        return f"{sign}{value:.2f}" if round(value, 2) == value else f"{sign}{value:g}"

    peak = f" (x{model.peak_multiplier:g} at peak)" if model.peak_multiplier else ""
    return (
        f"{money(model.input_cache_miss)} in / {money(model.output)} out per 1M tokens off-peak{peak}, "
        f"since {model.prices_since}"
    )


def api_dict(api: ApiOption) -> dict[str, Any]:
    """The API alternative as JSON (``check --json`` ``alternatives.api``): the contract's fields and the rest."""
    return {
        "name": api.name,
        "url": api.url,
        "why": api.why,
        "models": list(api.models),
        "checked": api.checked,
        "note": api.note,
        "source": api.source,
        "served": [
            {
                "id": model.id,
                "serves": model.serves,
                "context_tokens": model.context_tokens,
                "prices_per_million_tokens": None
                if model.output is None
                else {
                    "currency": model.currency,
                    "input_cache_hit": model.input_cache_hit,
                    "input_cache_miss": model.input_cache_miss,
                    "output": model.output,
                    "band": "off-peak",
                    "peak_multiplier": model.peak_multiplier,
                    "since": model.prices_since,
                    "note": model.prices_note,
                },
                "source": model.source,
            }
            for model in api.served
        ],
        "retired": [
            {"id": alias.id, "status": alias.status, "since": alias.since, "source": alias.source}
            for alias in api.retired
        ],
    }
