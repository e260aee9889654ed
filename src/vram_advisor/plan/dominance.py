"""Contract rule 10: dominated options, which are never the recommendation, the stretch or "out of reach". Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import Field, replace
from typing import Any, ClassVar, Protocol, TypeVar

from vram_advisor.catalog.profiles import ModelProfile, QuantRow
from vram_advisor.plan.choose import Choice
from vram_advisor.plan.machine import COMFORTABLE, MINIMUM, Fit


class Judged(Protocol):
    """What rule 10 reads of an option (``rules.Option``, a dataclass with ``dominated_by``; rules imports this)."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]

    @property
    def model(self) -> ModelProfile: ...
    @property
    def quant(self) -> QuantRow: ...
    @property
    def fit(self) -> Fit: ...
    @property
    def rank(self) -> int: ...
    @property
    def choice(self) -> Choice | None: ...


OptionT = TypeVar("OptionT", bound=Judged)


def mark_dominated(options: Sequence[OptionT]) -> tuple[OptionT, ...]:
    """Contract rule 10: each option whose need (its download's own, not the table floor) is no smaller than that
    of a better-ranked option of the same model names the best-ranked such option in ``dominated_by``.

    One extension: a download that holds a better-ranked row's weights as they are (``same_weights_as``: unsloth's
    UD-Q4_K_XL keeps the checkpoint's FP4 experts bit for bit and moves the other ~4% from FP8 to Q8_0) is passed
    over wherever that row meets its minimum here: the checkpoint itself then runs, on the engine made for it.
    This is how Pro's Q4 GGUF, 5% smaller than the 0813 checkpoint, is dominated on 8xH200 (rule 10's example)."""
    ranked = sorted(options, key=lambda o: o.rank)
    marked = []
    for option in options:
        need = option.quant.need_bytes
        same_model = [o for o in ranked if o.model.id == option.model.id and o.rank < option.rank]
        better = None
        if need is not None:
            better = next(
                (o for o in same_model if o.quant.need_bytes is not None and o.quant.need_bytes <= need), None
            )
        held = option.choice.download.same_weights_as if option.choice is not None else None
        if better is None and held is not None:
            better = next((o for o in same_model if o.quant.id == held and o.fit in (COMFORTABLE, MINIMUM)), None)
        marked.append(option if better is None else replace(option, dominated_by=better))
    return tuple(marked)
