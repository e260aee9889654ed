"""Optional dependencies (pip extras): import one at the moment a command needs it, or fail with one clear line."""

from __future__ import annotations

import importlib
from types import ModuleType

from vram_advisor.core.errors import VramAdvisorError


class MissingExtraError(VramAdvisorError):
    """A command needs an optional package that is not installed (exit 2, with the pip line that fixes it)."""


def import_extra(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module`` or raise ``MissingExtraError`` naming ``feature`` and ``pip install "vram-advisor[extra]"``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{feature} needs the optional package {module!r}, which is not installed ({exc.__class__.__name__}); "
            f'install it with: pip install "vram-advisor[{extra}]"'
        ) from None
