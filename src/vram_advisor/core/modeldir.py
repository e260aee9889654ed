"""``--model-dir``, the folder the weights go to, checked once for every front end. Imports nothing heavy: the CLI
checks the option before any command runs."""

from __future__ import annotations

from vram_advisor.core.errors import UsageError


def model_dir_of(value: str | None) -> str | None:
    """``--model-dir`` as given; an empty one (it would measure one disk and download to the current folder) is a
    UsageError. Every front end (the CLI's option, ``/check``, the MCP tools) checks it here."""
    if value is not None and not value.strip():
        raise UsageError("--model-dir: an empty path; give the folder the weights go to (or leave the option out)")
    return value
