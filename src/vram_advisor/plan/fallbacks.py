"""What to say when V4 is not the whole answer: the row of the article's Quick Summary a machine reaches (contract
rule 7) and the smaller local models of the catalogue that fit here. Pure."""

from __future__ import annotations

from vram_advisor.catalog.localmodels import LocalModel
from vram_advisor.catalog.profiles import Catalog, TierRow
from vram_advisor.core import units
from vram_advisor.core.records import Record, dataclass
from vram_advisor.plan.machine import Machine

#: A smaller local model "fits" where its file plus this share on top (KV cache for an ordinary context, compute
#: buffers, CUDA context) fits. 1.2 is the factor the vLLM recipes use for ``vram_minimum_gb``
#: (vllm-project/recipes: "ceil(params x bytes_per_param x 1.2)").
SMALL_MODEL_HEADROOM = 1.2


@dataclass(frozen=True, eq=False, repr=False)
class SmallModelFit(Record):
    """A smaller local model that fits, and where it runs (gpu, gpu+ram or cpu)."""

    model: LocalModel
    runs_on: str


def tier_of(catalog: Catalog, usable_bytes: int) -> TierRow | None:
    """Contract rule 7: the largest Quick Summary row that usable VRAM meets, or None below the smallest."""
    met = [row for row in catalog.quick_summary if units.meets(usable_bytes, row.vram_bytes)]
    return max(met, key=lambda row: row.vram_bytes, default=None)


def small_models(catalog: Catalog, machine: Machine) -> tuple[SmallModelFit, ...]:
    """The catalogue's smaller models that fit here, largest first, and where each would run."""
    out = []
    for model in catalog.local_models:
        need = int(model.size_bytes * SMALL_MODEL_HEADROOM)
        if machine.usable_vram_bytes and need <= machine.usable_vram_bytes:
            out.append(SmallModelFit(model, "gpu"))
        elif need <= machine.usable_vram_bytes + machine.spare_ram_bytes:
            out.append(SmallModelFit(model, "gpu+ram" if machine.usable_vram_bytes else "cpu"))
    return tuple(out)


# --------------------------------------------------------------------------------------------------- rule 8
