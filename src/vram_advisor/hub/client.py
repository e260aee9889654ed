"""The Hugging Face Hub: the only module that talks to the network.

Two questions are asked, both through huggingface_hub's own client (imported lazily, inside the functions):

* ``list_repo_files``: which files a download of ``ORG/NAME`` (at a revision, narrowed by ``--include`` globs) would
  fetch, their sizes, and which are already on this disk. One ``model_info(files_metadata=True)`` request answers
  the list and the sizes; no weight is downloaded. A gated repo also gets a ``HEAD`` of one selected file, so that a
  repo this token cannot download is refused now rather than half-way through a pipeline.
* ``fetch_model_files``: ``config.json`` and ``model.safetensors.index.json`` of a repo (downloaded into the Hugging
  Face cache, as ``hf download`` would), for ``models import``.

Settings are read from the environment at call time (``HF_ENDPOINT``, ``HF_HUB_OFFLINE``, the cache variables), not
from ``huggingface_hub.constants``, which freezes them when the library is imported. The token is the one
huggingface_hub finds itself (``HF_TOKEN``, then the token file written by ``hf auth login``).

Every failure becomes one ``HubError`` line (exit 2): not found, private or gated without access, an unknown
revision, no network, ``HF_HUB_OFFLINE=1`` with nothing cached, and a Hub that does not answer within
``VRAM_ADVISOR_HUB_TIMEOUT`` seconds (default 20) for the whole conversation, enforced by a deadline on a worker
thread, because ``huggingface_hub`` retries timeouts with backoff and some of its calls take no timeout.

Download scratch (huggingface_hub 2.4 ``file_download._download_to_tmp_and_move``): each file is written to
``blobs/<etag>.<8 hex>.incomplete`` beside its final blob in the same cache folder (``.cache/huggingface/download/``
of a ``--local-dir``) and renamed into place, so a download needs no room beyond its own files. The one extra is the
Xet chunk cache, off by default in hf_xet since xet-core PR #559 and sized by ``HF_XET_CHUNK_CACHE_SIZE_BYTES``
when a user turns it on; it is added to the disk need then. ``.incomplete`` files left by a killed download are
never resumed (their names are unique per process): they are reported as space that can be freed.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from vram_advisor.core import boundedjson
from vram_advisor.core.errors import HubError, UsageError
from vram_advisor.core.jsonread import MAX_BYTES, clean_text
from vram_advisor.core.records import Record
from vram_advisor.hub import transport
from vram_advisor.probe.paths import default_model_dir

T = TypeVar("T")

DEFAULT_ENDPOINT = "https://huggingface.co"
TIMEOUT_ENV = "VRAM_ADVISOR_HUB_TIMEOUT"
DEFAULT_TIMEOUT_S = 20.0
XET_CHUNK_CACHE_ENV = "HF_XET_CHUNK_CACHE_SIZE_BYTES"
CONFIG_FILE = "config.json"
INDEX_FILE = "model.safetensors.index.json"
#: The values huggingface_hub reads as true (``constants._is_true``).
_TRUE = {"1", "ON", "YES", "TRUE"}
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True, repr=False)
class HubSettings(Record):
    """Where the Hub is, where its cache is, whether to go online at all, and how long to wait."""

    endpoint: str
    cache_dir: str
    offline: bool
    timeout_s: float
    xet_chunk_cache_bytes: int = 0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> HubSettings:
        env = os.environ if environ is None else environ
        return cls(
            endpoint=(env.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/"),
            cache_dir=default_model_dir(env),
            offline=any(
                (env.get(key) or "").strip().upper() in _TRUE for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
            ),
            timeout_s=_timeout(env.get(TIMEOUT_ENV)),
            xet_chunk_cache_bytes=_non_negative_int(env.get(XET_CHUNK_CACHE_ENV)),
        )


def _timeout(text: str | None) -> float:
    if not text:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{TIMEOUT_ENV}={text!r}: expected a number of seconds") from None
    if not 0 < value <= 3600:
        raise UsageError(f"{TIMEOUT_ENV}={text!r}: expected seconds between 0 and 3600")
    return value


def _non_negative_int(text: str | None) -> int:
    try:
        return max(0, int(text)) if text else 0
    except ValueError:
        return 0


@dataclass(frozen=True, repr=False)
class RepoFile(Record):
    """One file of a repo: its path, its size, and whether this disk already holds it."""

    path: str
    size_bytes: int
    local: bool = False


@dataclass(frozen=True, repr=False)
class RepoListing(Record):
    """What downloading ``repo_id`` (narrowed by ``include``) would fetch, and how much room that takes."""

    repo_id: str
    revision: str
    commit: str | None
    include: tuple[str, ...]
    files: tuple[RepoFile, ...]
    source: str
    complete: bool
    target: str
    target_kind: str
    local_consulted: bool
    gated: bool
    scratch_bytes: int
    scratch_note: str
    stale_incomplete_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files)

    @property
    def local_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files if f.local)

    @property
    def download_bytes(self) -> int:
        """The files still to fetch (those already on this disk do not count again)."""
        return self.total_bytes - self.local_bytes

    @property
    def disk_need_bytes(self) -> int:
        """Room the download needs under its target: the files still to fetch plus the scratch."""
        return self.download_bytes + self.scratch_bytes

    @property
    def label(self) -> str:
        return f"{self.repo_id}@{self.commit[:12] if self.commit else self.revision}"


@dataclass(frozen=True, repr=False)
class ModelFiles(Record):
    """What ``models import`` reads from a repo: its config and the weights' size, pinned to a commit."""

    repo_id: str
    revision: str
    commit: str | None
    endpoint: str
    config: Mapping[str, Any]
    index_total_size: int | None
    safetensors_bytes: int | None
    safetensors_files: int
    source: str


