"""User profiles: ``*.json`` in the user's profile folders, merged by model id over the packaged profiles.

The folders are ``profiles.user_dirs()``: ``$VRAM_ADVISOR_PROFILES`` (``os.pathsep``-separated) or
``$XDG_CONFIG_HOME/vram-advisor/profiles`` (``~/.config/vram-advisor/profiles``). ``models import`` writes into the
first one. Each file is validated exactly like a packaged one (``profiles.read_file``); a user model replaces a
packaged model of the same id, other models are added after the packaged ones. A user file's ``quick_summary``,
``advice`` and ``api`` are ignored: the tiers stay the article's (contract rule 7).

A user file that cannot be read or breaks the schema is skipped with one warning on stderr naming the file (once per
process for each version of the file); the packaged profiles' errors stay fatal (exit 2). The merged catalogue is
cached against the folders' listing and the files' modification times, so a long-running ``serve`` sees new imports
without a restart and a ``check`` pays only a ``stat`` when no user profile exists.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from typing import Any

from vram_advisor.catalog.engines import check_downloads
from vram_advisor.catalog.profiles import (
    MAX_PROFILE_BYTES,
    PROFILE_LIMITS,
    Catalog,
    _Parts,
    packaged_catalog,
    packaged_dir,
    read_file,
)
from vram_advisor.catalog.userdirs import user_dirs
from vram_advisor.core.errors import ProfileError, UsageError
from vram_advisor.core.jsonread import clean_text

Signature = tuple[tuple[str, int, int], ...]

_lock = threading.Lock()
_said: set[str] = set()
_merged: dict[tuple[int, Signature], tuple[Catalog, Catalog]] = {}
_warned: set[tuple[str, int, int]] = set()


def user_profile_dir() -> Path:
    """Where ``models import`` writes: the first user profile folder; a UsageError (exit 2) where there is no safe
    one (an empty, relative or ``/`` HOME: ``userdirs.config_home``)."""
    return user_dirs()[0]


def _readable_dirs(warn: Callable[[str], None]) -> tuple[Path, ...]:
    """The user profile folders to read; none, with one warning per process, where there is no safe config folder
    (a command that only reads profiles goes on with the packaged ones)."""
    try:
        return user_dirs()
    except UsageError as exc:
        with _lock:
            first = exc.message not in _said
            _said.add(exc.message)
        if first:
            warn(f"warning: user profiles are not read: {exc.message}")
        return ()


def user_files(dirs: Sequence[Path] | None = None, warn: Callable[[str], None] | None = None) -> list[Path]:
    """The user profile files, folder by folder, each folder's files sorted by name."""
    out: list[Path] = []
    for directory in _readable_dirs(warn or _default_warn) if dirs is None else dirs:
        try:
            out.extend(sorted(p for p in directory.glob("*.json") if p.is_file()))
        except OSError:
            continue
    return out


def _signature(files: Sequence[Path]) -> Signature:
    out = []
    for path in files:
        try:
            stat = path.stat()
        except OSError:
            continue
        out.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(out)


def _default_warn(message: str) -> None:
    from vram_advisor.core.stderr import warn

    warn(message)


def merge_user_profiles(
    packaged: Catalog,
    dirs: Sequence[Path] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Catalog:
    """``packaged`` with the user profiles merged in by model id (see the module docstring)."""
    signature = _signature(user_files(dirs, warn))
    if not signature:
        return packaged
    key = (id(packaged), signature)
    with _lock:
        cached = _merged.get(key)
    if cached is not None and cached[0] is packaged:
        return cached[1]
    merged = _merge(packaged, signature, warn or _default_warn)
    with _lock:
        _merged.clear()  # only the latest state is worth keeping
        _merged[key] = (packaged, merged)
    return merged


def _merge(packaged: Catalog, signature: Signature, warn: Callable[[str], None]) -> Catalog:
    models = {model.id: model for model in packaged.models}
    local_models = list(packaged.local_models)
    sources = dict(packaged.sources)
    files = list(packaged.files)
    broken: dict[str, str] = {}
    for path_text, mtime, size in signature:
        parts = _Parts()
        try:
            read_file(Path(path_text), parts)
            published = (item for model in parts.models.values() for row in model.quants for item in row.published_all)
            check_downloads(published, packaged.engines)
        except Exception as exc:  # a user file never breaks models or a check that does not plan its models
            if not isinstance(exc, ProfileError):
                exc = ProfileError(f"cannot be read ({type(exc).__name__})")
            message = f"user profile {clean_text(path_text)}: {_without_origin(str(exc))}"
            meant = _model_ids(Path(path_text))
            for model_id in meant:  # said by ``report_broken``: an error where a command plans the model
                broken.setdefault(model_id, message)
            stamp = (path_text, mtime, size)
            with _lock:
                first = stamp not in _warned
                _warned.add(stamp)
            if first and not meant:
                warn(f"warning: ignoring {message}")
            continue
        models.update(parts.models)
        known = {m.name for m in local_models}
        local_models.extend(m for m in parts.local_models if m.name not in known)
        sources.update(parts.sources)
        files.extend(parts.files)
    return replace(
        packaged,
        models=tuple(models.values()),
        local_models=tuple(sorted(local_models, key=lambda m: -m.size_gb)),
        sources=sources,
        files=tuple(files),
        broken=broken,
    )


def report_broken(catalog: Catalog, planned: Sequence[str] = (), warn: Callable[[str], None] | None = None) -> None:
    """The user profiles that meant to define a model and were ignored: a UsageError (one line, exit 2) where the
    command plans one of those models (``planned``), else one warning for each (once per process)."""
    for model_id in planned:
        message = catalog.broken.get(model_id.strip().lower())
        if message is not None:
            raise UsageError(message)
    for message in dict.fromkeys(catalog.broken.values()):
        with _lock:
            first = message not in _said
            _said.add(message)
        if first:
            (warn or _default_warn)(f"warning: ignoring {message}")


def _model_ids(path: Path) -> list[str]:
    """The model ids a broken profile meant to define, where its JSON is readable enough to say (else none): a
    check that plans one of them stops with the profile's error instead of planning the packaged model."""
    from vram_advisor.core import boundedjson

    try:
        data = boundedjson.load(path.read_bytes()[: MAX_PROFILE_BYTES + 1], "profile", ProfileError, PROFILE_LIMITS)
    except (OSError, ProfileError):
        return []
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, list):
        return []
    ids = [model.get("id") for model in models if isinstance(model, dict)]
    return [model_id.strip().lower() for model_id in ids if isinstance(model_id, str) and len(model_id) <= 200]


