"""``--sizes published``: the catalogue with each quantization's published file as its weights.

The table's VRAM figures carry headroom over the table's weights; with a published file in their place, the minimum
and safer figures are scaled by the same ratio (published / table weights), so the table's headroom policy is kept
and only the weights change. Rows without a published file keep the table's figures. The default (``--sizes
table``) never goes through here, so contract rules 1-8 hold unchanged by default.
"""

from __future__ import annotations

from dataclasses import replace

from vram_advisor import units
from vram_advisor.profiles import Catalog, QuantRow


def _figure(value: float) -> str:
    """A number of GB as a table string that ``units`` reads back ("197.52GB")."""
    return f"{value:.3f}".rstrip("0").rstrip(".") + "GB"


def published_row(row: QuantRow) -> QuantRow:
    """``row`` with its first published file as the weights and the VRAM figures scaled by published / table."""
    if not row.published:
        return row
    published_gb = row.published[0].size_bytes / units.GB_DECIMAL
    ratio = published_gb / row.weights_gb
    return replace(
        row,
        weights=_figure(published_gb),
        min_vram=_figure(row.min_vram_gb * ratio),
        safer_vram=_figure(row.safer_vram_gb * ratio),
    )


def published_catalog(catalog: Catalog) -> Catalog:
    """The catalogue with ``published_row`` applied to every quantization of every model."""
    models = tuple(replace(model, quants=tuple(published_row(row) for row in model.quants)) for model in catalog.models)
    return replace(catalog, models=models)