# --------------------------------------------------------------------------------------------- settings


def check_repo_id(repo_id: str) -> str:
    """``ORG/NAME`` as the Hub spells it, or a UsageError."""
    text = repo_id.strip()
    if not _REPO_ID.match(text) or "--" in text or ".." in text:
        raise UsageError(f"--repo {repo_id!r}: expected ORG/NAME, e.g. unsloth/DeepSeek-V4-Flash-GGUF")
    return text


def storage_folder(cache_dir: str, repo_id: str) -> Path:
    """The repo's folder in the cache: ``models--ORG--NAME`` (huggingface_hub ``file_download.repo_folder_name``)."""
    return Path(cache_dir) / ("models--" + repo_id.replace("/", "--"))


def scratch_of(settings: HubSettings, target_kind: str) -> tuple[int, str]:
    """The download scratch beyond the files themselves, and a sentence that says where it comes from."""
    where = "blobs/ of the cache" if target_kind == "cache" else ".cache/huggingface/download/ of the local dir"
    note = (
        f"huggingface_hub writes each file to a .incomplete file in {where} and renames it into place, "
        "so the download needs no room beyond its files"
    )
    if settings.xet_chunk_cache_bytes:
        note += f"; plus the Xet chunk cache ({XET_CHUNK_CACHE_ENV}={settings.xet_chunk_cache_bytes})"
    return settings.xet_chunk_cache_bytes, note


@contextmanager
def _library_settings(settings: HubSettings) -> Iterator[None]:
    """Make huggingface_hub follow ``settings.offline`` (its constant is frozen at import) for this call."""
    from huggingface_hub import constants
    from huggingface_hub.utils import disable_progress_bars  # type: ignore[attr-defined]  # public, lazily exported

    disable_progress_bars()  # our spinner is the progress; tqdm bars would clutter stderr
    transport.install()  # every answer bounded and checked (hub/transport.py)
    previous = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = settings.offline
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = previous


