"""``vram-advisor doctor``: everything the probe saw, raw, for bug reports (``--json`` too); never prints a secret."""

from __future__ import annotations

import os

from vram_advisor.cli.app import AllGpusOpt, JsonOpt, ModelDirOpt, app
from vram_advisor.render import write_json


@app.command()
def doctor(json_output: JsonOpt = False, model_dir: ModelDirOpt = None, all_gpus: AllGpusOpt = False) -> None:
    """Show everything the probe read (NVML calls, cgroup files, disks, environment) for a bug report."""
    import sys

    from vram_advisor.probe import doctor as report

    collected = report.collect(model_dir, dict(os.environ), all_gpus=all_gpus)
    if json_output:
        write_json(collected)
        return
    sys.stdout.write(report.render_text(collected))
    sys.stdout.flush()
