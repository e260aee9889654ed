"""``models import``'s question to the Hub: ``config.json`` and ``model.safetensors.index.json`` of a repo
(downloaded into the Hugging Face cache, as ``hf download`` would), through the same bounded conversation as the
file listing (``hub.client``)."""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vram_advisor.core import boundedjson
from vram_advisor.core.errors import HubError
from vram_advisor.core.jsonread import MAX_BYTES
from vram_advisor.hub import transport
from vram_advisor.hub.cache import cached_snapshot
from vram_advisor.hub.client import _bounded, _library_settings
from vram_advisor.hub.settings import (
    CONFIG_FILE,
    INDEX_FILE,
    HubSettings,
    ModelFiles,
    check_repo_id,
    storage_folder,
)


def fetch_model_files(repo_id: str, revision: str | None = None, settings: HubSettings | None = None) -> ModelFiles:
    """``config.json`` and the weights' size of ``repo_id`` (from the Hub, or only the cache when offline)."""
    repo_id = check_repo_id(repo_id)
    settings = settings or HubSettings.from_environ()
    if settings.offline:
        with _library_settings(settings):
            return _model_files_from_cache(repo_id, revision, settings)
    return _bounded(settings, repo_id, lambda: _model_files_from_hub(repo_id, revision, settings))


def _read_json(path: str, repo_id: str, name: str) -> Any:
    try:
        with Path(path).open("rb") as handle:
            raw = handle.read(transport.MAX_ANSWER_BYTES + 1)
    except OSError as exc:
        raise HubError(f"{repo_id}: {name} cannot be read ({type(exc).__name__}: {exc.strerror or 'error'})") from None
    return boundedjson.load(raw, f"{repo_id}: {name}", HubError, transport.HUB_LIMITS)


#: A write into the cache that failed for want of room or rights: one line naming the cache, not an exit 3.
_WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}


def _scratch_files(storage: Path) -> set[Path]:
    """The files a download writes before renaming them into place: ``refs/<rev>.<8 hex>.tmp``,
    ``blobs/<etag>.<8 hex>.incomplete``, the ``tmp_<uuid>`` permission probe (huggingface_hub 2.4
    ``file_download._cache_commit_hash_for_specific_revision``, ``_download_to_tmp_and_move``, ``_chmod_and_move``)."""
    found: set[Path] = set()
    for pattern in ("*.tmp", "*.incomplete", "tmp_*"):
        try:
            found.update(path for path in storage.rglob(pattern) if path.is_file())
        except OSError:
            continue
    return found


def _download_json(repo_id: str, name: str, commit: str | None, settings: HubSettings, local_only: bool) -> Any:
    """``name`` of the repo, downloaded into the cache and read; a download that fails leaves none of its scratch
    files behind, and a cache that cannot be written (a full disk, a quota, a read-only folder) is one line naming
    it."""
    from huggingface_hub import errors as hf
    from huggingface_hub import hf_hub_download

    storage = storage_folder(settings.cache_dir, repo_id)
    before = _scratch_files(storage)
    try:
        path = hf_hub_download(
            repo_id,
            name,
            revision=commit,
            cache_dir=settings.cache_dir,
            endpoint=settings.url,
            etag_timeout=settings.timeout_s,
            local_files_only=local_only,
        )
    except BaseException as exc:
        for left in _scratch_files(storage) - before:
            left.unlink(missing_ok=True)
        library = isinstance(exc, hf.HfHubHTTPError | hf.LocalEntryNotFoundError)
        if isinstance(exc, OSError) and not library and exc.errno in _WRITE_ERRORS:
            raise HubError(
                f"{repo_id}: cannot write {name} into the Hugging Face cache {settings.cache_dir}: "
                f"{exc.strerror or os.strerror(exc.errno)} (free some room there, or set HF_HUB_CACHE to another folder)"
            ) from None
        raise
    return _read_json(path, repo_id, name)


def _index_total(index: Any, repo_id: str) -> int:
    total = index.get("metadata", {}).get("total_size") if isinstance(index, dict) else None
    if isinstance(total, bool) or not isinstance(total, int | float) or not 0 < total <= MAX_BYTES:
        raise HubError(f"{repo_id}: {INDEX_FILE} has no positive metadata.total_size")
    return int(total)


def _model_files(
    repo_id: str,
    revision: str | None,
    commit: str | None,
    settings: HubSettings,
    sizes: Mapping[str, int | None],
    source: str,
    local_only: bool,
) -> ModelFiles:
    from huggingface_hub import errors as hf

    if CONFIG_FILE not in sizes and not local_only:
        raise HubError(
            f"{repo_id}: has no {CONFIG_FILE}, so it is not a transformers checkpoint (for GGUF repos use check --repo)"
        )
    try:
        # the asked revision, not the commit: huggingface_hub then records refs/<revision> in the cache, so that an
        # offline import finds it again
        config = _download_json(repo_id, CONFIG_FILE, revision if not local_only else commit, settings, local_only)
    except hf.RemoteEntryNotFoundError:
        raise HubError(f"{repo_id}: has no {CONFIG_FILE}, so it is not a transformers checkpoint") from None
    if not isinstance(config, dict):
        raise HubError(f"{repo_id}: {CONFIG_FILE} is not a JSON object")
    index_total = None
    if INDEX_FILE in sizes or local_only:
        try:
            index = _download_json(repo_id, INDEX_FILE, revision if not local_only else commit, settings, local_only)
            index_total = _index_total(index, repo_id)
        except (hf.RemoteEntryNotFoundError, hf.LocalEntryNotFoundError):
            index_total = None
    shards = [size for path, size in sizes.items() if path.endswith(".safetensors")]
    known = [size for size in shards if size is not None]
    return ModelFiles(
        repo_id=repo_id,
        revision=revision or "main",
        commit=commit,
        endpoint=settings.endpoint,
        config=config,
        index_total_size=index_total,
        safetensors_bytes=sum(known) if known and len(known) == len(shards) else None,
        safetensors_files=len(shards),
        source=source,
    )


def _model_files_from_hub(repo_id: str, revision: str | None, settings: HubSettings) -> ModelFiles:
    from huggingface_hub import HfApi

    info = HfApi(endpoint=settings.url).model_info(
        repo_id, revision=revision, files_metadata=True, timeout=settings.timeout_s
    )
    sizes = {sibling.rfilename: transport.size_of(sibling.size) for sibling in info.siblings or []}
    return _model_files(repo_id, revision, transport.commit_of(info.sha), settings, sizes, "hub", local_only=False)


def _model_files_from_cache(repo_id: str, revision: str | None, settings: HubSettings) -> ModelFiles:
    from huggingface_hub import errors as hf

    commit, entries, _complete = cached_snapshot(repo_id, revision, settings)
    sizes: dict[str, int | None] = {path: size for path, (size, _blob) in entries.items()}
    try:
        return _model_files(repo_id, revision, commit, settings, sizes, "cache", local_only=True)
    except hf.LocalEntryNotFoundError:
        raise HubError(
            f"{repo_id}: HF_HUB_OFFLINE=1 and {CONFIG_FILE} is not in the local cache ({settings.cache_dir}): "
            "unset HF_HUB_OFFLINE to ask the Hub"
        ) from None
