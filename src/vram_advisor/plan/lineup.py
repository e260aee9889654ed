"""Which models and rows a check ranks (contract rule 4), read from the profiles' ``candidates`` (catalog/lineup.py),
and the ``MODEL:QUANT`` text of ``--require``. No model id is spelled here: the profiles name them.
"""

from __future__ import annotations

from collections.abc import Sequence

from vram_advisor.catalog.profiles import (
    EXPERIMENTAL_ORDER,
    NON_EXPERIMENTAL_ORDER,
    Catalog,
    ModelProfile,
    QuantRow,
    packaged_catalog,
)
from vram_advisor.core.errors import UsageError
from vram_advisor.core.numbers import shown


def candidates(catalog: Catalog, base: bool) -> tuple[ModelProfile, ModelProfile]:
    """Contract rule 4: the two models considered, large then small (the profile's ``candidates``, or under
    ``--base`` its ``base_models``: catalog/lineup.py)."""
    if catalog.candidates is None:
        raise UsageError("no packaged profile names the candidate models (a family profile's 'candidates')")
    large, small = catalog.candidates.pair(base)
    return catalog.model(large), catalog.model(small)


def family_label(catalog: Catalog) -> str:
    """The name the answer gives the candidates ("no non-experimental LABEL option fits"); empty without them."""
    return catalog.candidates.label if catalog.candidates is not None else ""


def ranking(large: ModelProfile, small: ModelProfile) -> list[tuple[ModelProfile, QuantRow]]:
    """Contract rule 4: pro fp8..q4, flash fp8..q4, then pro q3, flash q3, pro q2, flash q2."""
    ranked = [(model, model.quant(q)) for model in (large, small) for q in NON_EXPERIMENTAL_ORDER]
    ranked += [(model, model.quant(q)) for q in EXPERIMENTAL_ORDER for model in (large, small)]
    return ranked


def ranking_of(models: Sequence[ModelProfile]) -> list[tuple[ModelProfile, QuantRow]]:
    """Rule 4 for any models (``check --model``): each model's non-experimental rows in table order, model by
    model, then the experimental rows quantization by quantization. For (pro, flash) it is ``ranking``."""
    order = {q: i for i, q in enumerate(NON_EXPERIMENTAL_ORDER + EXPERIMENTAL_ORDER)}
    rows = [(m, r) for m in models for r in sorted(m.quants, key=lambda r: order.get(r.id, len(order)))]
    ranked = [(m, r) for m, r in rows if not r.experimental]
    ranked += sorted(((m, r) for m, r in rows if r.experimental), key=lambda pair: order.get(pair[1].id, len(order)))
    return ranked


def parse_requirement(text: str) -> tuple[str, str]:
    """``MODEL:QUANT`` (case-insensitive) as a pair of lower-case ids; the catalogue checks that they exist."""
    model, sep, quant = text.strip().partition(":")
    if not sep or not model.strip() or not quant.strip():
        raise UsageError(f"--require {shown(text)}: expected MODEL:QUANT{_requirement_example()}")
    return model.strip().lower(), quant.strip().lower()


def _requirement_example() -> str:
    """ ", e.g. SMALL:q4" for the packaged profiles' small candidate (read only when the text is malformed)."""
    lineup = packaged_catalog().candidates
    return f", e.g. {lineup.models[1]}:q4" if lineup is not None else ""
