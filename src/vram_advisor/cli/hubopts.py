"""Options that name a Hub repo (``check --repo``, ``models import``) and the spinner shown while the Hub is asked.

The spinner is rich's status line on stderr, and only where stderr is an interactive terminal; stdout never carries
it, and ``--json``/``--quiet`` turn it off (``hub_spinner(False)``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Annotated

import typer

RepoOpt = Annotated[
    str | None,
    typer.Option(
        "--repo",
        metavar="ORG/NAME",
        help="Judge the real download: the repo's files and sizes from the Hub drive the disk check (and the VRAM "
        "need when no --require row applies).",
    ),
]
RevisionOpt = Annotated[
    str | None,
    typer.Option("--revision", metavar="REV", help="With --repo: a branch, tag or commit (default: main)."),
]
IncludeOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--include",
        metavar="GLOB",
        help="With --repo: only files matching this glob, as hf download --include (repeatable), e.g. 'UD-Q2_K_XL/*'.",
    ),
]
ModelOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--model",
        metavar="ID",
        help="Plan this model's rows (packaged or imported, see models) instead of the default pair; repeatable.",
    ),
]


def hub_spinner(enabled: bool) -> Callable[[str], AbstractContextManager[object]] | None:
    """A ``hub_status`` for ``service.run_check``: a spinner on stderr, or None when disabled."""
    if not enabled:
        return None

    def status(message: str) -> AbstractContextManager[object]:
        from vram_advisor.cli.common import console

        err = console(stderr=True)
        if not err.is_interactive:
            return nullcontext()
        return err.status(f"{message}…", spinner="dots")

    return status
