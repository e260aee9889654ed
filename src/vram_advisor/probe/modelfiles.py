"""Model files already on this machine (contract rule 11): a download whose files are all there needs no free space.

Given the files a plan may download (repository and path), this looks in exactly two kinds of place: the folder a
run block downloads into (``<folder>/<repository name>/<path>``, as ``hf download --local-dir`` leaves them), and
the Hugging Face cache (``models--<org>--<name>/snapshots/<revision>/<path>``, where a file appears only once it is
complete). It never walks a disk: a stat per file and place, a few hundred at most. Failures mean "not found".
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from vram_advisor.inventory.model import LocalFile

#: At most this many (repository, path) pairs are looked up (the packaged profiles list about a hundred).
MAX_FILES = 1000


def _size(path: Path) -> int | None:
    try:
        stat = path.stat()  # follows the cache's symlink to its blob
    except OSError:
        return None
    return stat.st_size if path.is_file() else None


def _snapshots(hf_cache: str, repo: str) -> list[Path]:
    folder = Path(hf_cache) / f"models--{repo.replace('/', '--')}" / "snapshots"
    try:
        return sorted(entry for entry in folder.iterdir() if entry.is_dir())
    except OSError:
        return []


def find_local_files(
    wanted: Iterable[tuple[str, str]], folders: Sequence[str], hf_cache: str | None
) -> tuple[LocalFile, ...]:
    """The ``wanted`` files found under ``folders`` (each holding ``<repository name>/<path>``) or in the cache."""
    found: list[LocalFile] = []
    snapshots: dict[str, list[Path]] = {}
    for count, (repo, path) in enumerate(dict.fromkeys(wanted)):
        if count >= MAX_FILES:
            break
        name = repo.rsplit("/", 1)[-1]
        hit: LocalFile | None = None
        for folder in folders:
            size = _size(Path(os.path.expanduser(folder)) / name / path)
            if size is not None:
                hit = LocalFile(repo=repo, path=path, location=folder, size_bytes=size)
                break
        if hit is None and hf_cache:
            if repo not in snapshots:
                snapshots[repo] = _snapshots(hf_cache, repo)
            for snapshot in snapshots[repo]:
                size = _size(snapshot / path)
                if size is not None:
                    hit = LocalFile(repo=repo, path=path, location=hf_cache, size_bytes=size)
                    break
        if hit is not None:
            found.append(hit)
    return tuple(found)
