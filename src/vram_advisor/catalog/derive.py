"""VRAM figures derived from a size on disk, where the article's table has no row: weights x the table's ratios.

The source article's rows (https://www.knightli.com/en/2026/05/01/deepseek-v4-local-vram-quantization-table/) carry
the runtime headroom as a ratio of VRAM to weights (V4-Flash q4: a 96 GB minimum for 80 GB of weights, 1.29
in bytes; its safer figure 128 GB, 1.72). A repo whose files no row describes (a GGUF from ``check --repo``, an
imported checkpoint) gets its need as those files' size times the ratios of the row that fits it best: the profile
that names the repo (``hf_repo``, or its model name inside the repo name), the same quantization where the file names
say one, and otherwise the largest ratio on offer, so that a guess errs on the side of more memory. Every derived
figure carries a sentence that says so. Pure functions; nothing here reads the machine or the network.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

from vram_advisor.catalog.profiles import EXPERIMENTAL_ORDER, Catalog, ModelProfile, QuantRow
from vram_advisor.core import units
from vram_advisor.core.records import Record, dataclass

#: Bits per weight of each row of the table, as the source article derived Q6..Q2 from the FP8 size (Flash: 159.61 GB
#: at FP8, 120 GB at Q6 = x 6/8, 80 GB at Q4 = x 4/8, 40 GB at Q2 = x 2/8;
#: https://www.knightli.com/en/2026/05/01/deepseek-v4-local-vram-quantization-table/).
ROW_BITS: dict[str, int] = {"fp8": 8, "q6": 6, "q5": 5, "q4": 4, "q3": 3, "q2": 2}

#: GGUF-style quantization names: Q4_K_M, IQ2_XXS, UD-Q2_K_XL, Q8_0, TQ1_0 (the digit is the nominal bit width).
_GGUF_QUANT = re.compile(r"(?<![a-z0-9])(?:ud-)?(?:i|t)?q([1-8])(?:_|-|\.|$)", re.IGNORECASE)
_FP8 = re.compile(r"(?<![a-z0-9])(?:fp8|f8_e4m3|float8)(?![a-z0-9])", re.IGNORECASE)
#: MLX conversions name their width in the repository: mlx-community/...-4bit, ...-2.4bit-mixed, ...-3bit-DQ.
_MLX_BITS = re.compile(r"(?<![a-z0-9])([2-8])(?:\.\d+)?bit(?![a-z0-9])", re.IGNORECASE)


@dataclass(frozen=True, repr=False)
class Ratios(Record):
    """A table row's VRAM-to-weights ratios (bytes over bytes) and which row they come from."""

    model: ModelProfile
    row: QuantRow
    min_ratio: float
    safer_ratio: float
    why: str

    @property
    def reference(self) -> str:
        return f"{self.model.id} {self.row.id}"

    @property
    def text(self) -> str:
        return (
            f"{self.reference}: {units.format_gb(self.row.min_vram_gb)} minimum and "
            f"{units.format_gb(self.row.safer_vram_gb)} safer for {units.format_file_gb(self.row.weights_bytes)} of "
            f"weights"
        )


@dataclass(frozen=True, repr=False)
class DerivedNeed(Record):
    """The VRAM a set of files needs, derived from their size and a row's ratios."""

    weights_bytes: int
    min_vram_bytes: int
    safer_vram_bytes: int
    ratios: Ratios
    quant: str | None

    @property
    def figures(self) -> tuple[str, str, str]:
        """The need as a table row writes it: weights, minimum and safer VRAM (``table_figures``)."""
        return table_figures(self.weights_bytes, self.min_vram_bytes, self.safer_vram_bytes)

    @property
    def basis(self) -> str:
        return (
            f"derived: {units.format_file_gb(self.weights_bytes)} of files x {self.ratios.min_ratio:.2f} minimum / "
            f"{self.ratios.safer_ratio:.2f} safer, the ratios of {self.ratios.text} ({self.ratios.why})"
        )


def row_ratios(model: ModelProfile, row: QuantRow, why: str) -> Ratios:
    return Ratios(
        model=model,
        row=row,
        min_ratio=row.min_vram_bytes / row.weights_bytes,
        safer_ratio=row.safer_vram_bytes / row.weights_bytes,
        why=why,
    )


def _repo_name(repo_id: str) -> str:
    return repo_id.rsplit("/", 1)[-1].lower()


