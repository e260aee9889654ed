"""Optional dependencies (pip extras): import one at the moment a command needs it, or fail with one clear line."""

from __future__ import annotations

import importlib
from types import ModuleType

from vram_advisor.core.errors import VramAdvisorError


class MissingExtraError(VramAdvisorError):
    """A command needs an optional package that is not installed (exit 2, with the pip line that fixes it)."""


#: What each extra installs, as a line pip can run anywhere: vram-advisor itself is on no package index (it is
#: installed from its checkout or a wheelhouse, docs/install.md), but what its extras need is. Requirements are
#: separated by spaces.
EXTRA_REQUIREMENTS = {
    "mcp": "mcp>=2",
    "ray": "ray>=2.40",
    "serve": "uvicorn>=0.55,<0.56 starlette>=1.10,<2 h11>=0.16,<1",
}


def install_line(extra: str) -> str:
    """The pip line that adds an extra's packages to the environment vram-advisor runs in."""
    quoted = " ".join(f'"{requirement}"' for requirement in EXTRA_REQUIREMENTS[extra].split())
    return f'pip install {quoted} (or pip install ".[{extra}]" from the checkout)'


def import_extra(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module`` or raise ``MissingExtraError`` naming ``feature`` and the pip line that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{feature} needs the optional package {module!r}, which is not installed ({exc.__class__.__name__}); "
            f"install it with: {install_line(extra)}"
        ) from None
