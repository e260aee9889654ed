"""The hosted alternative a profile names (``api``): the service, its model names today, the link, why, the
source, and the day the names were checked against the provider's announcements. Read and validated here; the
figures are in profiles/deepseek-v4.json (DeepSeek's 2026-09-10 change: ``deepseek-flash`` serves V4.1-Flash,
``deepseek-v4-flash`` and, from 2026-09-14, ``deepseek-v4-pro`` are routed to it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from vram_advisor.core.jsonread import FieldReader
from vram_advisor.core.records import Record


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


def read_api(r: FieldReader, check_source: Callable[[FieldReader, Any, str], str], value: Any) -> ApiOption:
    """Read a family's ``api`` object; ``checked`` must be a date (YYYY-MM-DD)."""
    api = r.obj(value, "api")
    checked = r.optional(api, "checked", "api.", r.text)
    if checked is not None:
        try:
            date.fromisoformat(checked)
        except ValueError:
            raise r.fail("api.checked", f"{checked!r} is not a date (YYYY-MM-DD)") from None
    return ApiOption(
        name=r.required(api, "name", "api.", r.text),
        url=r.required(api, "url", "api.", r.text),
        why=r.required(api, "why", "api.", r.text),
        source=r.required(api, "source", "api.", lambda v, w: check_source(r, v, w)),
        models=r.optional(api, "models", "api.", r.texts) or (),
        checked=checked,
        note=r.optional(api, "note", "api.", r.text),
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
    }
