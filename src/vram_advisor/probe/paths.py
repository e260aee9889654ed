"""Where weights would be downloaded: the Hugging Face cache directory, computed without importing the hub.

Precedence (huggingface_hub ``constants.py``): HF_HUB_CACHE > HUGGINGFACE_HUB_CACHE > $HF_HOME/hub >
$XDG_CACHE_HOME/huggingface/hub > ~/.cache/huggingface/hub. Importing huggingface_hub costs start-up time that
``check`` does not need, so the same rule is applied here (and tested against the library).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def default_model_dir(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    for key in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if env.get(key):
            return str(Path(env[key]).expanduser())
    if env.get("HF_HOME"):
        return str(Path(env["HF_HOME"]).expanduser() / "hub")
    cache_home = env.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return str(Path(cache_home).expanduser() / "huggingface" / "hub")


def nearest_existing(path: str) -> Path:
    """``path`` or its nearest existing parent (the cache may not exist yet)."""
    current = Path(path).expanduser().absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    return current
