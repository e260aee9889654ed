"""hub.py against a real HTTP server on 127.0.0.1 that answers like the Hub (tests/hubserver.py): huggingface_hub's
own client code runs unchanged; only HF_ENDPOINT points elsewhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import huggingface_hub
import huggingface_hub.constants
import pytest

from hubserver import (
    GGUF_Q2_SHARDS,
    GGUF_Q4_SHARDS,
    V3_TOTAL_SIZE,
    V4_FLASH_SHARD_BYTES,
    V4_FLASH_TOTAL_SIZE,
    VALID_TOKEN,
    FakeHub,
    closed_port_url,
    serve_recorded_hub,
)
from vram_advisor.core.errors import HubError, UsageError
from vram_advisor.hub import client as hub
from vram_advisor.hub import modelfiles

GGUF = "unsloth/DeepSeek-V4-Flash-GGUF"


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    yield from serve_recorded_hub(monkeypatch, tmp_path)


def listing(repo: str, *include: str, **kwargs):  # type: ignore[no-untyped-def]
    return hub.list_repo_files(repo, kwargs.pop("revision", None), include, **kwargs)


# ------------------------------------------------------------------------------------------- file lists


def test_sizes_come_from_the_hub_and_no_weight_is_downloaded(fake_hub):
    found = listing(GGUF, "UD-Q2_K_XL/*")
    assert [f.path for f in found.files] == [
        "UD-Q2_K_XL/DeepSeek-V4-Flash-UD-Q2_K_XL-00001-of-00002.gguf",
        "UD-Q2_K_XL/DeepSeek-V4-Flash-UD-Q2_K_XL-00002-of-00002.gguf",
    ]
    assert found.total_bytes == sum(GGUF_Q2_SHARDS)
    assert found.download_bytes == found.total_bytes  # an empty cache holds none of them
    assert found.commit == fake_hub.repos[GGUF].sha
    assert found.source == "hub" and found.complete
    assert fake_hub.weights_fetched() == []
    assert all(path.startswith(f"/api/models/{GGUF}") for path in fake_hub.paths())


def test_include_globs_are_hf_download_globs_and_add_up(fake_hub):
    both = listing(GGUF, "UD-Q2_K_XL/*", "UD-Q4_K_XL/*")
    assert both.total_bytes == sum(GGUF_Q2_SHARDS) + sum(GGUF_Q4_SHARDS)
    everything = listing(GGUF)
    assert len(everything.files) == len(fake_hub.repos[GGUF].files)


def test_an_include_that_matches_nothing_is_one_clear_error(fake_hub):
    with pytest.raises(HubError, match=r"no file matches --include 'Q9/\*' \(the repo has 8 files\)"):
        listing(GGUF, "Q9/*")


def test_revision_is_resolved_to_its_commit(fake_hub):
    repo = fake_hub.repos["deepseek-ai/DeepSeek-V4-Flash-0731"]
    tagged = listing("deepseek-ai/DeepSeek-V4-Flash-0731", revision="v1.0")
    assert tagged.commit == repo.refs["v1.0"] != repo.sha
    assert tagged.revision == "v1.0"
    assert len(tagged.files) == 50
    assert tagged.total_bytes > 46 * V4_FLASH_SHARD_BYTES


def test_unknown_revision(fake_hub):
    with pytest.raises(HubError, match=r"deepseek-ai/DeepSeek-V4-Flash has no revision 'v9' on http://127\.0\.0\.1"):
        listing("deepseek-ai/DeepSeek-V4-Flash", revision="v9")


def test_an_endpoint_without_sizes_in_model_info_falls_back_to_the_tree_listing(fake_hub):
    found = listing("mirror/DeepSeek-V4-Flash-GGUF", "UD-Q2_K_XL/*")
    assert found.total_bytes == sum(GGUF_Q2_SHARDS)
    assert any("/tree/" in path for path in fake_hub.paths("GET"))


# ----------------------------------------------------------------------------------------------- errors


def test_a_missing_repo_says_not_found_and_how_to_log_in(fake_hub):
    with pytest.raises(HubError) as caught:
        listing("nobody/nothing-here")
    assert str(caught.value) == (
        f"nobody/nothing-here was not found on {fake_hub.url} (if it is private, log in with `hf auth login` or set "
        "HF_TOKEN)"
    )


def test_a_private_repo_needs_the_token_huggingface_hub_finds(fake_hub, monkeypatch):
    with pytest.raises(HubError, match="acme/Private-32B was not found"):
        listing("acme/Private-32B")
    monkeypatch.setenv("HF_TOKEN", VALID_TOKEN)
    assert listing("acme/Private-32B", "*.json").total_bytes > 0
    assert fake_hub.requests[-1][2] is True  # the request carried the token


def test_a_gated_repo_without_access_is_refused_before_the_download(fake_hub, monkeypatch):
    with pytest.raises(HubError) as caught:
        listing("acme/Gated-32B")
    assert str(caught.value) == (
        f"acme/Gated-32B is gated: accept its terms at {fake_hub.url}/acme/Gated-32B, then log in with "
        "`hf auth login` or set HF_TOKEN"
    )
    monkeypatch.setenv("HF_TOKEN", "hf_some_token_without_access")
    with pytest.raises(HubError, match="gated and this token has no access yet"):
        listing("acme/Gated-32B")
    monkeypatch.setenv("HF_TOKEN", VALID_TOKEN)
    assert listing("acme/Gated-32B").gated is True


def test_the_token_file_written_by_hf_auth_login_is_used(fake_hub, monkeypatch, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(VALID_TOKEN)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(token_file))
    assert listing("acme/Private-32B", "config.json").files


def test_a_slow_hub_is_an_error_after_the_timeout_not_a_hang(fake_hub, monkeypatch):
    # the fake answers after 30 s: a client that waited for it would get a listing and fail this test
    monkeypatch.setenv("VRAM_ADVISOR_HUB_TIMEOUT", "1")
    with pytest.raises(HubError) as caught:
        listing("acme/Slow-32B")
    assert str(caught.value).startswith(f"acme/Slow-32B: the Hub at {fake_hub.url} did not answer within 1 s")


def test_no_network_is_one_line(fake_hub, monkeypatch):
    url = closed_port_url()
    monkeypatch.setenv("HF_ENDPOINT", url)
    with pytest.raises(HubError, match=rf"cannot reach the Hub at {url} .*set HF_HUB_OFFLINE=1"):
        listing(GGUF)


@pytest.mark.parametrize("bad", ["no-slash", "a/b/c", "org/", "/name", "org/na me", "org/a--b"])
def test_a_malformed_repo_id_is_a_usage_error(fake_hub, bad):
    with pytest.raises(UsageError, match="expected ORG/NAME"):
        listing(bad)
    assert fake_hub.requests == []


def test_offline_with_an_empty_cache_fails_without_touching_the_network(fake_hub, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubError) as caught:
        listing(GGUF, "UD-Q2_K_XL/*")
    assert str(caught.value) == (
        f"{GGUF}: HF_HUB_OFFLINE=1 and the local Hugging Face cache ({tmp_path / 'hf-cache'}) holds nothing of it: "
        "unset HF_HUB_OFFLINE to ask the Hub"
    )
    assert fake_hub.requests == []


# ---------------------------------------------------------------------------------- what is on disk already


def download(repo: str, filename: str, cache: Path, url: str) -> str:
    """A real download into the cache with huggingface_hub itself (small files only)."""
    return huggingface_hub.hf_hub_download(repo, filename, cache_dir=str(cache), endpoint=url)


def test_files_in_the_cache_do_not_count_again(fake_hub, tmp_path):
    cache = tmp_path / "hf-cache"
    download("tiny/Tiny-GGUF", "Q4_K_M/tiny-Q4_K_M-00001-of-00002.gguf", cache, fake_hub.url)
    found = listing("tiny/Tiny-GGUF", "Q4_K_M/*")
    assert [(f.size_bytes, f.local) for f in found.files] == [(4096, True), (2048, False)]
    assert (found.total_bytes, found.local_bytes, found.download_bytes) == (6144, 4096, 2048)
    judged_elsewhere = listing("tiny/Tiny-GGUF", "Q4_K_M/*", consult_local=False)
    assert judged_elsewhere.download_bytes == 6144


def test_a_blob_already_cached_under_another_commit_counts_as_local(fake_hub, tmp_path):
    cache = tmp_path / "hf-cache"
    download("tiny/Tiny-GGUF", "README.md", cache, fake_hub.url)
    snapshots = hub.storage_folder(str(cache), "tiny/Tiny-GGUF") / "snapshots"
    for pointer in snapshots.rglob("README.md"):
        pointer.unlink()  # only the blob is left, as after a commit that did not change the file
    assert listing("tiny/Tiny-GGUF", "README.md").files[0].local is True


def test_a_local_dir_target_counts_files_of_the_same_size(fake_hub, tmp_path):
    target = tmp_path / "models" / "tiny"
    (target / "Q4_K_M").mkdir(parents=True)
    (target / "Q4_K_M" / "tiny-Q4_K_M-00001-of-00002.gguf").write_bytes(b"x" * 4096)
    (target / "Q4_K_M" / "tiny-Q4_K_M-00002-of-00002.gguf").write_bytes(b"x" * 10)  # truncated: fetched again
    found = listing("tiny/Tiny-GGUF", "Q4_K_M/*", target_dir=str(target))
    assert found.target_kind == "local-dir"
    assert [f.local for f in found.files] == [True, False]
    assert "local dir" in found.scratch_note


def test_scratch_is_none_unless_the_xet_chunk_cache_is_on(fake_hub, monkeypatch):
    plain = listing(GGUF, "UD-Q2_K_XL/*")
    assert plain.scratch_bytes == 0
    assert plain.disk_need_bytes == plain.download_bytes
    assert ".incomplete" in plain.scratch_note and "renames it into place" in plain.scratch_note
    monkeypatch.setenv("HF_XET_CHUNK_CACHE_SIZE_BYTES", "10000000000")
    xet = listing(GGUF, "UD-Q2_K_XL/*")
    assert xet.disk_need_bytes == xet.download_bytes + 10_000_000_000
    assert "HF_XET_CHUNK_CACHE_SIZE_BYTES=10000000000" in xet.scratch_note


def test_incomplete_files_of_interrupted_downloads_are_reported(fake_hub, tmp_path):
    blobs = hub.storage_folder(str(tmp_path / "hf-cache"), GGUF) / "blobs"
    blobs.mkdir(parents=True)
    (blobs / "0123abcd.5f3e9a01.incomplete").write_bytes(b"\0" * 1500)
    assert listing(GGUF, "UD-Q2_K_XL/*").stale_incomplete_bytes == 1500


def test_offline_lists_a_cached_snapshot_from_its_tree_listing(fake_hub, monkeypatch, tmp_path):
    cache = tmp_path / "hf-cache"
    huggingface_hub.snapshot_download("tiny/Tiny-GGUF", cache_dir=str(cache), endpoint=fake_hub.url)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    before = len(fake_hub.requests)
    found = listing("tiny/Tiny-GGUF", "Q4_K_M/*")
    assert len(fake_hub.requests) == before
    assert (found.source, found.complete) == ("cache", True)
    assert found.total_bytes == 6144 and found.download_bytes == 0


def test_the_library_offline_switch_follows_the_environment_and_is_restored(fake_hub, monkeypatch):
    # as if huggingface_hub had been imported under HF_HUB_OFFLINE=1, which the environment no longer says
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    assert listing(GGUF, "README.md").source == "hub"
    assert huggingface_hub.constants.HF_HUB_OFFLINE is True


# -------------------------------------------------------------------------------------------- settings


def test_settings_read_the_environment_as_huggingface_hub_does(tmp_path):
    """The cache precedence is huggingface_hub's: compared with its constants in a fresh interpreter."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "HF_HOME": str(tmp_path / "hf-home"),
        "HF_ENDPOINT": "https://hub.example/",
    }
    code = "import json, huggingface_hub.constants as c; print(json.dumps([c.HF_HUB_CACHE, c.ENDPOINT]))"
    for extra in ({}, {"HF_HUB_CACHE": str(tmp_path / "explicit")}, {"XDG_CACHE_HOME": str(tmp_path / "xdg")}):
        run_env = {**env, **extra}
        if "XDG_CACHE_HOME" in extra:
            run_env.pop("HF_HOME")
        out = subprocess.run([sys.executable, "-c", code], env=run_env, capture_output=True, text=True, check=True)
        library_cache, library_endpoint = json.loads(out.stdout)
        settings = hub.HubSettings.from_environ(run_env)
        assert (settings.cache_dir, settings.endpoint) == (library_cache, library_endpoint)


