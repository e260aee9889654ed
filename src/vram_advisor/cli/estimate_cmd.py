"""``vram-advisor estimate MODEL --quant Q``: the memory breakdown of one option per placement (weights, KV cache,
overhead, total), the decode-speed bounds, the assumptions, and the command that would run it."""

from __future__ import annotations

from typing import Annotated

import typer

from vram_advisor.cli.app import (
    AllGpusOpt,
    ContextOpt,
    GpusOpt,
    InventoryOpt,
    JsonOpt,
    ModelDirOpt,
    RamOpt,
    UsersOpt,
    app,
)
from vram_advisor.cli.common import console
from vram_advisor.cli.estimate_options import DiskBwOpt, KvDtypeOpt, RamBwOpt, ReleaseOpt, SizesOpt
from vram_advisor.render import write_json


@app.command()
def estimate(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="A model id, as `vram-advisor models` lists them.")],
    quant: Annotated[str, typer.Option("--quant", metavar="Q", help="The quantization: fp8, q6, q5, q4, q3, q2.")],
    context: ContextOpt = None,
    users: UsersOpt = None,
    json_output: JsonOpt = False,
    inventory_path: InventoryOpt = None,
    gpus: GpusOpt = None,
    ram: RamOpt = None,
    model_dir: ModelDirOpt = None,
    all_gpus: AllGpusOpt = False,
    no_machine: Annotated[
        bool, typer.Option("--no-machine", help="Do not probe: the breakdown alone, without fits or speeds.")
    ] = False,
    kv_dtype: KvDtypeOpt = "bf16",
    sizes: SizesOpt = "real",
    ram_bw: RamBwOpt = None,
    disk_bw: DiskBwOpt = None,
    release: ReleaseOpt = None,
    no_calibration: Annotated[
        bool,
        typer.Option("--no-calibration", help="Ignore the speeds `verify` measured on this machine: estimates alone."),
    ] = False,
) -> None:
    """The memory breakdown of one option (weights, KV cache, overhead) per placement, with speeds and assumptions."""
    import os

    from vram_advisor.catalog.userprofiles import default_catalog, report_broken
    from vram_advisor.core.errors import UsageError
    from vram_advisor.inventory import visibility
    from vram_advisor.inventory.model import Inventory
    from vram_advisor.options import check_served_tokens, parse_context, parse_users
    from vram_advisor.plan.check_estimates import EstimateOptions
    from vram_advisor.report.estimate import estimate_and_document
    from vram_advisor.service import CheckRequest, obtain_inventory

    machine_options = {
        "--inventory": inventory_path is not None,
        "--gpus": gpus is not None,
        "--ram": ram is not None,
        "--model-dir": model_dir is not None,
        "--all-gpus": all_gpus,
    }
    given = [name for name, used in machine_options.items() if used]
    if no_machine and given:
        raise UsageError(f"--no-machine and {', '.join(given)} contradict: --no-machine judges no machine at all")
    # an over-long context names this model's limit (an unknown model is reported later, in the usual order)
    report_broken(default_catalog(), [model])
    in_play = [m for m in default_catalog().models if m.id == model.strip().lower()]
    context_tokens = parse_context(context, in_play or None)
    options = EstimateOptions.parse(kv_dtype, sizes, ram_bw, disk_bw, sequences=parse_users(users))
    check_served_tokens(options.sequences, context_tokens)

    def probe() -> Inventory:
        request = CheckRequest(inventory_path=inventory_path, model_dir=model_dir, gpus=gpus, ram=ram)
        from vram_advisor.inventory.calibration import calibrated

        judged = visibility.apply(obtain_inventory(request), os.environ, ignore=all_gpus)
        return calibrated(judged, os.environ, not no_calibration)

    result, document = estimate_and_document(
        model,
        quant,
        context_tokens,
        None if no_machine else probe,
        options.kv_dtype,
        sizes=options.sizes,
        ram_bw=options.ram_bw,
        disk_bw=options.disk_bw,
        model_dir=model_dir,
        release=release,
        sequences=options.sequences,
    )
    if json_output:
        write_json(document)
        return
    from vram_advisor.render.estimate_view import estimate_view
    from vram_advisor.render.human import print_view

    print_view(estimate_view(result, document), console())
