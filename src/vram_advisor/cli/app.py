"""The typer application object and the options shared by several commands (typer's public API only)."""

from __future__ import annotations

from typing import Annotated

import typer

from vram_advisor import __version__
from vram_advisor.core.modeldir import model_dir_of

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
InventoryOpt = Annotated[
    str | None,
    typer.Option(
        "--inventory",
        metavar="PATH",
        help="Use a saved inventory (probe --json) instead of probing; - reads stdin.",
    ),
]


ModelDirOpt = Annotated[
    str | None,
    typer.Option(
        "--model-dir",
        metavar="PATH",
        help="Where the weights would go (default: the Hugging Face cache).",
        callback=model_dir_of,
    ),
]
GpusOpt = Annotated[
    str | None,
    typer.Option("--gpus", metavar="SPEC", help="What-if: replace the GPUs, e.g. 8xH100-80GB, 2x96GB, 4xRTX4090."),
]
RamOpt = Annotated[str | None, typer.Option("--ram", metavar="SIZE", help="What-if: replace system RAM, e.g. 512GB.")]
AllGpusOpt = Annotated[bool, typer.Option("--all-gpus", help="Plan on every GPU, ignoring CUDA_VISIBLE_DEVICES.")]
BaseOpt = Annotated[bool, typer.Option("--base", help="Consider the two Base models instead of the instruct models.")]
