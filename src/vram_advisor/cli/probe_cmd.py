"""``vram-advisor probe``: print the hardware inventory only (``--json`` is the inventory v1 format)."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from vram_advisor.cli.app import AllGpusOpt, JsonOpt, ModelDirOpt, app
from vram_advisor.cli.common import console
from vram_advisor.inventory import model as inv
from vram_advisor.inventory import visibility
from vram_advisor.render import write_json


@app.command()
def probe(
    json_output: JsonOpt = False,
    model_dir: ModelDirOpt = None,
    all_gpus: AllGpusOpt = False,
    compact: Annotated[
        bool,
        typer.Option("--compact", help="With --json: always one line (the default when stdout is not a terminal)."),
    ] = False,
    pretty: Annotated[
        bool, typer.Option("--pretty", help="With --json: always indented (the default on a terminal).")
    ] = False,
) -> None:
    """Print what this machine has: GPUs, RAM, the disk under the model dir.

    With --json the inventory is ONE line when stdout is not a terminal, so that the outputs of many nodes piped
    through srun, pdsh or ssh into `vram-advisor cluster -` cannot interleave inside an inventory.
    """
    if compact and pretty:
        from vram_advisor.core.errors import UsageError

        raise UsageError("--compact and --pretty contradict: choose one layout for --json")
    from vram_advisor.probe import collect_inventory  # the probe alone: no planning code on every node

    inventory = visibility.apply(collect_inventory(model_dir), os.environ, ignore=all_gpus)
    if json_output:
        one_line = compact or (not pretty and not sys.stdout.isatty())
        write_json(inv.to_dict(inventory), indent=None if one_line else 2)
        return
    from vram_advisor.render.human import print_view, probe_view

    print_view(probe_view(inventory), console())
