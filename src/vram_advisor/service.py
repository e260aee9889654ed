"""``check`` as a function: the whole pipeline (inventory -> visibility -> plan -> JSON) for the CLI, the HTTP
agent and the MCP server, so that every front end gives the same answer for the same request."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vram_advisor import inventory as inv
from vram_advisor import report, units, visibility, whatif
from vram_advisor.errors import UsageError
from vram_advisor.plan import Plan, parse_requirement, plan
from vram_advisor.profiles import Catalog, default_catalog

DEFAULT_CONTEXT_TOKENS = 32 * 1024


@dataclass(frozen=True)
class CheckRequest:
    """Everything ``check`` can be asked (the CLI options, as plain values)."""

    inventory_path: str | None = None
    inventory: inv.Inventory | None = None
    model_dir: str | None = None
    gpus: str | None = None
    ram: str | None = None
    all_gpus: bool = False
    base: bool = False
    require: str | None = None
    allow_offload: bool = False
    context: str | None = None


@dataclass(frozen=True)
class CheckOutcome:
    """The judged inventory, the plan and the contract's JSON document."""

    inventory: inv.Inventory
    plan: Plan
    document: dict[str, Any]
    context_tokens: int


def parse_context(text: str | None) -> int:
    if text is None:
        return DEFAULT_CONTEXT_TOKENS
    try:
        return units.parse_tokens(text)
    except units.SizeError as exc:
        raise UsageError(f"--context: {exc}") from None


def obtain_inventory(request: CheckRequest) -> inv.Inventory:
    """The inventory to judge: given, read from a file, or probed here; then the what-if overrides."""
    if request.inventory is not None:
        inventory = request.inventory
    elif request.inventory_path is not None:
        inventory = inv.load(request.inventory_path)
    else:
        from vram_advisor.probe import collect_inventory

        inventory = collect_inventory(request.model_dir)
    return whatif.apply(inventory, gpus=request.gpus, ram=request.ram)


def run_check(
    request: CheckRequest, environ: Mapping[str, str] | None = None, catalog: Catalog | None = None
) -> CheckOutcome:
    """Validate the request, get the inventory, apply CUDA_VISIBLE_DEVICES, plan, and build the JSON."""
    context_tokens = parse_context(request.context)
    requirement = parse_requirement(request.require) if request.require is not None else None
    catalog = catalog or default_catalog()
    if requirement is not None:
        catalog.model(requirement[0]).quant(requirement[1])
    environ = os.environ if environ is None else environ
    inventory = visibility.apply(obtain_inventory(request), environ, ignore=request.all_gpus)
    result = plan(
        inventory,
        catalog,
        base=request.base,
        require=requirement,
        allow_offload=request.allow_offload,
        model_dir=request.model_dir,
    )
    document = report.check_dict(result, inventory)
    document["context_tokens"] = context_tokens
    return CheckOutcome(inventory=inventory, plan=result, document=document, context_tokens=context_tokens)