def _without_origin(message: str) -> str:
    """ProfileError messages start with ``folder/file.json: ``; the warning already names the full path."""
    head, sep, rest = message.partition(": ")
    return rest if sep and head.endswith(".json") else message


# ---------------------------------------------------------------------------------------------- writing


def packaged_raw_models(directory: Path | None = None) -> dict[str, tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """The packaged family profiles as raw JSON: model id -> (model object, its file's sources)."""
    out: dict[str, tuple[Mapping[str, Any], Mapping[str, Any]]] = {}
    for path in sorted((directory or packaged_dir()).glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or not isinstance(data.get("models"), list):
            continue
        raw_sources = data.get("sources")
        sources: Mapping[str, Any] = raw_sources if isinstance(raw_sources, dict) else {}
        for model in data["models"]:
            if isinstance(model, dict) and isinstance(model.get("id"), str):
                out[model["id"]] = (model, sources)
    return out


#: What a profile file held when an import began: its bytes, or None where there was no file.
ProfileState = bytes | None
#: The lock ``models import`` holds while it compares and replaces a profile (one per profile folder).
LOCK_FILE = ".vram-advisor-import.lock"


def profile_state(model_id: str, directory: Path | None = None) -> ProfileState:
    """The bytes of ``<dir>/<model_id>.json`` now (None where there is none): read when an import begins, and
    compared with the file just before it is replaced (``write_user_profile(seen=...)``)."""
    try:
        return ((directory or user_profile_dir()) / f"{model_id}.json").read_bytes()[: MAX_PROFILE_BYTES + 1]
    except FileNotFoundError:
        return None
    except OSError:
        return b""  # unreadable now: any file found at write time counts as changed


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive ``fcntl.flock`` on the folder's lock file: imports into one folder compare and replace one at a
    time. Where ``fcntl`` is missing (Windows, not a target) or the lock cannot be taken, the write goes on
    unlocked: the atomic rename still leaves a whole file."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        yield
        return
    try:
        handle = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield
        return
    try:
        with suppress(OSError):  # a file system without locks (some NFS mounts): unlocked, still atomic
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # closing releases the lock


def write_user_profile(
    profile: Mapping[str, Any],
    model_id: str,
    packaged: Catalog,
    *,
    directory: Path | None = None,
    force: bool = False,
    seen: ProfileState | bool = False,
    warn: Callable[[str], None] | None = None,
) -> tuple[Path, bool]:
    """Validate ``profile`` and write it as ``<dir>/<model_id>.json``; returns (path, whether it replaced a file).

    A model id of a packaged profile is refused unless ``force`` (a user profile of that id would replace the
    article's figures). The file is validated before it takes its place, so a bad profile is never left behind. It
    is written to a temporary file in the same folder and renamed over the old one (``os.replace``: a reader sees
    the old file or the new one, never half of one), under a lock on the folder. ``seen`` is what the file held when
    the import began (``profile_state``): where the file changed since (another import of the same id, an edit), a
    warning says so before it is replaced; ``False`` skips the comparison.
    """
    if not force and any(model.id == model_id for model in packaged.models):
        raise UsageError(
            f"--id {model_id!r} is a packaged profile; a user profile of that id would replace the article's "
            "figures: choose another --id (or add --force)"
        )
    target_dir = directory or user_profile_dir()
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the user profile folder {target_dir}: {exc.strerror or exc}") from None
    target = target_dir / f"{model_id}.json"
    # ASCII escapes: a lone surrogate that got this far cannot make the write fail half-way
    text = json.dumps(profile, indent=2, ensure_ascii=True) + "\n"
    import tempfile  # only when writing a profile: keeps it off check's start-up

    try:
        handle, temp_name = tempfile.mkstemp(prefix=f".{model_id}.", suffix=".tmp", dir=target_dir)
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
    temp = Path(temp_name)
    try:  # the temporary file goes on every path: written and moved into place, or removed
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
        except OSError as exc:  # a full disk, a quota
            raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
        read_file(temp, _Parts())  # the same validation every profile gets
        with _locked(target_dir):
            now = profile_state(model_id, target_dir)
            replaced = now is not None
            if seen is not False and now != seen:
                (warn or _default_warn)(
                    f"warning: {clean_text(str(target))} changed since this import began (another import of "
                    f"{model_id!r}, or an edit): replacing it"
                )
            os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    return target, replaced


class _DefaultCatalog:
    """``default_catalog()``: the packaged profiles with the user's merged in by model id;
    ``default_catalog.cache_clear()`` forgets the packaged ones, as ``functools.cache`` would."""

    def __call__(self) -> Catalog:
        return merge_user_profiles(packaged_catalog())

    def cache_clear(self) -> None:
        packaged_catalog.cache_clear()


default_catalog = _DefaultCatalog()
