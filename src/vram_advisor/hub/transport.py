"""Bounded answers from the Hub: every HTTP answer huggingface_hub receives passes through ``BoundedTransport``.

* At most ``MAX_ANSWER_BYTES`` of body per answer (after decompression), counted as it arrives: a 300 MB API answer
  is refused at 64 MiB rather than held in memory whole.
* A JSON answer (``Content-Type: ...json``) is checked with the bounded reader before huggingface_hub parses it:
  nesting, number length, NaN and Infinity, string size and lone surrogates (``core.boundedjson``, limits
  ``HUB_LIMITS``), so a hostile answer is one ``HubError`` line naming the field, never a RecursionError.
* At most ``MAX_REDIRECTS`` redirects (a 302 loop ends as one line).
* ``commit_of`` and ``size_of`` keep only the answer's fields that are what they claim (a commit id, a size).

``install()`` makes huggingface_hub build its shared client with this transport (``set_client_factory``, its public
hook); ``hub.client`` calls it before each conversation with the Hub.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import httpx2

from vram_advisor.core.boundedjson import JsonLimits, JsonRefused, parse
from vram_advisor.core.errors import HubError
from vram_advisor.core.jsonread import MAX_BYTES, clean_text

MAX_ANSWER_BYTES = 64 * 1024 * 1024
MAX_REDIRECTS = 10
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
#: What a Hub answer (an API listing, config.json, the safetensors index) may hold.
HUB_LIMITS = JsonLimits(
    max_bytes=MAX_ANSWER_BYTES, max_depth=64, max_number_chars=40, max_string_chars=1024 * 1024, reject_surrogates=True
)

_installed = threading.Lock()
_done = [False]


class AnswerRefused(HubError):
    """A Hub answer beyond the bounds: too large, or JSON the bounded reader refuses."""


def _where(request: httpx2.Request) -> str:
    return clean_text(request.url.path)[:200]


def _too_large(request: httpx2.Request) -> AnswerRefused:
    return AnswerRefused(
        f"the Hub's answer to {_where(request)} is larger than {MAX_ANSWER_BYTES // (1024 * 1024)} MiB, not read"
    )


class _CountedStream(httpx2.SyncByteStream):
    """A body handed on as it arrives, refused once it passes ``MAX_ANSWER_BYTES``."""

    def __init__(self, inner: Any, request: httpx2.Request) -> None:
        self.inner = inner
        self.request = request

    def __iter__(self) -> Iterator[bytes]:
        seen = 0
        for chunk in self.inner:
            seen += len(chunk)
            if seen > MAX_ANSWER_BYTES:
                raise _too_large(self.request)
            yield chunk

    def close(self) -> None:
        self.inner.close()


class BoundedTransport(httpx2.BaseTransport):
    """The default transport, with every answer's size bounded and JSON answers checked (see the module)."""

    def __init__(self, inner: httpx2.BaseTransport | None = None) -> None:
        self.inner = inner or httpx2.HTTPTransport()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self.inner.handle_request(request)
        length = response.headers.get("content-length", "")
        if length.isdigit() and len(length) < 20 and int(length) > MAX_ANSWER_BYTES:
            response.close()
            raise _too_large(request)
        if request.method == "HEAD" or "json" not in response.headers.get("content-type", "").lower():
            response.stream = _CountedStream(response.stream, request)
            return response
        return self._checked_json(request, response)

    def _checked_json(self, request: httpx2.Request, response: httpx2.Response) -> httpx2.Response:
        parts: list[bytes] = []
        seen = 0
        try:
            for chunk in response.iter_bytes():  # decompressed, as it arrives
                seen += len(chunk)
                if seen > MAX_ANSWER_BYTES:
                    raise _too_large(request)
                parts.append(chunk)
        finally:
            response.close()
        body = b"".join(parts)
        if body.strip():
            try:
                parse(body, HUB_LIMITS)
            except JsonRefused as exc:
                raise AnswerRefused(f"the Hub's answer to {_where(request)} was refused: {exc}") from None
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _BODY_HEADERS]
        return httpx2.Response(
            response.status_code, headers=headers, content=body, request=request, extensions=response.extensions
        )

    def close(self) -> None:
        self.inner.close()


#: Headers that described the body as it came (compressed, chunked); the body handed on is neither.
_BODY_HEADERS = {"content-encoding", "content-length", "transfer-encoding"}


def commit_of(sha: Any) -> str | None:
    """The commit a Hub answer names, if it is one (40 hex digits); anything else is not used, nor shown."""
    return sha if isinstance(sha, str) and _COMMIT.match(sha) else None


def size_of(size: Any) -> int | None:
    """A file size a Hub answer gives, if it is one (a whole number of bytes up to 1 EiB); else unknown."""
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_BYTES:
        return None
    return size


class _SharedClient(httpx2.Client):
    """The client huggingface_hub shares between threads, left open when the library closes it.

    huggingface_hub closes its shared client on any ``ConnectError`` (``utils._http.http_backoff``), from whichever
    thread met it, and builds a new one for the next request; requests other threads still have in flight on the
    old one then fail with ``[Errno 9] Bad file descriptor`` (a ``serve`` answering two ``--repo`` checks, a
    conversation given up at its deadline that goes on retrying on its worker thread). So ``close`` only drops the
    client: requests under way finish on it, and its connections are released when it is garbage-collected."""

    def close(self) -> None:
        return


def client_factory() -> httpx2.Client:
    """huggingface_hub's own client (its event hooks, redirects followed, no global timeout) over
    ``BoundedTransport``, with at most ``MAX_REDIRECTS`` redirects."""
    from huggingface_hub.utils._http import default_client_factory

    default = default_client_factory()
    hooks = default.event_hooks
    default.close()
    return _SharedClient(
        event_hooks=hooks,
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        timeout=None,
        transport=BoundedTransport(),
    )


def install() -> None:
    """Make huggingface_hub use ``client_factory`` (once per process)."""
    with _installed:
        if _done[0]:
            return
        from huggingface_hub.utils import set_client_factory  # type: ignore[attr-defined]  # public, lazily exported

        set_client_factory(client_factory)
        _done[0] = True
