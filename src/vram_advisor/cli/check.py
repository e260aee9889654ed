"""``vram-advisor check``: probe (or read) a machine, plan, print the verdict; the exit code answers --require."""

from __future__ import annotations

from typing import Annotated

import typer

from vram_advisor import report
from vram_advisor.cli.app import (
    AllGpusOpt,
    BaseOpt,
    GpusOpt,
    InventoryOpt,
    JsonOpt,
    ModelDirOpt,
    RamOpt,
    app,
)
from vram_advisor.cli.common import console
from vram_advisor.render import warn, write_json, write_line
from vram_advisor.service import CheckRequest, run_check


@app.command()
def check(
    json_output: JsonOpt = False,
    inventory_path: InventoryOpt = None,
    require: Annotated[
        str | None,
        typer.Option("--require", metavar="MODEL:QUANT", help="Pre-install check: exit 0 if it fits, 1 if not."),
    ] = None,
    allow_offload: Annotated[
        bool,
        typer.Option("--allow-offload", help="With --require: a fit that needs system RAM counts as a fit."),
    ] = False,
    base: BaseOpt = False,
    context: Annotated[
        str | None,
        typer.Option("--context", metavar="TOKENS", help="Planned context length: 32768, 128k, 1M."),
    ] = None,
    model_dir: ModelDirOpt = None,
    gpus: GpusOpt = None,
    ram: RamOpt = None,
    all_gpus: AllGpusOpt = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="With --require: print one line, ok: ... or no: ...")
    ] = False,
) -> None:
    """Say which DeepSeek V4 model and quantization this machine can run, and how comfortably."""
    outcome = run_check(
        CheckRequest(
            inventory_path=inventory_path,
            model_dir=model_dir,
            gpus=gpus,
            ram=ram,
            all_gpus=all_gpus,
            base=base,
            require=require,
            allow_offload=allow_offload,
            context=context,
        )
    )
    result = outcome.plan
    if json_output:
        write_json(outcome.document)
    elif quiet and result.required is not None:
        write_line(report.quiet_line(result))
    else:
        if quiet:
            warn("--quiet only applies with --require; printing the full view")
        from vram_advisor.render.human import check_view, print_view

        print_view(check_view(result, outcome.inventory), console())
    if result.required is not None and not result.required.fits:
        raise typer.Exit(1)
