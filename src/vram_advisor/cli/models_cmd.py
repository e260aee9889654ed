"""``vram-advisor models``: the model profiles with the article's figures."""

from __future__ import annotations

from typing import Any

from vram_advisor.cli.app import JsonOpt, app
from vram_advisor.cli.common import console
from vram_advisor.profiles import Catalog, default_catalog
from vram_advisor.render import write_json


def models_dict(catalog: Catalog) -> dict[str, Any]:
    from vram_advisor.report import _number

    return {
        "schema": "vram-advisor/models/v1",
        "models": [
            {
                "id": model.id,
                "name": model.name,
                "base": model.base,
                "params_total": model.params_total,
                "params_active": model.params_active,
                "official_weights": model.official_weights,
                "profile": model.origin,
                "quants": [
                    {
                        "quant": row.id,
                        "weights_gb": _number(row.weights_gb),
                        "min_vram_gb": _number(row.min_vram_gb),
                        "safer_vram_gb": _number(row.safer_vram_gb),
                        "experimental": row.experimental,
                        "best_for": row.best_for,
                        "source": row.source,
                    }
                    for row in model.quants
                ],
            }
            for model in catalog.models
        ],
        "quick_summary": [
            {
                "vram_gb": _number(row.vram_gb),
                "label": row.vram,
                "realistic": row.realistic,
                "do_not_expect": row.do_not_expect,
            }
            for row in catalog.quick_summary
        ],
        "smaller_models": [
            {
                "name": m.name,
                "quant": m.quant,
                "size_gb": m.size_gb,
                "params": m.params_total,
                "source": m.source,
            }
            for m in catalog.local_models
        ],
    }


@app.command()
def models(json_output: JsonOpt = False) -> None:
    """List the model profiles: variants, quantizations and the table's figures."""
    catalog = default_catalog()
    if json_output:
        write_json(models_dict(catalog))
        return
    from vram_advisor.render.human import models_view, print_view

    print_view(models_view(catalog), console())