@pytest.mark.parametrize("value", ["soon", "0", "-3", "99999"])
def test_a_bad_timeout_is_a_usage_error(value):
    with pytest.raises(UsageError, match="VRAM_ADVISOR_HUB_TIMEOUT"):
        hub.HubSettings.from_environ({"VRAM_ADVISOR_HUB_TIMEOUT": value})


def test_offline_is_read_like_huggingface_hub_reads_it():
    assert hub.HubSettings.from_environ({"HF_HUB_OFFLINE": "yes"}).offline
    assert hub.HubSettings.from_environ({"TRANSFORMERS_OFFLINE": "1"}).offline
    assert not hub.HubSettings.from_environ({"HF_HUB_OFFLINE": "0"}).offline


# ------------------------------------------------------------------------------------------ model files


def test_model_files_read_config_and_the_index_total(fake_hub):
    files = modelfiles.fetch_model_files("deepseek-ai/DeepSeek-V4-Flash")
    assert files.config["num_hidden_layers"] == 43
    assert files.index_total_size == V4_FLASH_TOTAL_SIZE
    assert files.safetensors_files == 46 and files.safetensors_bytes == 46 * V4_FLASH_SHARD_BYTES
    assert files.commit == fake_hub.repos["deepseek-ai/DeepSeek-V4-Flash"].sha
    assert fake_hub.weights_fetched() == []
    assert modelfiles.fetch_model_files("deepseek-ai/DeepSeek-V3").index_total_size == V3_TOTAL_SIZE


