"""``--sizes published``: the catalogue with each quantization's published file as its weights.

The table's VRAM figures carry headroom over the table's weights; with a published file in their place, the minimum
and safer figures are scaled by the same ratio (published / table weights), so the table's headroom policy is kept
and only the weights change. Rows without a published file keep the table's figures. The published file is the
row's reference download of the model's chosen release (catalog/downloads.py; ``--release`` picks another), where
it is published rather than computed. The default (``--sizes table``) never goes through here, so contract rules
1-8 hold unchanged by default.
"""

from __future__ import annotations

from dataclasses import replace

from vram_advisor.catalog.derive import scaled_vram, table_figures
from vram_advisor.catalog.downloads import reference_download
from vram_advisor.catalog.profiles import Catalog, ModelProfile, QuantRow


def published_row(row: QuantRow, model: ModelProfile | None = None) -> QuantRow:
    """``row`` with its first published file as the weights and the VRAM figures scaled by published / table
    (``derive.scaled_vram``, the rule derived rows use, written as the table writes figures)."""
    if not row.published:
        return row
    size = row.published[0].size_bytes
    if model is not None:
        download = reference_download(model, row)
        if download.computed or download.bytes is None:
            return row
        size = download.bytes
    min_vram, safer_vram = scaled_vram(row, size)
    weights, min_text, safer_text = table_figures(size, min_vram, safer_vram)
    return replace(row, weights=weights, min_vram=min_text, safer_vram=safer_text)


def published_catalog(catalog: Catalog) -> Catalog:
    """The catalogue with ``published_row`` applied to every quantization of every model."""
    models = tuple(
        replace(model, quants=tuple(published_row(row, model) for row in model.quants)) for model in catalog.models
    )
    return replace(catalog, models=models)
