"""The Hub's settings (read from the environment at call time) and the records its answers become: what
``models import`` reads (``ModelFiles``); the files a download would fetch are ``catalog.listing.RepoListing``,
which the plan reads."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vram_advisor.core.errors import UsageError
from vram_advisor.core.numbers import SHOWN_CHARS, NumberError, parse_int, shown
from vram_advisor.core.records import Record, dataclass
from vram_advisor.core.redact import redact_url
from vram_advisor.core.redact import scrub_text as redact_text
from vram_advisor.probe.paths import default_model_dir

DEFAULT_ENDPOINT = "https://huggingface.co"
TIMEOUT_ENV = "VRAM_ADVISOR_HUB_TIMEOUT"
DEFAULT_TIMEOUT_S = 20.0
XET_CHUNK_CACHE_ENV = "HF_XET_CHUNK_CACHE_SIZE_BYTES"
CONFIG_FILE = "config.json"
INDEX_FILE = "model.safetensors.index.json"
#: The values huggingface_hub reads as true (``constants._is_true``).
_TRUE = {"1", "ON", "YES", "TRUE"}
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
#: The longest ORG and NAME of a repo id (huggingface_hub ``validate_repo_id``: "the maximum length is 96").
MAX_REPO_PART = 96
#: The longest ``--revision``: far past any real branch, tag or commit id (40 hex digits), so only junk is refused.
MAX_REVISION = 255
#: The longest host name (RFC 1035 section 2.3.4: 255 octets on the wire, 253 characters written) and label (63).
MAX_HOST = 253
MAX_LABEL = 63
#: The longest ``HF_ENDPOINT`` as it is printed (credentials and query string left out): a mirror's URL, with room.
MAX_ENDPOINT = 255
#: Variables huggingface_hub reads with ``int()`` when it is imported (``constants.HF_HUB_ETAG_TIMEOUT`` and
#: ``HF_HUB_DOWNLOAD_TIMEOUT``): anything else there, even an empty value, would raise ValueError in that import.
_HF_SECONDS = ("HF_HUB_ETAG_TIMEOUT", "HF_HUB_DOWNLOAD_TIMEOUT")
MAX_HF_SECONDS = 86400
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True, repr=False)
class HubSettings(Record):
    """Where the Hub is, where its cache is, whether to go online at all, and how long to wait.

    ``endpoint`` is the Hub's URL as it may be printed (``core.redact.redact_url``: no userinfo, no query string);
    ``url`` is the one requests go to, which may carry credentials (``https://user:hf_...@mirror``) and is never put
    into a message, a JSON field or a profile."""

    endpoint: str
    cache_dir: str
    offline: bool
    timeout_s: float
    xet_chunk_cache_bytes: int = 0
    url: str = ""

    def __post_init__(self) -> None:
        if not self.url:
            object.__setattr__(self, "url", self.endpoint)
        if self.endpoint == self.url:
            object.__setattr__(self, "endpoint", redact_url(self.url))

    def __repr__(self) -> str:  # ``url`` may hold a credential: never shown
        return (
            f"HubSettings(endpoint={self.endpoint!r}, cache_dir={self.cache_dir!r}, offline={self.offline!r}, "
            f"timeout_s={self.timeout_s!r}, xet_chunk_cache_bytes={self.xet_chunk_cache_bytes!r})"
        )

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> HubSettings:
        env = os.environ if environ is None else environ
        url = check_endpoint(env.get("HF_ENDPOINT"))
        for name in _HF_SECONDS:
            _check_seconds_variable(name, env.get(name))
        return cls(
            endpoint=redact_url(url),
            url=url,
            cache_dir=default_model_dir(env),
            offline=any(
                (env.get(key) or "").strip().upper() in _TRUE for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
            ),
            timeout_s=_timeout(env.get(TIMEOUT_ENV)),
            xet_chunk_cache_bytes=_non_negative_int(env.get(XET_CHUNK_CACHE_ENV)),
        )


def check_endpoint(text: str | None) -> str:
    """``HF_ENDPOINT`` as a URL requests can go to (the Hub's when unset or empty), or a UsageError naming it, its
    value redacted.

    huggingface_hub parses the variable when it is imported (``constants.HF_URL_HOSTS`` and ``utils._http.
    _HUB_ORIGINS`` call ``urlsplit(ENDPOINT).hostname`` and ``.port``), so a malformed value (``http://[::1``, a port
    of 99999) would raise ValueError there: it is checked here, before the library is imported."""
    raw = (text or "").strip()
    if not raw:
        return DEFAULT_ENDPOINT
    url = raw.rstrip("/")
    problem = _endpoint_problem(url)
    if problem:
        raise UsageError(f"HF_ENDPOINT {_quoted_endpoint(raw)}: {problem} (e.g. {DEFAULT_ENDPOINT}, or unset it)")
    return url


def _quoted_endpoint(raw: str) -> str:
    """``HF_ENDPOINT`` as a message quotes it: redacted (and so already escaped), at most ``SHOWN_CHARS`` of it."""
    printed = redact_url(raw)
    if len(printed) <= SHOWN_CHARS:
        return f"'{printed}'"
    return f"'{printed[:SHOWN_CHARS]}'... ({len(raw):,} characters)"


def _endpoint_problem(url: str) -> str | None:
    from urllib.parse import urlsplit

    if any(not char.isprintable() or char.isspace() for char in url):
        return "a URL holds no spaces or control characters"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  # raises ValueError for a port outside 0-65535, as huggingface_hub's import would
    except ValueError as exc:
        return f"not a URL ({redact_text(str(exc))})"
    if parts.scheme.lower() not in ("http", "https"):
        return "expected an http:// or https:// URL"
    if not host:
        return "the URL names no host"
    return _host_problem(host) or _length_problem(url)


def _host_problem(host: str) -> str | None:
    """Why a host name could not be looked up (too long for DNS, an empty label: the IDNA codec raises UnicodeError
    for these when the request is made), or None. An IPv6 address (``[::1]``) has no labels."""
    if ":" in host:
        return None
    if len(host) > MAX_HOST:
        return f"a host name of {len(host):,} characters is longer than DNS allows ({MAX_HOST})"
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    if any(len(label) > MAX_LABEL for label in labels):
        return f"the host name has a label of more than {MAX_LABEL} characters, longer than DNS allows"
    if any(not label for label in labels):
        return "the host name has an empty label (two dots in a row, or a leading dot)"
    return None


def _length_problem(url: str) -> str | None:
    printed = redact_url(url)
    if len(printed) > MAX_ENDPOINT:
        return f"longer than any Hub mirror's URL (at most {MAX_ENDPOINT} characters without credentials and query)"
    return None


def _check_seconds_variable(name: str, text: str | None) -> None:
    if text is None:
        return
    try:
        parse_int(text, 0, MAX_HF_SECONDS)
    except NumberError as exc:
        digits = text.strip().isascii() and text.strip().isdigit()
        why = f"{exc}: " if digits else ""  # else the reason would quote the value a second time
        raise UsageError(
            f"{name}={shown(text)}: {why}expected whole seconds, as huggingface_hub reads it (e.g. 10), or unset it"
        ) from None


def _timeout(text: str | None) -> float:
    if not text:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{TIMEOUT_ENV}={shown(text)}: expected a number of seconds") from None
    if not 0 < value <= 3600:
        raise UsageError(f"{TIMEOUT_ENV}={shown(text)}: expected seconds between 0 and 3600")
    return value


def _non_negative_int(text: str | None) -> int:
    try:
        return max(0, int(text)) if text else 0
    except ValueError:
        return 0


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
        raise UsageError(f"--repo {shown(repo_id)}: expected ORG/NAME, e.g. unsloth/DeepSeek-V4-Flash-GGUF")
    if any(len(part) > MAX_REPO_PART for part in text.split("/")):
        raise UsageError(f"--repo {shown(repo_id)}: an ORG or a NAME on the Hub has at most {MAX_REPO_PART} characters")
    return text


def check_revision(revision: str | None) -> str | None:
    """``--revision`` as given (None: the default branch), or a UsageError when it is longer than any branch, tag or
    commit, or holds a control character."""
    if revision is None:
        return None
    if len(revision) > MAX_REVISION:
        raise UsageError(
            f"--revision {shown(revision)}: longer than any branch, tag or commit (at most {MAX_REVISION} characters)"
        )
    if not revision.strip() or not revision.isprintable():
        raise UsageError(f"--revision {shown(revision)}: expected a branch, tag or commit, e.g. main")
    return revision


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
