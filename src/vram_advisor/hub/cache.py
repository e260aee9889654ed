"""The Hugging Face cache on this disk, read without the network: the commit a revision points at and the files of
that cached snapshot, which answer a listing or ``models import`` offline (``HF_HUB_OFFLINE=1``)."""

from __future__ import annotations

import json
from pathlib import Path

from vram_advisor.core.errors import HubError
from vram_advisor.hub.settings import _COMMIT, HubSettings, storage_folder


def _cached_commit(storage: Path, revision: str | None) -> str | None:
    wanted = revision or "main"
    if _COMMIT.match(wanted):
        return wanted if (storage / "snapshots" / wanted).is_dir() else None
    ref = storage / "refs" / wanted
    try:
        commit = ref.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return commit or None


def _cached_tree(storage: Path, commit: str) -> dict[str, tuple[int, str | None]] | None:
    """The tree listing snapshot_download cached (``trees/<commit>.json``, format 1), when there is one."""
    try:
        data = json.loads((storage / "trees" / f"{commit}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format_version") != 1 or not isinstance(data.get("files"), dict):
        return None
    out: dict[str, tuple[int, str | None]] = {}
    for path, entry in data["files"].items():
        if isinstance(entry, dict) and isinstance(entry.get("size"), int):
            out[path] = (entry["size"], entry.get("lfs_sha256") or entry.get("blob_id"))
    return out


def _snapshot_files(storage: Path, commit: str) -> dict[str, tuple[int, str | None]]:
    root = storage / "snapshots" / commit
    out: dict[str, tuple[int, str | None]] = {}
    if not root.is_dir():
        return out
    for path in root.rglob("*"):
        try:
            if path.is_file():
                out[path.relative_to(root).as_posix()] = (path.stat().st_size, None)
        except OSError:
            continue
    return out


def _offline_miss(repo_id: str, revision: str | None, settings: HubSettings) -> HubError:
    at = f"@{revision}" if revision else ""
    return HubError(
        f"{repo_id}{at}: HF_HUB_OFFLINE=1 and the local Hugging Face cache ({settings.cache_dir}) holds nothing of it: "
        "unset HF_HUB_OFFLINE to ask the Hub"
    )


def cached_snapshot(
    repo_id: str, revision: str | None, settings: HubSettings
) -> tuple[str, dict[str, tuple[int, str | None]], bool]:
    """The commit ``revision`` points at in this machine's cache, its files (size, blob) and whether that is the
    whole tree (a cached tree listing) or only the files present; a HubError where nothing is cached for it."""
    storage = storage_folder(settings.cache_dir, repo_id)
    commit = _cached_commit(storage, revision)
    if commit is None:
        raise _offline_miss(repo_id, revision, settings)
    tree = _cached_tree(storage, commit)
    return commit, tree if tree is not None else _snapshot_files(storage, commit), tree is not None
