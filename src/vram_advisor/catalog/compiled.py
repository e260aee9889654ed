"""The packaged catalogue, validated once per install and kept in the user's cache folder.

Validating the packaged profiles (``profiles/*.json``: every field read, checked and made a record) is the largest
single cost of a ``check`` after the imports (~7 ms of ~130). The result depends only on those files and on the code
that reads them, so it is kept as a pickle in ``<cache folder>/vram-advisor/`` (``userdirs.cache_home``), named by a
checksum over this package's version, the Python version and the name, size and modification time of every profile file
and of every module of the catalogue and of ``core``. Any change to them gives another key; the file for the old key
is removed when the new one is written.

Reading is careful, since a cache is a file on disk like any other:

* it is read only if it is a regular file owned by this user, not writable by group or others, and at most
  ``MAX_BYTES``;
* unpickling may name only record classes of ``vram_advisor.catalog`` modules (the ``find_class`` restriction the
  pickle documentation describes: https://docs.python.org/3/library/pickle.html#restricting-globals), so a crafted
  file can build nothing but catalogue records; anything else, or any error, and the profiles are validated as
  before.

Writing is best effort and silent: a read-only or missing HOME, a full disk or a foreign folder only means no cache.
``VRAM_ADVISOR_NO_CACHE=1`` turns it off.
"""

from __future__ import annotations

import dataclasses
import io
import os
import stat
import sys
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

try:  # the C unpickler alone: importing the pickle module costs ~1 ms of every start, and only writing needs it
    from _pickle import Unpickler as _Unpickler
    from _pickle import UnpicklingError
except ImportError:  # pragma: no cover - a Python without the C accelerator
    from pickle import Unpickler as _Unpickler
    from pickle import UnpicklingError

T = TypeVar("T")

#: The environment variable that turns the cache off (any non-empty value).
NO_CACHE_ENV = "VRAM_ADVISOR_NO_CACHE"
#: The largest cache file read (the catalogue pickles to ~80 KB).
MAX_BYTES = 8 * 1024 * 1024
_PREFIX = "catalog-"
_SUFFIX = ".pickle"
_CODE_DIRS = ("catalog", "core")


class _CatalogUnpickler(_Unpickler):
    """An unpickler that builds only record classes of the catalogue: the dataclasses and named tuples of
    ``vram_advisor.catalog`` modules."""

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("vram_advisor.catalog.") and module in sys.modules:
            found = getattr(sys.modules[module], name, None)
            if isinstance(found, type) and found.__module__ == module and _is_record(found):
                return found
        raise UnpicklingError(f"{module}.{name} is not a catalogue record")


def _is_record(cls: type) -> bool:
    return dataclasses.is_dataclass(cls) or (issubclass(cls, tuple) and hasattr(cls, "_fields"))


def key(profile_dir: Path, package_dir: Path, version: str) -> str:
    """The cache key: this version and Python, and the name, size and modification time of every profile file and of
    every module the catalogue's records and readers come from."""
    parts = [version, sys.version]
    files = sorted(profile_dir.glob("*.json"))
    for folder in _CODE_DIRS:
        files += sorted((package_dir / folder).glob("*.py"))
    for path in files:
        info = path.stat()
        parts += [str(path), str(info.st_size), str(info.st_mtime_ns)]
    # two checksums (64 bits) rather than hashlib, whose import alone costs more than the rest of a cache hit
    text = "\0".join(parts).encode()
    return f"{zlib.crc32(text):08x}{zlib.adler32(text):08x}"


def _folder(environ: Mapping[str, str]) -> Path | None:
    from vram_advisor.catalog.userdirs import cache_home

    home = cache_home(environ)
    return None if home is None else home / "vram-advisor"


def _trusted(info: os.stat_result) -> bool:
    """A regular file of this user's that nobody else may write (POSIX; elsewhere only regular and bounded)."""
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_BYTES:
        return False
    return _own(info)


def _own(info: os.stat_result) -> bool:
    """Owned by this user and not writable by group or others (always true where there are no user ids)."""
    if not hasattr(os, "getuid"):
        return True
    return info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def read(path: Path, kind: type[T]) -> T | None:
    """The ``kind`` pickled at ``path``, or None (missing, untrusted, not a catalogue, any error)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError:
        return None
    try:
        with os.fdopen(descriptor, "rb") as handle:
            if not _trusted(os.fstat(handle.fileno())):
                return None
            data = handle.read(MAX_BYTES + 1)
        found = _CatalogUnpickler(io.BytesIO(data)).load()
    except Exception:  # a cache is never worth an error: validate the profiles instead
        return None
    return found if isinstance(found, kind) else None


def write(folder: Path, name: str, value: object) -> None:
    """Pickle ``value`` to ``folder/name`` atomically (a private temporary file, then a rename), removing older
    catalogue files; silent on any failure."""
    import pickle  # writing is rare: once per install

    try:
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _own(folder.stat()):
            return  # a folder someone else may write into is no place for a file that is read back
        import tempfile  # writing is rare: once per install

        descriptor, temporary = tempfile.mkstemp(prefix=".catalog-", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
            os.replace(temporary, folder / name)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        install = name[: len(_PREFIX) + 9]  # "catalog-XXXXXXXX-": this install's older files only
        for old in folder.glob(f"{install}*{_SUFFIX}"):
            if old.name != name:
                old.unlink(missing_ok=True)
    except Exception:  # best effort: no cache
        return


def cached(
    build: Callable[[], T],
    kind: type[T],
    profile_dir: Path,
    version: str,
    environ: Mapping[str, str] | None = None,
) -> T:
    """``build()``'s catalogue, from the cache when it holds the one for these files and this code, else built and
    written there."""
    env = os.environ if environ is None else environ
    if env.get(NO_CACHE_ENV):
        return build()
    try:
        folder = _folder(env)
        package = Path(__file__).resolve().parents[1]
        # one file per install (its folder), so that two installs sharing a HOME do not replace each other's
        install = f"{zlib.crc32(str(package).encode()):08x}"
        name = f"{_PREFIX}{install}-{key(profile_dir, package, version)}{_SUFFIX}"
    except OSError:
        return build()
    if folder is None:
        return build()
    found = read(folder / name, kind)
    if found is not None:
        return found
    built = build()
    write(folder, name, built)
    return built