def _bounded(settings: HubSettings, repo_id: str, work: Callable[[], T]) -> T:
    """Run ``work`` on a worker thread and give up after ``settings.timeout_s`` seconds."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed back to the caller's thread
            outcome["error"] = exc

    with _library_settings(settings):
        worker = threading.Thread(target=run, name="vram-advisor-hub", daemon=True)
        worker.start()
        worker.join(settings.timeout_s)
    if worker.is_alive():
        raise HubError(
            f"{repo_id}: the Hub at {settings.endpoint} did not answer within {settings.timeout_s:g} s "
            f"(set {TIMEOUT_ENV} to wait longer, or HF_HUB_OFFLINE=1 to use the local cache)"
        )
    if "error" in outcome:
        raise hub_error(outcome["error"], repo_id, settings) from None
    return outcome["value"]  # type: ignore[no-any-return]


def _has_token() -> bool:
    from huggingface_hub import get_token

    try:
        return get_token() is not None
    except Exception:  # an OIDC exchange that failed: treat as no usable token
        return False


def hub_error(exc: BaseException, repo_id: str, settings: HubSettings) -> Exception:
    """One line for whatever huggingface_hub (or the network below it) raised."""
    import httpx2
    from huggingface_hub import errors as hf

    if isinstance(exc, HubError | UsageError):
        return exc
    where = f"{settings.endpoint}/{repo_id}"
    login = "log in with `hf auth login` or set HF_TOKEN"
    if isinstance(exc, hf.GatedRepoError):
        if _has_token():
            return HubError(f"{repo_id} is gated and this token has no access yet: request it at {where}")
        return HubError(f"{repo_id} is gated: accept its terms at {where}, then {login}")
    if isinstance(exc, hf.RepositoryNotFoundError):
        if _has_token():
            return HubError(f"{repo_id} was not found on {settings.endpoint} (or this token cannot see it)")
        return HubError(f"{repo_id} was not found on {settings.endpoint} (if it is private, {login})")
    if isinstance(exc, hf.RevisionNotFoundError):
        return HubError(f"{repo_id} has no revision {_revision_of(exc)!r} on {settings.endpoint}")
    if isinstance(exc, hf.RemoteEntryNotFoundError):
        return HubError(f"{repo_id}: a file it lists is missing on {settings.endpoint} ({_status(exc)})")
    if isinstance(exc, hf.LocalEntryNotFoundError | hf.OfflineModeIsEnabled):
        return HubError(
            f"{repo_id}: HF_HUB_OFFLINE=1 and the local cache ({settings.cache_dir}) does not hold what is needed: "
            "unset HF_HUB_OFFLINE to ask the Hub"
        )
    if isinstance(exc, hf.HfHubHTTPError):
        return HubError(f"{repo_id}: the Hub at {settings.endpoint} answered {_status(exc)}")
    if isinstance(exc, hf.HFValidationError):
        return UsageError(f"--repo {repo_id!r}: {_first_line(str(exc))}")
    if isinstance(exc, httpx2.TooManyRedirects):
        return HubError(
            f"{repo_id}: the Hub at {settings.endpoint} redirected more than {transport.MAX_REDIRECTS} times"
        )
    if isinstance(exc, RecursionError | OverflowError | UnicodeError):  # an answer no check above foresaw
        return HubError(f"{repo_id}: unexpected answer from the Hub at {settings.endpoint} ({type(exc).__name__})")
    if isinstance(exc, httpx2.TimeoutException):
        return HubError(f"{repo_id}: the Hub at {settings.endpoint} did not answer within {settings.timeout_s:g} s")
    if isinstance(exc, httpx2.TransportError | ConnectionError):
        return HubError(
            f"{repo_id}: cannot reach the Hub at {settings.endpoint} ({_first_line(str(exc)) or type(exc).__name__}): "
            "check the network, or set HF_HUB_OFFLINE=1 to use the local cache"
        )
    if isinstance(exc, json.JSONDecodeError | KeyError | TypeError | ValueError | AttributeError | IndexError):
        # huggingface_hub reads an answer's fields as it expects them: an answer of another shape fails in there
        return HubError(
            f"{repo_id}: unexpected answer from the Hub at {settings.endpoint} "
            f"({type(exc).__name__}: {clean_text(_first_line(str(exc)))[:200]})"
        )
    if isinstance(exc, OSError):
        return HubError(f"{repo_id}: {type(exc).__name__}: {_first_line(str(exc))}")
    return exc if isinstance(exc, Exception) else RuntimeError(str(exc))


def _status(exc: Any) -> str:
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    message = getattr(response, "headers", {}).get("X-Error-Message") if response is not None else None
    text = f"HTTP {code}" if code else type(exc).__name__
    return f"{text}: {clean_text(message)[:200]}" if message else text  # the header is the server's text: escaped


def _revision_of(exc: Any) -> str:
    match = re.search(r"/(?:revision|resolve|tree)/([^/?]+)", str(getattr(getattr(exc, "response", None), "url", "")))
    return match.group(1) if match else "?"


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


# ------------------------------------------------------------------------------------------ list files


def list_repo_files(
    repo_id: str,
    revision: str | None = None,
    include: Sequence[str] = (),
    *,
    target_dir: str | None = None,
    consult_local: bool = True,
    settings: HubSettings | None = None,
) -> RepoListing:
    """The files a download of ``repo_id`` would fetch (sizes from the Hub, nothing downloaded).

    ``target_dir`` is where the download would go: the Hugging Face cache (None, or the cache dir itself) or a local
    dir (``hf download --local-dir``). With ``consult_local`` the files already there are marked ``local`` and do not
    count again; without it (judging another machine's inventory) nothing is assumed to be on disk.
    """
    repo_id = check_repo_id(repo_id)
    settings = settings or HubSettings.from_environ()
    include = tuple(pattern for pattern in include if pattern)
    target_kind, target = _target(settings, target_dir)
    if settings.offline:
        with _library_settings(settings):
            return _listing_from_cache(repo_id, revision, include, settings, target_kind, target, consult_local)
    return _bounded(
        settings,
        repo_id,
        lambda: _listing_from_hub(repo_id, revision, include, settings, target_kind, target, consult_local),
    )


def _target(settings: HubSettings, target_dir: str | None) -> tuple[str, str]:
    cache = Path(settings.cache_dir).expanduser().absolute()
    if target_dir is None:
        return "cache", str(cache)
    target = Path(target_dir).expanduser().absolute()
    return ("cache", str(cache)) if target == cache else ("local-dir", str(target))


def _select(entries: Mapping[str, Any], include: Sequence[str]) -> list[str]:
    from huggingface_hub.utils import filter_repo_objects  # type: ignore[attr-defined]  # public, lazily exported

    return list(filter_repo_objects(list(entries), allow_patterns=list(include) or None))


def _listing_from_hub(
    repo_id: str,
    revision: str | None,
    include: tuple[str, ...],
    settings: HubSettings,
    target_kind: str,
    target: str,
    consult_local: bool,
) -> RepoListing:
    from huggingface_hub import HfApi
    from huggingface_hub import RepoFile as HubRepoFile

    api = HfApi(endpoint=settings.endpoint)
    info = api.model_info(repo_id, revision=revision, files_metadata=True, timeout=settings.timeout_s)
    commit = transport.commit_of(info.sha)
    entries: dict[str, tuple[int | None, str | None]] = {}
    for sibling in info.siblings or []:
        blob = sibling.lfs.sha256 if sibling.lfs is not None else sibling.blob_id
        entries[sibling.rfilename] = (transport.size_of(sibling.size), blob)
    selected = _select(entries, include)
    if any(entries[path][0] is None for path in selected):
        # an endpoint (a mirror) that ignores ?blobs=true: the tree listing carries the sizes
        for item in api.list_repo_tree(repo_id, recursive=True, revision=commit or revision):
            if isinstance(item, HubRepoFile):
                entries[item.path] = (
                    transport.size_of(item.size),
                    item.lfs.sha256 if item.lfs is not None else item.blob_id,
                )
        selected = _select(entries, include)
    _require_files(repo_id, revision, include, selected, len(entries))
    gated = bool(info.gated)
    if gated:
        _check_download_access(repo_id, commit or revision, selected[0], settings)
    return _listing(
        repo_id,
        revision,
        commit,
        include,
        [(path, entries[path][0] or 0, entries[path][1]) for path in selected],
        settings,
        target_kind,
        target,
        consult_local,
        source="hub",
        complete=True,
        gated=gated,
    )


def _require_files(
    repo_id: str, revision: str | None, include: Sequence[str], selected: Sequence[str], available: int
) -> None:
    if selected:
        return
    at = f"@{revision}" if revision else ""
    if include:
        patterns = " ".join(f"--include {p!r}" for p in include)
        raise HubError(f"{repo_id}{at}: no file matches {patterns} (the repo has {available} files)")
    raise HubError(f"{repo_id}{at}: the repo has no files")


def _check_download_access(repo_id: str, revision: str | None, path: str, settings: HubSettings) -> None:
    """A HEAD of one file: a gated repo lists its files to anyone, but only serves them to accepted tokens."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    url = hf_hub_url(repo_id, path, revision=revision, endpoint=settings.endpoint)
    get_hf_file_metadata(url, timeout=settings.timeout_s, endpoint=settings.endpoint)


def _listing(
    repo_id: str,
    revision: str | None,
    commit: str | None,
    include: tuple[str, ...],
    files: Sequence[tuple[str, int, str | None]],
    settings: HubSettings,
    target_kind: str,
    target: str,
    consult_local: bool,
    *,
    source: str,
    complete: bool,
    gated: bool,
) -> RepoListing:
    storage = storage_folder(settings.cache_dir, repo_id)

    def is_local(path: str, size: int, blob: str | None) -> bool:
        if not consult_local:
            return False
        if target_kind == "cache":
            # what hf_hub_download checks before fetching: the snapshot pointer, else the blob by etag
            pointer = storage / "snapshots" / commit / path if commit else None
            return bool((pointer is not None and pointer.exists()) or (blob and (storage / "blobs" / blob).is_file()))
        candidate = Path(target) / path
        return candidate.is_file() and candidate.stat().st_size == size

    scratch, note = scratch_of(settings, target_kind)
    stale = _stale_incomplete_bytes(storage / "blobs" if target_kind == "cache" else Path(target) / ".cache")
    return RepoListing(
        repo_id=repo_id,
        revision=revision or "main",
        commit=commit,
        include=include,
        files=tuple(RepoFile(path, size, is_local(path, size, blob)) for path, size, blob in sorted(files)),
        source=source,
        complete=complete,
        target=target,
        target_kind=target_kind,
        local_consulted=consult_local,
        gated=gated,
        scratch_bytes=scratch,
        scratch_note=note,
        stale_incomplete_bytes=stale if consult_local else 0,
    )


def _stale_incomplete_bytes(folder: Path) -> int:
    total = 0
    if not folder.is_dir():
        return 0
    for path in folder.rglob("*.incomplete"):
        try:
            total += path.stat().st_size
        except OSError:
            continue
    return total


# ---------------------------------------------------------------------------------------- offline cache


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


def _listing_from_cache(
    repo_id: str,
    revision: str | None,
    include: tuple[str, ...],
    settings: HubSettings,
    target_kind: str,
    target: str,
    consult_local: bool,
) -> RepoListing:
    storage = storage_folder(settings.cache_dir, repo_id)
    commit = _cached_commit(storage, revision)
    if commit is None:
        raise _offline_miss(repo_id, revision, settings)
    tree = _cached_tree(storage, commit)
    entries = tree if tree is not None else _snapshot_files(storage, commit)
    if not entries:
        raise _offline_miss(repo_id, revision, settings)
    selected = _select(entries, include)
    _require_files(repo_id, revision, include, selected, len(entries))
    return _listing(
        repo_id,
        revision,
        commit,
        include,
        [(path, entries[path][0], entries[path][1]) for path in selected],
        settings,
        target_kind,
        target,
        consult_local,
        source="cache",
        complete=tree is not None,
        gated=False,
    )


# -------------------------------------------------------------------------------------- model import


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


def _download_json(repo_id: str, name: str, commit: str | None, settings: HubSettings, local_only: bool) -> Any:
    from huggingface_hub import hf_hub_download

    path = hf_hub_download(
        repo_id,
        name,
        revision=commit,
        cache_dir=settings.cache_dir,
        endpoint=settings.endpoint,
        etag_timeout=settings.timeout_s,
        local_files_only=local_only,
    )
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

    info = HfApi(endpoint=settings.endpoint).model_info(
        repo_id, revision=revision, files_metadata=True, timeout=settings.timeout_s
    )
    sizes = {sibling.rfilename: transport.size_of(sibling.size) for sibling in info.siblings or []}
    return _model_files(repo_id, revision, transport.commit_of(info.sha), settings, sizes, "hub", local_only=False)


def _model_files_from_cache(repo_id: str, revision: str | None, settings: HubSettings) -> ModelFiles:
    from huggingface_hub import errors as hf

    storage = storage_folder(settings.cache_dir, repo_id)
    commit = _cached_commit(storage, revision)
    if commit is None:
        raise _offline_miss(repo_id, revision, settings)
    tree = _cached_tree(storage, commit)
    entries = tree if tree is not None else _snapshot_files(storage, commit)
    sizes: dict[str, int | None] = {path: size for path, (size, _blob) in entries.items()}
    try:
        return _model_files(repo_id, revision, commit, settings, sizes, "cache", local_only=True)
    except hf.LocalEntryNotFoundError:
        raise HubError(
            f"{repo_id}: HF_HUB_OFFLINE=1 and {CONFIG_FILE} is not in the local cache ({settings.cache_dir}): "
            "unset HF_HUB_OFFLINE to ask the Hub"
        ) from None


def is_this_host(hostname: str | None) -> bool:
    """Whether an inventory's hostname is this machine's, i.e. whether this machine's cache counts for it."""
    import socket

    return bool(hostname) and hostname == socket.gethostname()
