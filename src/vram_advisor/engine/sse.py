"""A streamed completion as the client sees it, and the speeds measured from it. Pure: lines and their arrival
times in, a ``Measurement`` out.

The stream is Server-Sent Events as OpenAI-compatible servers write them (``data: {json}`` lines, ``data: [DONE]``
at the end; https://html.spec.whatwg.org/multipage/server-sent-events.html). A chunk with text (``choices[0].text``,
or ``choices[0].delta.content`` / ``reasoning_content`` for a chat stream) is a token as the client sees it.

* First-token time: from sending the request to the first chunk with text.
* Decode speed: the tokens after the first, over the time from the first chunk with text to the last one. The token
  count is the server's own ``usage.completion_tokens`` where it sends one (vLLM and SGLang may put several tokens in
  one chunk), else the chunks with text.
* The engine's own figure where the stream carries it: llama-server's ``timings.predicted_per_second``
  (tools/server/README.md of llama.cpp).

Bounded: a stream with more text chunks than ``max_chunks`` or more bytes than ``max_bytes`` is a server that
streams forever (``EngineError``); an ``error`` object in the stream is the server's own error, quoted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from vram_advisor.core.numbers import shown
from vram_advisor.core.records import Record, dataclass
from vram_advisor.engine.http import EngineError


@dataclass(frozen=True, repr=False)
class Measurement(Record):
    """What one streamed request showed."""

    tokens: int
    chunks: int
    first_token_s: float
    decode_tokens_per_s: float | None
    decode_s: float
    #: The engine's own decode speed for this request, and where it comes from ("llama-server timings")
    engine_decode_tokens_per_s: float | None = None
    engine_source: str | None = None
    engine_tokens: int | None = None
    finish_reason: str | None = None


def _text_of(chunk: dict[str, Any]) -> str:
    choices = chunk.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return ""
    choice = choices[0]
    text = choice.get("text")
    if isinstance(text, str) and text:
        return text
    delta = choice.get("delta")
    if isinstance(delta, dict):
        for key in ("content", "reasoning_content", "reasoning"):
            value = delta.get(key)
            if isinstance(value, str) and value:
                return value
    return ""


def _finish(chunk: dict[str, Any]) -> str | None:
    choices = chunk.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        reason = choices[0].get("finish_reason")
        return reason if isinstance(reason, str) else None
    return None


def _positive(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if 0 < value < 1e9 else None


def measure(
    lines: Iterable[tuple[float, bytes]],
    sent_at: float,
    where: str,
    max_chunks: int,
    max_bytes: int,
    max_tokens: int | None = None,
) -> Measurement:
    """Read a streamed completion's ``lines`` (each with its arrival time) sent at ``sent_at``, and measure it.
    ``max_tokens``, the tokens asked for, bounds the count a server's ``usage`` may claim."""
    first_at: float | None = None
    last_at = 0.0
    chunks = 0
    seen_bytes = 0
    usage_tokens: int | None = None
    timings: dict[str, Any] | None = None
    finish: str | None = None
    seen_lines = 0
    for arrived, raw in lines:
        seen_bytes += len(raw)
        seen_lines += 1
        if seen_lines > 4 * max_chunks + 64:
            raise EngineError(
                f"{where}: the stream went on past {seen_lines - 1:,} lines (a server that streams forever?)"
            )
        if seen_bytes > max_bytes:
            raise EngineError(f"{where}: the stream went on past {max_bytes:,} bytes (a server that streams forever?)")
        line = raw.strip()
        if not line.startswith(b"data:"):
            continue  # blank lines, comments (": ping"), event: and id: fields
        data = line[5:].strip()
        if data == b"[DONE]":
            break
        try:
            chunk = json.loads(data)
        except (ValueError, RecursionError):
            raise EngineError(
                f"{where}: the stream is not JSON events (a line reads {shown(repr(data[:60]))})"
            ) from None
        if not isinstance(chunk, dict):
            raise EngineError(f"{where}: the stream is not JSON events (a line holds no object)")
        error = chunk.get("error")
        if error is not None:
            message = error.get("message") if isinstance(error, dict) else error
            raise EngineError(f"{where}: the server reported an error: {shown(str(message), 160)}")
        if _text_of(chunk):
            chunks += 1
            if chunks > max_chunks:
                raise EngineError(
                    f"{where}: the stream sent more than {max_chunks:,} chunks for the tokens asked (a server that "
                    "streams forever?)"
                )
            if first_at is None:
                first_at = arrived
            last_at = arrived
        finish = _finish(chunk) or finish
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            claimed = usage.get("completion_tokens")
            if isinstance(claimed, int) and not isinstance(claimed, bool):
                usage_tokens = claimed
        if isinstance(chunk.get("timings"), dict):
            timings = chunk["timings"]
    if first_at is None:
        raise EngineError(f"{where}: the stream ended without a token")
    # the server's own count where it is believable: no fewer than the chunks with text, no more than asked
    believable = (
        usage_tokens is not None and chunks <= usage_tokens and (max_tokens is None or usage_tokens <= max_tokens)
    )
    tokens = usage_tokens if believable and usage_tokens is not None else chunks
    decode_s = last_at - first_at
    speed = (tokens - 1) / decode_s if tokens > 1 and decode_s > 0 else None
    engine_speed, engine_tokens = None, None
    if timings is not None:
        engine_speed = _positive(timings.get("predicted_per_second"))
        predicted = timings.get("predicted_n")
        engine_tokens = predicted if isinstance(predicted, int) and not isinstance(predicted, bool) else None
    return Measurement(
        tokens=tokens,
        chunks=chunks,
        first_token_s=first_at - sent_at,
        decode_tokens_per_s=speed,
        decode_s=decode_s,
        engine_decode_tokens_per_s=engine_speed,
        engine_source="llama-server timings.predicted_per_second" if engine_speed is not None else None,
        engine_tokens=engine_tokens,
        finish_reason=finish,
    )
