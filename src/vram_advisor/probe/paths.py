"""Where weights would be downloaded: the Hugging Face cache directory, computed without importing the hub.

Precedence (huggingface_hub ``constants.py``): HF_HUB_CACHE > HUGGINGFACE_HUB_CACHE > $HF_HOME/hub >
$XDG_CACHE_HOME/huggingface/hub > ~/.cache/huggingface/hub. Importing huggingface_hub costs start-up time that
``check`` does not need, so the same rule is applied here (and tested against the library).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def _expand(path: str, env: Mapping[str, str]) -> Path:
    """``~`` expanded with the given environment's HOME (os.path.expanduser reads the process's own)."""
    if (path == "~" or path.startswith("~/")) and env.get("HOME"):
        return Path(env["HOME"] + path[1:])
    return Path(path).expanduser()


def default_model_dir(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    for key in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if env.get(key):
            return str(_expand(env[key], env))
    if env.get("HF_HOME"):
        return str(_expand(env["HF_HOME"], env) / "hub")
    cache_home = env.get("XDG_CACHE_HOME") or "~/.cache"
    return str(_expand(cache_home, env) / "huggingface" / "hub")