def test_model_files_offline_come_from_the_cache_after_one_online_read(fake_hub, monkeypatch):
    online = modelfiles.fetch_model_files("deepseek-ai/DeepSeek-V4-Flash")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    before = len(fake_hub.requests)
    offline = modelfiles.fetch_model_files("deepseek-ai/DeepSeek-V4-Flash")
    assert len(fake_hub.requests) == before
    assert (offline.commit, offline.index_total_size, offline.source) == (
        online.commit,
        online.index_total_size,
        "cache",
    )


def test_a_gguf_repo_has_no_config_to_import(fake_hub):
    with pytest.raises(HubError, match=r"has no config\.json, so it is not a transformers checkpoint"):
        modelfiles.fetch_model_files(GGUF)


def test_a_gated_config_without_access_is_the_gated_error(fake_hub):
    with pytest.raises(HubError, match="acme/Gated-32B is gated: accept its terms"):
        modelfiles.fetch_model_files("acme/Gated-32B")


class _FullDiskFile:
    """A file on a full disk: it was created (open succeeded), and every write fails with ENOSPC."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def write(self, data: Any) -> int:
        import errno

        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __enter__(self) -> _FullDiskFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.inner.close()


@pytest.mark.parametrize(
    ("suffix", "what"),
    [(".tmp", "refs/main, written to a .tmp and renamed"), (".incomplete", "the config.json blob")],
)
def test_a_full_hf_cache_is_one_line_naming_it_and_leaves_no_scratch(
    cli, fake_hub, monkeypatch, tmp_path, suffix, what
):  # type: ignore[no-untyped-def]
    """ENOSPC while huggingface_hub writes into the cache. No tmpfs can be mounted as a normal user, so the seam is
    ``io.open`` (what ``Path.open``/``Path.write_text`` call): files under the cache whose name ends in ``suffix``
    are created as on a full disk, and every write to them fails with ENOSPC; everything else is real."""
    import io

    cache = Path(os.environ["HF_HUB_CACHE"])
    real_open = io.open

    def full_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = real_open(file, mode, *args, **kwargs)
        path = str(file)
        if any(flag in mode for flag in "wax") and path.startswith(str(cache)) and path.endswith(suffix):
            return _FullDiskFile(handle)
        return handle

    monkeypatch.setattr(io, "open", full_open)
    profiles = tmp_path / "profiles"
    result = cli(
        ["models", "import", "deepseek-ai/DeepSeek-V3", "--id", "v3"], env={"VRAM_ADVISOR_PROFILES": str(profiles)}
    )
    assert result.code == 2 and result.out == "", result
    assert result.err.count("\n") == 1, result.err
    assert f"cannot write config.json into the Hugging Face cache {cache}: No space left on device" in result.err, what
    left = [p for p in cache.rglob("*") if p.name.endswith((".tmp", ".incomplete")) or p.name.startswith("tmp_")]
    assert left == []
    assert not profiles.exists() or list(profiles.glob("*.json")) == []


def test_closing_the_shared_client_leaves_requests_under_way_working(fake_hub):
    """huggingface_hub closes its shared client on a ConnectError met by any thread (``http_backoff``); a request
    another thread has under way on it (a conversation given up at its deadline, a second check in ``serve``) must
    not then fail with EBADF."""
    from huggingface_hub.utils import close_session, get_session  # type: ignore[attr-defined]

    from vram_advisor.hub import transport

    transport.install()
    client = get_session()
    close_session()  # what http_backoff does, from whichever thread met the ConnectError
    assert client.get(f"{fake_hub.url}/api/models/deepseek-ai/DeepSeek-V3").status_code == 200
    assert get_session() is not client  # the library goes on with a new one
