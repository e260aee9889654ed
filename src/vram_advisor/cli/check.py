"""``vram-advisor check``: probe (or read) a machine, plan, print the verdict; the exit code answers --require."""

from __future__ import annotations

from typing import Annotated

import typer

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
from vram_advisor.cli.estimate_options import DiskBwOpt, KvDtypeOpt, RamBwOpt, ReleaseOpt, SizesOpt
from vram_advisor.cli.hubopts import IncludeOpt, ModelOpt, RepoOpt, RevisionOpt, hub_spinner
from vram_advisor.core.errors import UsageError
from vram_advisor.render import warn, write_json, write_line


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
    kv_dtype: KvDtypeOpt = "bf16",
    sizes: SizesOpt = "real",
    ram_bw: RamBwOpt = None,
    disk_bw: DiskBwOpt = None,
    model_dir: ModelDirOpt = None,
    gpus: GpusOpt = None,
    ram: RamOpt = None,
    all_gpus: AllGpusOpt = False,
    free: Annotated[
        bool,
        typer.Option("--free", help="Grade on the GPUs' free memory now instead of their capacity (shared nodes)."),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="With --require or --repo: print one line, ok: ... or no: ...")
    ] = False,
    details: Annotated[
        bool,
        typer.Option(
            "--details", help="Everything: the machine, tier, advice, context, offload plans, warnings, notes."
        ),
    ] = False,
    model: ModelOpt = None,
    repo: RepoOpt = None,
    revision: RevisionOpt = None,
    include: IncludeOpt = None,
    release: ReleaseOpt = None,
) -> None:
    """Say which DeepSeek V4 model and quantization this machine can run, and how comfortably."""
    if quiet and json_output:
        raise UsageError("--quiet and --json contradict: --json prints the whole document, --quiet one line")
    from vram_advisor.service import CheckRequest, check_json, run_check

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
            kv_dtype=kv_dtype,
            sizes=sizes,
            ram_bw=ram_bw,
            disk_bw=disk_bw,
            free=free,
            models=tuple(model or ()),
            repo=repo,
            revision=revision,
            include=tuple(include or ()),
            release=release,
        ),
        hub_status=hub_spinner(not json_output and not quiet),
    )
    result = outcome.plan
    if json_output:
        write_json(check_json(outcome))
    elif quiet and result.required is not None:
        from vram_advisor.report.check import quiet_line

        write_line(quiet_line(result))
    else:
        if quiet:
            warn("--quiet only applies with --require; printing the full view")
        from vram_advisor.render.human import check_view, print_view

        view = check_view(outcome, details=details)
        print_view(view, console())
    if result.required is not None and not result.required.fits:
        raise typer.Exit(1)
