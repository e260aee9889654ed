"""The typer application object and the options shared by several commands (typer's public API only)."""

from __future__ import annotations

from typing import Annotated

import typer

from vram_advisor import __version__
from vram_advisor.cli.optiontable import option_info

app = typer.Typer(
    name="vram-advisor",
    help="Which DeepSeek V4 model and quantization can this machine run? Honest, fast, from the article's tables.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        print(f"vram-advisor {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show a traceback on errors.")] = False,
) -> None:
    """vram-advisor: check this machine (or a saved inventory) against DeepSeek V4's VRAM tables."""


JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable result on stdout, nothing else there.")]
# The options ``check`` shares with other commands, from the check option table (``vram_advisor.options``).
InventoryOpt = Annotated[str | None, option_info("inventory_path")]
ModelDirOpt = Annotated[str | None, option_info("model_dir")]
GpusOpt = Annotated[str | None, option_info("gpus")]
RamOpt = Annotated[str | None, option_info("ram")]
AllGpusOpt = Annotated[bool, option_info("all_gpus")]
BaseOpt = Annotated[bool, option_info("base")]
ContextOpt = Annotated[str | None, option_info("context")]
UsersOpt = Annotated[str | None, option_info("users")]
