"""Where user profiles are written, and how: never into ``/.config`` (an empty, relative or ``/`` HOME is refused for
``models import`` and skipped with one warning by the commands that only read), and an import of an id that another
import (or an edit) changed meanwhile says so before it replaces the file, atomically and under a lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hubserver import FakeHub, serve_recorded_hub
from vram_advisor.catalog import userdirs, userprofiles
from vram_advisor.catalog.profiles import packaged_catalog
from vram_advisor.core.errors import UsageError
from vram_advisor.hub import importer
from vram_advisor.hub.modelfiles import fetch_model_files

REPO = "deepseek-ai/DeepSeek-V3"


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    yield from serve_recorded_hub(monkeypatch, tmp_path)


# ----------------------------------------------------------------------------------------------- HOME


@pytest.mark.parametrize(
    ("environ", "passwd", "expected"),
    [
        ({"HOME": "/home/u"}, "/home/pw", "/home/u/.config"),
        ({"HOME": "/home/u", "XDG_CONFIG_HOME": "/xdg"}, "/home/pw", "/xdg"),
        ({"HOME": "", "XDG_CONFIG_HOME": "/xdg"}, "/home/pw", "/xdg"),
        ({"HOME": "/home/u", "XDG_CONFIG_HOME": "relative"}, "/home/pw", "/home/u/.config"),  # XDG: relative ignored
        ({}, "/home/pw", "/home/pw/.config"),  # HOME unset: the passwd entry, as a login shell would
        ({"HOME": ""}, "/home/pw", "HOME is empty"),  # set but empty: refused, not guessed (Path.home() says /)
        ({"HOME": "/"}, "/home/pw", "HOME is '/'"),
        ({"HOME": "//"}, "/home/pw", "HOME is '//'"),
        ({"HOME": "relative/home"}, "/home/pw", "HOME is 'relative/home'"),
        ({"HOME": "/", "XDG_CONFIG_HOME": "/"}, "/home/pw", "HOME is '/'"),
        ({}, "/", "the passwd entry's home (HOME is not set) is '/'"),
        ({}, "", "the passwd entry's home (HOME is not set) is empty"),
    ],
)
def test_the_config_home_is_never_the_root(monkeypatch, environ, passwd, expected):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(userdirs, "_passwd_home", lambda: passwd)
    if expected.startswith("/"):
        assert userdirs.config_home(environ) == Path(expected)
        return
    with pytest.raises(UsageError, match="no safe user config folder") as caught:
        userdirs.config_home(environ)
    assert expected in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"HOME": "/Users/u"}, "/Users/u/Library/Application Support"),  # platformdirs' macOS folder
        ({"HOME": "/Users/u", "XDG_CONFIG_HOME": "/xdg"}, "/xdg"),  # an absolute XDG_CONFIG_HOME still wins
        ({"HOME": "/Users/u", "XDG_CONFIG_HOME": "relative"}, "/Users/u/Library/Application Support"),
        ({"HOME": ""}, "HOME is empty"),  # the same checks before platformdirs is asked
        ({"HOME": "/"}, "HOME is '/'"),
    ],
)
def test_on_macos_the_config_home_is_application_support(monkeypatch, environ, expected):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(sys, "platform", "darwin")
    for key in ("HOME", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", environ["HOME"] or "/nowhere")  # platformdirs expands ~ with the process's HOME
    if expected.startswith("/"):
        assert userdirs.config_home(environ) == Path(expected)
        return
    with pytest.raises(UsageError, match="no safe user config folder") as caught:
        userdirs.config_home(environ)
    assert expected in str(caught.value)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the XDG folder is Linux's")
def test_linux_answers_without_importing_platformdirs(tmp_path):
    """On Linux the XDG folder is computed here: platformdirs (tens of ms to import) stays out of ``check``."""
    code = (
        "import sys; from vram_advisor.catalog import userdirs; from pathlib import Path; "
        "assert userdirs.config_home() == Path(sys.argv[1]) / '.config', userdirs.config_home(); "
        "assert 'platformdirs' not in sys.modules; print('ok')"
    )
    environ = {key: value for key, value in os.environ.items() if key != "XDG_CONFIG_HOME"}
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        env={**environ, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "ok\n"), done.stderr


def test_path_home_would_have_answered_the_root_for_an_empty_home():
    """The behaviour this guards against (posixpath.expanduser): HOME='' makes ``~`` the root."""
    done = subprocess.run(
        [sys.executable, "-c", "import pathlib; print(pathlib.Path.home())"],
        env={"HOME": "", "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "/"


@pytest.fixture
def unsafe_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """HOME='' with no XDG_CONFIG_HOME nor VRAM_ADVISOR_PROFILES, run from an empty folder; warnings said afresh."""
    monkeypatch.setenv("HOME", "")
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("VRAM_ADVISOR_PROFILES", raising=False)
    monkeypatch.setattr(userprofiles, "_said", set())
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def test_import_with_an_empty_home_is_refused_before_the_hub_is_asked(cli, fake_hub, unsafe_home):  # type: ignore[no-untyped-def]
    existed = Path("/.config/vram-advisor").exists()
    result = cli(["models", "import", REPO, "--id", "v3"])
    assert result.code == 2 and result.out == ""
    assert result.err.count("\n") == 1 and "no safe user config folder: HOME is empty" in result.err
    assert fake_hub.requests == []
    assert list(unsafe_home.iterdir()) == []
    assert Path("/.config/vram-advisor").exists() == existed


def test_import_with_an_empty_home_does_not_download_into_the_root_cache(
    cli, fake_hub, unsafe_home, tmp_path, monkeypatch
):  # type: ignore[no-untyped-def]
    """With a profile folder given, the HF cache would still be ``$HOME/.cache/huggingface/hub``: ``/.cache``."""
    for key in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(key, raising=False)
    result = cli(["models", "import", REPO, "--id", "v3"], env={"VRAM_ADVISOR_PROFILES": str(tmp_path / "profiles")})
    assert result.code == 2 and result.err.count("\n") == 1
    assert "no safe Hugging Face cache: HOME is empty" in result.err and "HF_HUB_CACHE" in result.err
    assert fake_hub.requests == [] and list(unsafe_home.iterdir()) == []


def test_reading_commands_skip_the_user_folder_with_one_warning(cli, unsafe_home, write_inventory):  # type: ignore[no-untyped-def]
    from conftest import gpu, inventory_dict

    listed = cli(["models", "--json"])
    assert listed.code == 0
    assert [m["id"] for m in json.loads(listed.out)["models"]] == [m.id for m in packaged_catalog().models]
    assert listed.err.count("\n") == 1 and "warning: user profiles are not read: no safe user config" in listed.err
    inventory = write_inventory(inventory_dict([gpu("NVIDIA H100 80GB HBM3", 81559)]))
    checked = cli(["check", "--json", "--inventory", inventory])
    assert checked.code == 0 and checked.err == ""  # said once per process


# ------------------------------------------------------------------------------------- concurrent imports


def _build(model_id: str) -> dict[str, Any]:
    files = fetch_model_files(REPO)
    return importer.build_profile(files, packaged_catalog(), userprofiles.packaged_raw_models(), model_id)


def test_replacing_a_profile_changed_since_the_import_began_warns(fake_hub, tmp_path):  # type: ignore[no-untyped-def]
    folder = tmp_path / "profiles"
    said: list[str] = []
    seen = userprofiles.profile_state("v3", folder)  # this import begins: no file yet
    assert seen is None
    profile = _build("v3")
    other = dict(profile, imported=dict(profile["imported"], at="2000-01-01T00:00:00Z"))
    userprofiles.write_user_profile(other, "v3", packaged_catalog(), directory=folder)  # another import, meanwhile
    path, replaced = userprofiles.write_user_profile(
        profile, "v3", packaged_catalog(), directory=folder, seen=seen, warn=said.append
    )
    assert replaced and json.loads(path.read_text())["imported"] == profile["imported"]
    assert len(said) == 1 and "changed since this import began" in said[0] and str(path) in said[0]
    # unchanged since read: replaced without a word
    said.clear()
    seen = userprofiles.profile_state("v3", folder)
    userprofiles.write_user_profile(other, "v3", packaged_catalog(), directory=folder, seen=seen, warn=said.append)
    assert said == []
    assert sorted(p.name for p in folder.iterdir()) == [userprofiles.LOCK_FILE, "v3.json"]


def test_two_threads_importing_one_id_end_with_one_whole_file_and_one_warning(fake_hub, tmp_path):  # type: ignore[no-untyped-def]
    folder = tmp_path / "profiles"
    both_read = threading.Barrier(2)
    said: list[str] = []
    results: list[tuple[Path, bool]] = []
    errors: list[BaseException] = []

    def one_import(stamp: str) -> None:
        try:
            seen = userprofiles.profile_state("v3", folder)
            both_read.wait(timeout=30)  # both have read the (absent) file before either writes
            profile = _build("v3")
            profile["imported"]["at"] = stamp
            results.append(
                userprofiles.write_user_profile(
                    profile, "v3", packaged_catalog(), directory=folder, seen=seen, warn=said.append
                )
            )
        except BaseException as exc:  # handed to the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=one_import, args=(f"2026-01-0{i}T00:00:00Z",)) for i in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and len(results) == 2
    assert sorted(replaced for _path, replaced in results) == [False, True]  # the lock orders them
    assert len(said) == 1 and "changed since this import began" in said[0]  # the second one says so
    final = json.loads((folder / "v3.json").read_text())
    assert final["imported"]["at"] in ("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z")
    assert [p.name for p in folder.iterdir() if p.suffix == ".tmp"] == []


def test_two_processes_importing_one_id(fake_hub, tmp_path):  # type: ignore[no-untyped-def]
    """Two real ``vram-advisor models import`` processes at once: both succeed, the file is whole, nothing is left
    behind, and stderr holds nothing but (at most) the replacement warning."""
    folder = tmp_path / "profiles"
    env = dict(os.environ, VRAM_ADVISOR_PROFILES=str(folder))
    command = [sys.executable, "-m", "vram_advisor", "models", "import", REPO, "--id", "v3", "--json"]
    runs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outcomes = [(*run.communicate(timeout=120), run.returncode) for run in runs]
    for _out, err, code in outcomes:
        assert code == 0, err
        assert all("changed since this import began" in line for line in err.decode().splitlines()), err
    assert json.loads((folder / "v3.json").read_text())["imported"]["repo"] == REPO
    assert sorted(p.name for p in folder.iterdir()) == [userprofiles.LOCK_FILE, "v3.json"]