def matching_models(catalog: Catalog, repo_id: str, pool: Sequence[ModelProfile] = ()) -> list[ModelProfile]:
    """Profiles that describe ``repo_id``: its ``hf_repo``, else the longest model name inside the repo's name."""
    models = list(pool) or list(catalog.models)
    exact = [m for m in models if m.hf_repo and m.hf_repo.lower() == repo_id.lower()]
    if exact:
        return exact
    name = _repo_name(repo_id)
    named = [(len(key), m) for m in models for key in _names(m) if key and key in name]
    if not named:
        return []
    longest = max(length for length, _ in named)
    picked: dict[str, ModelProfile] = {}
    for length, model in named:
        if length == longest:
            picked.setdefault(model.id, model)
    return list(picked.values())


def _names(model: ModelProfile) -> Iterable[str]:
    yield model.name.lower()
    if model.hf_repo:
        yield _repo_name(model.hf_repo)


def guess_quant(paths: Iterable[str], repo_id: str | None = None) -> str | None:
    """The table row a set of files looks like from their names (Q2_K_XL -> q2, Q8_0 -> fp8), or None; failing
    that, from an MLX repository's name (``-3bit`` -> q3).

    A 1-bit name maps to q2, the smallest row; 16-bit names (BF16, F16) have no row and give None.
    """
    votes: Counter[str] = Counter()
    for path in paths:
        lowered = path.lower()
        if _FP8.search(lowered):
            votes["fp8"] += 1
            continue
        match = _GGUF_QUANT.search(lowered)
        if match:
            bits = int(match.group(1))
            votes["fp8" if bits >= 7 else f"q{max(2, bits)}"] += 1
    if not votes:
        width = _MLX_BITS.search(repo_id.rsplit("/", 1)[-1]) if repo_id else None
        if width is None:
            return None
        bits = int(width.group(1))
        return "fp8" if bits >= 7 else f"q{bits}"
    return votes.most_common(1)[0][0]


def ratios_for(catalog: Catalog, repo_id: str, quant: str | None, pool: Sequence[ModelProfile] = ()) -> Ratios:
    """The ratios to derive ``repo_id``'s need with (see the module docstring for the choice)."""
    matched = matching_models(catalog, repo_id, pool)
    models = matched or list(pool) or list(catalog.models)
    rows = [(m, r) for m in models for r in m.quants if quant is None or r.id == quant]
    if not rows:
        rows = [(m, r) for m in models for r in m.quants]
    model, row = max(rows, key=lambda pair: (pair[1].min_vram_bytes / pair[1].weights_bytes, pair[1].safer_vram_bytes))
    if matched:
        who = f"the profile of {repo_id}" if len(matched) == 1 else "the profiles matching it"
    else:
        who = f"no profile names {repo_id}: the largest ratio of the profiles"
    what = f"files named {quant}" if quant else "no quantization recognised in the file names: the largest ratio"
    return row_ratios(model, row, f"{who}; {what}")


def scaled_vram(row: QuantRow, weights_bytes: int) -> tuple[int, int]:
    """``row``'s minimum and safer VRAM for ``weights_bytes`` of weights instead of its own, at the row's
    VRAM-to-weights ratios, rounded up to whole bytes: the one rule for derived rows and for ``--sizes published``
    (published.py)."""
    return (
        -(-weights_bytes * row.min_vram_bytes // row.weights_bytes),
        -(-weights_bytes * row.safer_vram_bytes // row.weights_bytes),
    )


def table_figures(weights_bytes: int, min_vram_bytes: int, safer_vram_bytes: int) -> tuple[str, str, str]:
    """A row's ``weights``, ``min_vram`` and ``safer_vram`` as the table writes them: weights in decimal GB rounded
    up to 0.01, VRAM in table GB (GiB of card capacity) rounded up to 0.1 (``units.weights_text``, ``table_text``)."""
    return units.weights_text(weights_bytes), units.table_text(min_vram_bytes), units.table_text(safer_vram_bytes)


def derived_need(weights_bytes: int, ratios: Ratios, quant: str | None = None) -> DerivedNeed:
    """``weights_bytes`` x the ratios (``scaled_vram``)."""
    min_vram, safer_vram = scaled_vram(ratios.row, weights_bytes)
    return DerivedNeed(
        weights_bytes=weights_bytes,
        min_vram_bytes=min_vram,
        safer_vram_bytes=safer_vram,
        ratios=ratios,
        quant=quant,
    )


def is_experimental(row_id: str) -> bool:
    """Contract rule 3: the quantizations ``EXPERIMENTAL_ORDER`` names (q3, q2) are experimental."""
    return row_id in EXPERIMENTAL_ORDER


def derived_row(need: DerivedNeed, *, row_id: str, label: str, best_for: str, source: str) -> QuantRow:
    """A table row for a derived need (``table_figures``)."""
    weights, min_vram, safer_vram = need.figures
    return QuantRow(
        id=row_id,
        label=label,
        weights=weights,
        min_vram=min_vram,
        safer_vram=safer_vram,
        best_for=best_for,
        experimental=is_experimental(row_id),
        source=source,
    )
