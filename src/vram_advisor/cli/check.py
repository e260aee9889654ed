"""``vram-advisor check``: probe (or read) a machine, plan, print the verdict; the exit code answers --require."""

from __future__ import annotations

import inspect
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vram_advisor.cli.app import JsonOpt, app
from vram_advisor.cli.common import console
from vram_advisor.cli.hubopts import hub_spinner
from vram_advisor.cli.optiontable import parameter, with_parameters
from vram_advisor.core.errors import UsageError, VramAdvisorError
from vram_advisor.options import CHECK_OPTIONS, request_values
from vram_advisor.render import warn, write_json, write_line

if TYPE_CHECKING:  # annotations only: the service is imported when check runs
    from vram_advisor.plan.check import CheckReport
    from vram_advisor.service import CheckRequest

QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="With --require or --repo: print one line, ok: ... or no: ...")
]
DetailsOpt = Annotated[
    bool,
    typer.Option("--details", help="Everything: the machine, tier, advice, context, offload plans, warnings, notes."),
]
PromOpt = Annotated[
    bool,
    typer.Option(
        "--prom", help="This node's gauges in the Prometheus text format (the names and labels of serve's /metrics)."
    ),
]
PromFileOpt = Annotated[
    str | None,
    typer.Option(
        "--prom-file",
        metavar="PATH",
        help="Write the --prom text to PATH atomically, for node_exporter's textfile collector (PATH ends in .prom).",
    ),
]
#: How the answer is shown, not what is asked: ``--json``, ``--prom`` and ``--prom-file`` come first, ``--quiet`` and
#: ``--details`` before ``--model`` (the order ``check --help`` lists them in); every other parameter is an option of
#: the table.
_KEYWORD = inspect.Parameter.KEYWORD_ONLY
SHOWN = {
    "json_output": inspect.Parameter("json_output", _KEYWORD, default=False, annotation=JsonOpt),
    "prom": inspect.Parameter("prom", _KEYWORD, default=False, annotation=PromOpt),
    "prom_file": inspect.Parameter("prom_file", _KEYWORD, default=None, annotation=PromFileOpt),
    "quiet": inspect.Parameter("quiet", _KEYWORD, default=False, annotation=QuietOpt),
    "details": inspect.Parameter("details", _KEYWORD, default=False, annotation=DetailsOpt),
}
_SHOWN_BEFORE = "models"


def _parameters() -> list[inspect.Parameter]:
    """``check``'s parameters: the ways to show the answer, and one per option of the table."""
    found = [SHOWN["json_output"], SHOWN["prom"], SHOWN["prom_file"]]
    for option in CHECK_OPTIONS:
        if option.name == _SHOWN_BEFORE:
            found += [SHOWN["quiet"], SHOWN["details"]]
        found.append(parameter(option))
    return found


def _gauges(request: CheckRequest, outcome: CheckReport) -> str:
    """``--prom``: this node's gauges as ``serve``'s ``/metrics`` writes them (``report.metrics``, the one writer).

    ``/metrics`` gauges the instruct and the Base models, so the other one's check is run too (the inventory is read
    or probed again; from stdin it was read once, before), with the same options; where they do not apply to it, and
    with ``--repo`` or ``--model`` (which name what is judged), only the asked one. The inventory was just probed (or
    read): age 0, not stale.
    """
    from vram_advisor import __version__
    from vram_advisor.report import metrics
    from vram_advisor.service import check_json, run_check

    documents = [check_json(outcome)]
    if request.repo is None and not request.models:
        try:
            other = check_json(run_check(replace(request, base=not request.base)))
        except VramAdvisorError:  # an option the other models do not take (a --release of one family): without them
            pass
        else:
            documents.insert(0 if request.base else 1, other)  # the instruct document first, as /metrics has it
    families = [*metrics.check_families(documents), *metrics.agent_families(0.0, False, __version__)]
    return metrics.exposition(families)


def check(
    *,
    json_output: bool = False,
    prom: bool = False,
    prom_file: str | None = None,
    quiet: bool = False,
    details: bool = False,
    **values: Any,
) -> None:
    """Say which DeepSeek V4 model and quantization this machine can run, and how comfortably."""
    if quiet and json_output:
        raise UsageError("--quiet and --json contradict: --json prints the whole document, --quiet one line")
    if prom and json_output:
        raise UsageError(
            "--prom and --json contradict: each is the whole of stdout (--prom-file PATH writes the gauges beside --json)"
        )
    if prom and quiet:
        raise UsageError("--quiet and --prom contradict: --prom prints the gauges, --quiet one line")
    from vram_advisor.service import CheckRequest, check_json, run_check

    request = CheckRequest(**request_values(values))
    gauges = prom or prom_file is not None
    if gauges and request.inventory_path == "-":  # read once: the gauges take two checks of it
        from vram_advisor.inventory.model import load

        request = replace(request, inventory=load("-"), inventory_path=None)
    machine = json_output or gauges
    outcome = run_check(request, hub_status=hub_spinner(not machine and not quiet))
    result = outcome.plan
    if gauges:
        text = _gauges(request, outcome)
        if prom_file is not None:  # before anything is printed: a path it cannot write is exit 2 alone
            from vram_advisor.render.textfile import write_atomically

            write_atomically(prom_file, text)
        if prom:
            write_line(text.removesuffix("\n"))
    if json_output:
        write_json(check_json(outcome))
    elif quiet and result.required is not None:
        from vram_advisor.report.check import quiet_line

        write_line(quiet_line(result))
    elif not gauges:  # --prom-file alone prints nothing: the file is the answer
        if quiet:
            warn("--quiet only applies with --require; printing the full view")
        from vram_advisor.render.human import check_view, print_view

        view = check_view(outcome, details=details)
        print_view(view, console())
    if result.required is not None and not result.required.fits:
        raise typer.Exit(1)


app.command(name="check")(with_parameters(check, _parameters()))
