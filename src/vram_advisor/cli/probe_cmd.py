"""``vram-advisor probe``: print the hardware inventory only (``--json`` is the inventory v1 format)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from vram_advisor import inventory as inv
from vram_advisor import visibility
from vram_advisor.cli.app import AllGpusOpt, JsonOpt, ModelDirOpt, app
from vram_advisor.cli.common import console
from vram_advisor.render import write_json, write_line
from vram_advisor.service import CheckRequest, obtain_inventory


@app.command()
def probe(
    json_output: JsonOpt = False,
    model_dir: ModelDirOpt = None,
    all_gpus: AllGpusOpt = False,
    compact: Annotated[
        bool,
        typer.Option("--compact", help="With --json: one line (NDJSON), for piping many nodes into cluster -."),
    ] = False,
) -> None:
    """Print what this machine has: GPUs, RAM, the disk under the model dir."""
    inventory = visibility.apply(obtain_inventory(CheckRequest(model_dir=model_dir)), os.environ, ignore=all_gpus)
    if json_output:
        if compact:
            write_line(inv.dumps(inventory))
        else:
            write_json(inv.to_dict(inventory))
        return
    from vram_advisor.render.human import print_view, probe_view

    print_view(probe_view(inventory), console())
