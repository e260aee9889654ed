"""The spinner shown while the Hub is asked (``check --repo``, ``models import``); the options that name a Hub repo
are in the check option table (``vram_advisor.options``).

The spinner is rich's status line on stderr, and only where stderr is an interactive terminal; stdout never carries
it, and ``--json``/``--quiet`` turn it off (``hub_spinner(False)``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext


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
