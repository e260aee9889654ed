"""``vram-advisor check``: probe (or read) a machine, plan, print the verdict; the exit code answers --require."""

from __future__ import annotations

import inspect
from typing import Annotated, Any

import typer

from vram_advisor.cli.app import JsonOpt, app
from vram_advisor.cli.common import console
from vram_advisor.cli.hubopts import hub_spinner
from vram_advisor.cli.optiontable import parameter, with_parameters
from vram_advisor.core.errors import UsageError
from vram_advisor.options import CHECK_OPTIONS, request_values
from vram_advisor.render import warn, write_json, write_line

QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="With --require or --repo: print one line, ok: ... or no: ...")
]
DetailsOpt = Annotated[
    bool,
    typer.Option("--details", help="Everything: the machine, tier, advice, context, offload plans, warnings, notes."),
]
#: How the answer is shown, not what is asked: ``--json`` comes first, ``--quiet`` and ``--details`` before
#: ``--model`` (the order ``check --help`` lists them in); every other parameter is an option of the table.
_KEYWORD = inspect.Parameter.KEYWORD_ONLY
SHOWN = {
    "json_output": inspect.Parameter("json_output", _KEYWORD, default=False, annotation=JsonOpt),
    "quiet": inspect.Parameter("quiet", _KEYWORD, default=False, annotation=QuietOpt),
    "details": inspect.Parameter("details", _KEYWORD, default=False, annotation=DetailsOpt),
}
_SHOWN_BEFORE = "models"


def _parameters() -> list[inspect.Parameter]:
    """``check``'s parameters: the ways to show the answer, and one per option of the table."""
    found = [SHOWN["json_output"]]
    for option in CHECK_OPTIONS:
        if option.name == _SHOWN_BEFORE:
            found += [SHOWN["quiet"], SHOWN["details"]]
        found.append(parameter(option))
    return found


def check(*, json_output: bool = False, quiet: bool = False, details: bool = False, **values: Any) -> None:
    """Say which DeepSeek V4 model and quantization this machine can run, and how comfortably."""
    if quiet and json_output:
        raise UsageError("--quiet and --json contradict: --json prints the whole document, --quiet one line")
    from vram_advisor.service import CheckRequest, check_json, run_check

    outcome = run_check(CheckRequest(**request_values(values)), hub_status=hub_spinner(not json_output and not quiet))
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


app.command(name="check")(with_parameters(check, _parameters()))
