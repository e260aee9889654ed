"""``vram-advisor probe``: print the hardware inventory only (``--json`` is the inventory v1 format)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from vram_advisor.cli.app import AllGpusOpt, JsonOpt, ModelDirOpt, app
from vram_advisor.cli.common import console
from vram_advisor.inventory import model as inv
from vram_advisor.inventory import visibility
from vram_advisor.render import write_json

if TYPE_CHECKING:
    from rich.console import Group


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
    measure: Annotated[
        bool,
        typer.Option(
            "--measure",
            help="Also measure RAM copy bandwidth (about a second, all usable CPUs) and the model dir disk's "
            "sequential read (an existing file, past the page cache); both are recorded in the inventory.",
        ),
    ] = False,
    no_calibration: Annotated[
        bool,
        typer.Option(
            "--no-calibration", help="Leave out the speeds `verify` measured here (the calibration store's points)."
        ),
    ] = False,
) -> None:
    """Print what this machine has: GPUs, RAM, the disk under the model dir.

    With --json the inventory is ONE line when stdout is not a terminal, so that the outputs of many nodes piped
    through srun, pdsh or ssh into `vram-advisor cluster -` cannot interleave inside an inventory.
    """
    if compact and pretty:
        from vram_advisor.core.errors import UsageError

        raise UsageError("--compact and --pretty contradict: choose one layout for --json")
    import vram_advisor.probe as probing  # the probe alone: no planning code on every node

    inventory = visibility.apply(probing.collect_inventory(model_dir), os.environ, ignore=all_gpus)
    from vram_advisor.inventory.calibration import calibrated

    # the speeds verify measured here travel with the inventory (cluster, serve)
    inventory = calibrated(inventory, os.environ, not no_calibration)
    if measure:
        from vram_advisor.probe.measure import measure_inventory

        inventory = measure_inventory(inventory, model_dir, root=probing.DEFAULT_ROOT, platform=sys.platform)
    if json_output:
        one_line = compact or (not pretty and not sys.stdout.isatty())
        write_json(inv.to_dict(inventory), indent=None if one_line else 2)
        return
    from vram_advisor.render.human import print_view, probe_view

    print_view(probe_view(inventory), console())
    if measure:
        print_view(measured_view(inventory), console())


def measured_view(inventory: inv.Inventory) -> Group:
    """The bandwidths ``--measure`` recorded, one line each."""
    from rich.console import Group
    from rich.text import Text

    from vram_advisor.core import units

    lines = [Text("Measured", style="bold")]
    readings = [("RAM copy", inventory.ram.bandwidth)]
    readings += [(f"disk read ({disk.path})", disk.read_bandwidth) for disk in inventory.disks if disk.read_bandwidth]
    for label, reading in readings:
        if reading is None:
            continue
        threads = f"{reading.threads} thread{'s' if reading.threads != 1 else ''}"
        rounds = f", best of {reading.rounds} rounds" if (reading.rounds or 0) > 1 else ""
        lines.append(
            Text(
                f"{label}: {units.format_bandwidth(reading.bytes_per_s)} ({reading.method}; {threads}, "
                f"{units.format_gib(reading.bytes)} in {reading.seconds or 0:.3f} s{rounds})"
            )
        )
    return Group(*lines)
