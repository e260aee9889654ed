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

No line carries a secret: the endpoint is shown redacted (``HubSettings.endpoint``: no userinfo, no query string), an
HTTP error is its status and standard phrase (``HTTP 401 Unauthorized``), never the server's text, which a mirror may
fill with the request's ``Authorization: Bearer hf_...``; and every message, and huggingface_hub's own log warnings,
pass through ``core.redact`` (the redactor ``doctor`` uses) with the token, the secret-named variables' values and
the endpoint's credentials as the exact strings to replace.

Download scratch (huggingface_hub 2.4 ``file_download._download_to_tmp_and_move``): each file is written to
``blobs/<etag>.<8 hex>.incomplete`` beside its final blob in the same cache folder (``.cache/huggingface/download/``
of a ``--local-dir``) and renamed into place, so a download needs no room beyond its own files. The one extra is the
Xet chunk cache, off by default in hf_xet since xet-core PR #559 and sized by ``HF_XET_CHUNK_CACHE_SIZE_BYTES``
when a user turns it on; it is added to the disk need then. ``.incomplete`` files left by a killed download are
never resumed (their names are unique per process): they are reported as space that can be freed.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from vram_advisor.catalog.listing import RepoFile, RepoListing
from vram_advisor.core.errors import HubError, UsageError
from vram_advisor.core.jsonread import clean_text
from vram_advisor.core.numbers import clip_values, shown
from vram_advisor.core.redact import scrub_text, secret_values
from vram_advisor.hub import transport
from vram_advisor.hub.cache import _offline_miss, cached_snapshot
from vram_advisor.hub.settings import (
    TIMEOUT_ENV,
    HubSettings,
    check_endpoint,
    check_repo_id,
    scratch_of,
    storage_folder,
)

T = TypeVar("T")


@contextmanager
def _library_settings(settings: HubSettings) -> Iterator[None]:
    """Make huggingface_hub follow ``settings.offline`` (its constant is frozen at import) for this call.

    The library parses ``HF_ENDPOINT`` of this process when it is imported: a malformed one is refused first (one
    line naming it, exit 2), whatever endpoint ``settings`` holds."""
    import os

    check_endpoint(os.environ.get("HF_ENDPOINT"))
    from huggingface_hub import constants
    from huggingface_hub.utils import disable_progress_bars  # type: ignore[attr-defined]  # public, lazily exported

    disable_progress_bars()  # our spinner is the progress; tqdm bars would clutter stderr
    transport.install()  # every answer bounded and checked (hub/transport.py)
    _scrub_library_log(secrets_of(settings))
    previous = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = settings.offline
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = previous


class _ScrubbedLog:
    """A filter on huggingface_hub's log handlers: its warnings (``HTTP Error 500 thrown while requesting GET
    <url>``, ``Error while downloading from <url>``) are printed with the URLs and secrets redacted."""

    def __init__(self) -> None:
        self.secrets: tuple[str, ...] = ()

    def filter(self, record: Any) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record: nothing of it is shown
            text = "(a huggingface_hub message that could not be formatted)"
        record.msg, record.args = scrub_text(text, self.secrets), ()
        return True


_log_filter = _ScrubbedLog()


def _scrub_library_log(secrets: tuple[str, ...]) -> None:
    import logging

    from huggingface_hub.utils import logging as hf_logging

    _log_filter.secrets = secrets
    hf_logging.get_logger()  # the library's root logger, with its stderr handler once configured
    for handler in logging.getLogger("huggingface_hub").handlers:
        if _log_filter not in handler.filters:
            handler.addFilter(_log_filter)


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
        raise scrubbed(hub_error(outcome["error"], repo_id, settings), settings) from None
    return outcome["value"]  # type: ignore[no-any-return]


def secrets_of(settings: HubSettings) -> tuple[str, ...]:
    """What must never be printed: the values of secret-named variables (``HF_TOKEN``...), the token
    huggingface_hub found (a token file), and the userinfo and query values of the endpoint's URL."""
    import os
    from urllib.parse import parse_qsl, unquote

    found = list(secret_values(os.environ))
    token = _token()
    if token:
        found.append(token)
    _scheme, sep, rest = settings.url.partition("://")
    if sep and "@" in rest:
        userinfo = rest.rpartition("@")[0]
        found += [userinfo, unquote(userinfo), *userinfo.split(":")]
    _head, qsep, query = settings.url.partition("?")
    if qsep:
        query = query.partition("#")[0]
        found += [query, *(value for _key, value in parse_qsl(query, keep_blank_values=True))]
    kept = {value for value in found if len(value) >= 4}
    return tuple(sorted(kept, key=len, reverse=True))


def scrubbed(exc: Exception, settings: HubSettings) -> Exception:
    """``exc`` with no secret in its message (``core.redact``, the redactor ``doctor`` uses): a Hub error's line may
    quote what the network library or the Hub said."""
    if not isinstance(exc, HubError | UsageError):
        return exc
    message = scrub_text(exc.message, secrets_of(settings))
    return exc if message == exc.message else type(exc)(message)


def _token() -> str | None:
    from huggingface_hub import get_token

    try:
        return get_token()
    except Exception:  # an OIDC exchange that failed: treat as no usable token
        return None


def _has_token() -> bool:
    return _token() is not None


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
        return HubError(f"{repo_id} has no revision {shown(_revision_of(exc))} on {settings.endpoint}")
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
        return UsageError(f"--repo {shown(repo_id)}: {clip_values(_first_line(str(exc)))}")
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
    """The answer's status and its standard reason phrase (``HTTP 401 Unauthorized``): never the server's own text
    (the body, ``X-Error-Message``, the reason it sent), which a mirror may fill with the request's
    ``Authorization: Bearer hf_...`` header or the token."""
    from http import HTTPStatus

    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    if not isinstance(code, int):
        return type(exc).__name__
    try:
        return f"HTTP {code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"HTTP {code}"


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

    api = HfApi(endpoint=settings.url)
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
        patterns = " ".join(f"--include {shown(p)}" for p in include)
        raise HubError(f"{repo_id}{at}: no file matches {patterns} (the repo has {available} files)")
    raise HubError(f"{repo_id}{at}: the repo has no files")


def _check_download_access(repo_id: str, revision: str | None, path: str, settings: HubSettings) -> None:
    """A HEAD of one file: a gated repo lists its files to anyone, but only serves them to accepted tokens."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    url = hf_hub_url(repo_id, path, revision=revision, endpoint=settings.url)
    get_hf_file_metadata(url, timeout=settings.timeout_s, endpoint=settings.url)


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


def _listing_from_cache(
    repo_id: str,
    revision: str | None,
    include: tuple[str, ...],
    settings: HubSettings,
    target_kind: str,
    target: str,
    consult_local: bool,
) -> RepoListing:
    commit, entries, complete = cached_snapshot(repo_id, revision, settings)
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
        complete=complete,
        gated=False,
    )


def is_this_host(hostname: str | None) -> bool:
    """Whether an inventory's hostname is this machine's, i.e. whether this machine's cache counts for it."""
    import socket

    return bool(hostname) and hostname == socket.gethostname()
