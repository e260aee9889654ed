"""What an option needs, in words (contract rule 12): its judged minimum in GiB, the same figure in the grid, the
verdict and the gate, and where the article's minimum governs, the download's own need beside it. Pure."""

from __future__ import annotations

from vram_advisor.catalog.profiles import QuantRow
from vram_advisor.core import units


def need_parts(row: QuantRow) -> tuple[str, str | None]:
    """What an option needs, in GiB (rule 12): its judged minimum, max(the table's minimum, the download's need);
    and, where the table's figure governs, the words that put the download's own need beside it."""
    aside = None
    if row.table_governs and row.need_bytes is not None:
        aside = f"the article's minimum; the download needs {units.format_gib(row.need_bytes)}"
    return units.format_gib(row.judged_min_bytes), aside


def need_text(row: QuantRow) -> str:
    """``need_parts`` in one phrase: "192.0 GiB (the article's minimum; the download needs 158.8 GiB)"."""
    judged, aside = need_parts(row)
    return f"{judged} ({aside})" if aside else judged


def shortfall(available_bytes: int, row: QuantRow) -> int:
    """How much more memory ``available_bytes`` needs to meet ``row``'s judged minimum (0 when it does)."""
    return max(0, row.min_threshold_bytes - available_bytes)


def safer_text(row: QuantRow) -> str:
    """The judged safer figure in GiB: max(the table's safer figure, the need x the row's safer/minimum ratio)."""
    return units.format_gib(row.judged_safer_bytes)
