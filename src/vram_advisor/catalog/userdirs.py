"""Where user profiles live: ``$VRAM_ADVISOR_PROFILES``, else the user's config folder, resolved without ever
falling back to ``/`` (an empty or ``/`` HOME is refused with one line, never turned into ``/.config``).

The config folder is the platform's (platformdirs, https://platformdirs.readthedocs.io/): ``~/Library/Application
Support`` on macOS, ``%LOCALAPPDATA%`` on Windows, and on Linux and other Unix systems ``$XDG_CONFIG_HOME`` or
``~/.config``, which is what platformdirs answers there too; that one is computed here, without importing
platformdirs (start-up), with the XDG specification's rule that a relative ``XDG_CONFIG_HOME`` is ignored. The cache
folder (``cache_home``: ``$XDG_CACHE_HOME`` or ``~/.cache``, the platform's on macOS and Windows) holds one thing, the
validated packaged catalogue (``catalog.compiled``); the weights go to the Hugging Face cache (probe/paths.py)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from vram_advisor.core.errors import UsageError


def user_dirs() -> tuple[Path, ...]:
    """User profile folders: ``$VRAM_ADVISOR_PROFILES`` (os.pathsep-separated) or the user config dir
    (``config_home()``, which raises a UsageError where no safe one exists)."""
    configured = os.environ.get("VRAM_ADVISOR_PROFILES")
    if configured:
        return tuple(Path(part) for part in configured.split(os.pathsep) if part)
    return (config_home() / "vram-advisor" / "profiles",)


def config_home(environ: Mapping[str, str] | None = None) -> Path:
    """The user's config folder: ``$XDG_CONFIG_HOME`` where it is an absolute path (the XDG Base Directory
    specification, https://specifications.freedesktop.org/basedir-spec/latest/, ignores a relative one), else the
    platform's (``native_config_dir``: macOS, Windows) or ``$HOME/.config``; a UsageError where HOME is empty,
    relative or ``/`` (on Windows, where HOME is not the user's folder, platformdirs alone decides).

    ``Path.home()`` is not used: with ``HOME=''`` it answers ``/`` (``posixpath.expanduser``), so a root shell with
    an empty HOME wrote into ``/.config``. An empty HOME is refused rather than replaced by the passwd entry (a
    HOME that is set but empty is a broken environment, not a request to guess); an unset HOME gets the passwd
    entry's home, as a login shell would, under the same checks."""
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_CONFIG_HOME") or ""
    if os.path.isabs(xdg) and xdg.strip("/"):
        return Path(xdg)
    if sys.platform == "win32":
        return native_config_dir(sys.platform) or Path(env.get("APPDATA") or ".")
    home = safe_home(env, "user config folder", "XDG_CONFIG_HOME or VRAM_ADVISOR_PROFILES")
    return native_config_dir(sys.platform) or home / ".config"


def native_config_dir(platform: str) -> Path | None:
    """platformdirs' user config folder on macOS and Windows (``platform`` as ``sys.platform`` names it), where it
    is not XDG's; None elsewhere. platformdirs is imported only there: it costs start-up time."""
    if platform == "darwin":
        from platformdirs.macos import MacOS

        return Path(MacOS().user_config_dir)
    if platform == "win32":
        from platformdirs.windows import Windows

        return Path(Windows().user_config_dir)
    return None


def cache_home(environ: Mapping[str, str] | None = None) -> Path | None:
    """The user's cache folder: ``$XDG_CACHE_HOME`` where it is an absolute path (the XDG Base Directory
    specification), else the platform's (macOS, Windows: platformdirs) or ``$HOME/.cache``; None where HOME is not a
    safe folder (empty, relative or ``/``): a cache is never worth a warning, it is simply not kept."""
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_CACHE_HOME") or ""
    if os.path.isabs(xdg) and xdg.strip("/"):
        return Path(xdg)
    if sys.platform in ("darwin", "win32"):
        if sys.platform == "darwin":
            from platformdirs.macos import MacOS

            return Path(MacOS().user_cache_dir)
        from platformdirs.windows import Windows

        return Path(Windows().user_cache_dir)
    try:
        return safe_home(env, "cache folder", "XDG_CACHE_HOME") / ".cache"
    except UsageError:
        return None


def safe_home(environ: Mapping[str, str], what: str, instead: str) -> Path:
    """HOME as a folder to write under (see ``config_home``): a UsageError naming ``what`` would land in ``/``, and
    the variables that set it ``instead``, where HOME is empty, relative or ``/``."""
    if "HOME" in environ:
        home, where = environ["HOME"], "HOME"
    else:
        home, where = _passwd_home(), "the passwd entry's home (HOME is not set)"
    if not home or not os.path.isabs(home) or not home.strip("/"):
        from vram_advisor.core.jsonread import clean_text

        shown = f"'{clean_text(home[:60])}'" if home else "empty"
        raise UsageError(
            f"no safe {what}: {where} is {shown} (not an absolute folder other than /); set HOME, or {instead}"
        )
    return Path(home)


def hf_cache_needs_home(environ: Mapping[str, str]) -> bool:
    """Whether the Hugging Face cache is found under HOME (``~/.cache/huggingface/hub``): none of the variables
    that place it elsewhere is set (huggingface_hub ``constants``: HF_HUB_CACHE, HF_HOME, XDG_CACHE_HOME)."""
    return not any(environ.get(key) for key in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"))


def _passwd_home() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_dir
    except (ImportError, KeyError, OSError, AttributeError):  # no pwd module (Windows), no entry for this uid
        return ""
