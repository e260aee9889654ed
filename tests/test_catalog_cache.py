"""The validated packaged catalogue kept in the user's cache folder (``catalog.compiled``): written once, read back
only when the files and the code are the same and the file is this user's own, never trusted beyond catalogue
records, and never a reason for an error or a warning."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from vram_advisor import __version__
from vram_advisor.catalog import compiled
from vram_advisor.catalog.profiles import Catalog, load_catalog, packaged_dir


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path), **extra}


def cache_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache" / "vram-advisor").glob("catalog-*.pickle"))


def counting_build() -> tuple[list[int], object]:
    calls: list[int] = []

    def build() -> Catalog:
        calls.append(1)
        return load_catalog()

    return calls, build


def test_built_once_then_read_back_equal(tmp_path: Path) -> None:
    calls, build = counting_build()
    first = compiled.cached(build, Catalog, packaged_dir(), __version__, env_for(tmp_path))  # type: ignore[arg-type]
    assert len(calls) == 1 and len(cache_files(tmp_path)) == 1
    mode = cache_files(tmp_path)[0].stat().st_mode & 0o777
    assert mode == 0o600
    second = compiled.cached(build, Catalog, packaged_dir(), __version__, env_for(tmp_path))  # type: ignore[arg-type]
    assert len(calls) == 1  # read back, not validated again
    assert second is not first and repr(second) == repr(first)
    assert [m.id for m in second.models] == [m.id for m in first.models]


def test_another_version_or_changed_profiles_get_another_file(tmp_path: Path) -> None:
    calls, build = counting_build()
    compiled.cached(build, Catalog, packaged_dir(), __version__, env_for(tmp_path))  # type: ignore[arg-type]
    compiled.cached(build, Catalog, packaged_dir(), "99.0", env_for(tmp_path))  # type: ignore[arg-type]
    assert len(calls) == 2 and len(cache_files(tmp_path)) == 1  # the old key's file is removed
    other = cache_files(tmp_path)[0].with_name("catalog-0000abcd-ffffffffffffffff.pickle")
    other.write_bytes(b"another install's")
    compiled.cached(build, Catalog, packaged_dir(), "98.0", env_for(tmp_path))  # type: ignore[arg-type]
    assert other.exists() and len(cache_files(tmp_path)) == 2  # another install's file is left alone
    copy = tmp_path / "profiles"
    copy.mkdir()
    for path in packaged_dir().glob("*.json"):
        (copy / path.name).write_bytes(path.read_bytes())
    before = compiled.key(copy, Path(compiled.__file__).parents[1], __version__)
    target = copy / "engines.json"
    target.write_bytes(target.read_bytes() + b"\n")
    assert compiled.key(copy, Path(compiled.__file__).parents[1], __version__) != before


def test_a_broken_file_is_validated_again_and_replaced(tmp_path: Path) -> None:
    calls, build = counting_build()
    compiled.cached(build, Catalog, packaged_dir(), __version__, env_for(tmp_path))  # type: ignore[arg-type]
    cache_files(tmp_path)[0].write_bytes(b"not a pickle")
    compiled.cached(build, Catalog, packaged_dir(), __version__, env_for(tmp_path))  # type: ignore[arg-type]
    assert len(calls) == 2
    assert pickle.loads(cache_files(tmp_path)[0].read_bytes()) is not None  # rewritten whole


class Payload:
    """Unpickling this calls ``os.getcwd``: a file naming it must never run it."""

    def __reduce__(self) -> tuple[object, tuple[()]]:
        return (os.getcwd, ())


def test_a_file_naming_anything_but_catalogue_records_builds_nothing(tmp_path: Path) -> None:
    _calls, build = counting_build()
    compiled.cached(build, Catalog, packaged_dir(), __version__, env_for(tmp_path))  # type: ignore[arg-type]
    target = cache_files(tmp_path)[0]
    target.write_bytes(pickle.dumps(Payload()))
    assert compiled.read(target, Catalog) is None
    target.write_bytes(pickle.dumps({"models": ()}))  # a plain dict is no catalogue either
    assert compiled.read(target, Catalog) is None


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX owners and modes")
def test_a_file_others_may_write_is_not_read(tmp_path: Path) -> None:
    _calls, build = counting_build()
    compiled.cached(build, Catalog, packaged_dir(), __version__, env_for(tmp_path))  # type: ignore[arg-type]
    target = cache_files(tmp_path)[0]
    target.chmod(0o666)
    assert compiled.read(target, Catalog) is None
    target.chmod(0o600)
    assert isinstance(compiled.read(target, Catalog), Catalog)
    link = target.with_name("catalog-link.pickle")
    link.symlink_to(target)
    assert compiled.read(link, Catalog) is None  # a link is not followed


def test_turned_off_or_without_a_safe_home_it_only_builds(tmp_path: Path) -> None:
    calls, build = counting_build()
    compiled.cached(build, Catalog, packaged_dir(), __version__, env_for(tmp_path, VRAM_ADVISOR_NO_CACHE="1"))  # type: ignore[arg-type]
    assert not cache_files(tmp_path)
    compiled.cached(build, Catalog, packaged_dir(), __version__, {"HOME": "/"})  # type: ignore[arg-type]
    compiled.cached(build, Catalog, packaged_dir(), __version__, {"HOME": ""})  # type: ignore[arg-type]
    assert len(calls) == 3


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() == 0, reason="root writes anywhere")
def test_an_unwritable_cache_folder_is_silent(tmp_path: Path) -> None:
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache").chmod(0o500)
    _calls, build = counting_build()
    assert isinstance(compiled.cached(build, Catalog, packaged_dir(), __version__, env_for(tmp_path)), Catalog)  # type: ignore[arg-type]


def test_the_program_says_nothing_about_its_cache(tmp_path: Path, write_inventory) -> None:  # type: ignore[no-untyped-def]
    from conftest import gpu, inventory_dict

    path = write_inventory(inventory_dict([gpu("NVIDIA GeForce RTX 4090", 24564)], ram_gib=64))
    outputs = []
    for env in (env_for(tmp_path), env_for(tmp_path), env_for(tmp_path, XDG_CACHE_HOME="/proc/none")):
        done = subprocess.run(
            [sys.executable, "-m", "vram_advisor", "check", "--json", "--inventory", path],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            timeout=120,
            check=False,
        )
        assert done.returncode == 0 and done.stderr == ""
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1] == outputs[2]  # cold, warm, and with no usable folder: the same answer
    assert len(cache_files(tmp_path)) == 1
