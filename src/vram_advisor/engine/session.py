"""One ``verify`` run against a server: ask what it runs, stream one bounded completion, measure it.

The order: ``/v1/models`` (which must answer: it is what every OpenAI-compatible server has), then what names the
engine (llama-server's ``/props``, Ollama's ``/api/version``), the engine's own histograms before and after (vLLM,
SGLang ``/metrics``), and the streamed request: ``/v1/completions`` (``/v1/chat/completions`` where that is all the
server has), ``max_tokens`` at most the server's context less the prompt's room, ``ignore_eos`` so the engine
decodes all of them (llama-server, vLLM and SGLang take it; others ignore what they do not know).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from vram_advisor.core.records import Record, dataclass
from vram_advisor.engine import promtext
from vram_advisor.engine.http import Client, EngineError
from vram_advisor.engine.identify import Served, identify
from vram_advisor.engine.sse import Measurement, measure

PROMPT = "Write a long, detailed story about a lighthouse keeper who finds a message in a bottle."
#: Context left for the prompt and the template around it when ``max_tokens`` is cut to the server's context.
PROMPT_ROOM = 64
#: Bytes a streamed token may cost at most, on average (a chunk is ~200-400 bytes of JSON), and the slack beyond.
STREAM_BYTES_PER_TOKEN = 16 * 1024
STREAM_SLACK_BYTES = 1024 * 1024

#: Reads each GPU's memory in use now (None where it cannot be read): NVML, for a server on this machine.
GpuReader = Callable[[], "tuple[int, ...] | None"]


@dataclass(frozen=True, repr=False)
class Observation(Record):
    """What one run saw: the server's own account, the measurement, and GPU memory around it."""

    served: Served
    measurement: Measurement
    tokens_asked: int
    endpoint: str
    gpu_memory_before: tuple[int, ...] | None = None
    gpu_memory_during: tuple[int, ...] | None = None
    notes: tuple[str, ...] = ()


def _json_or_none(client: Client, path: str, notes: list[str]) -> Any:
    """An optional endpoint's JSON: None where the server has no such endpoint or answers something else."""
    try:
        answer = client.get(path)
    except EngineError as exc:
        notes.append(f"{path} not read: {exc.message}")
        return None
    if answer.status != 200:
        return None
    try:
        return answer.json(path)
    except EngineError:
        return None


def _metrics(client: Client, model: str | None) -> promtext.Histograms | None:
    try:
        answer = client.get("/metrics")
    except EngineError:
        return None
    if answer.status != 200:
        return None
    return promtext.histograms(answer.body.decode("utf-8", "replace"), model)


def run(
    client: Client,
    tokens: int,
    wanted_model: str | None = None,
    gpu_memory: GpuReader | None = None,
) -> Observation:
    """Identify the server behind ``client``, stream ``tokens`` tokens (fewer where its context is shorter) and
    measure them. Raises ``EngineError`` where the server does not answer as an engine does."""
    notes: list[str] = []
    models_answer = client.get("/v1/models")
    if models_answer.status != 200:
        raise EngineError(
            f"GET {client.target.url}/v1/models: HTTP {models_answer.status}; not an OpenAI-compatible server there?"
        )
    models = models_answer.json(f"GET {client.target.url}/v1/models")
    props = _json_or_none(client, "/props", notes)
    served = identify(models, props, None, wanted_model)
    if served.engine is None:
        served = identify(models, props, _json_or_none(client, "/api/version", notes), wanted_model)
    if served.models_served == 0:
        raise EngineError(f"GET {client.target.url}/v1/models: the server lists no model")
    if wanted_model is not None and served.request_id != wanted_model:
        raise EngineError(f"--served-model {wanted_model!r}: the server does not list it")
    asked = tokens
    if served.context_tokens is not None:
        room = served.context_tokens - PROMPT_ROOM
        if room < 2:
            raise EngineError(f"the server's context is {served.context_tokens} tokens: too short to measure")
        if room < tokens:
            asked = room
            notes.append(f"--tokens cut to {room} to stay within the server's context ({served.context_tokens})")
    before = _metrics(client, served.request_id) if served.engine in ("vllm", "sglang") else None
    memory_before = gpu_memory() if gpu_memory is not None else None
    measurement, endpoint, memory_during = _stream(client, served, asked, gpu_memory)
    if before is not None:
        after = _metrics(client, served.request_id)
        found = promtext.decode_speed(before, after) if after is not None else None
        if found is not None and measurement.engine_decode_tokens_per_s is None:
            speed, family = found
            measurement = replace(
                measurement, engine_decode_tokens_per_s=speed, engine_source=f"{family} (/metrics, over this request)"
            )
    return Observation(
        served=served,
        measurement=measurement,
        tokens_asked=asked,
        endpoint=endpoint,
        gpu_memory_before=memory_before,
        gpu_memory_during=memory_during,
        notes=tuple(notes),
    )


def _payload(served: Served, tokens: int, chat: bool, extras: bool) -> dict[str, Any]:
    payload: dict[str, Any] = {"max_tokens": tokens, "stream": True, "temperature": 0}
    if served.request_id is not None:
        payload["model"] = served.request_id  # the id as the server wrote it (model_id is cleaned for display)
    if chat:
        payload["messages"] = [{"role": "user", "content": PROMPT}]
    else:
        payload["prompt"] = PROMPT
    if extras:
        payload["ignore_eos"] = True
        payload["stream_options"] = {"include_usage": True}
    return payload


def _stream(
    client: Client, served: Served, tokens: int, gpu_memory: GpuReader | None
) -> tuple[Measurement, str, tuple[int, ...] | None]:
    """Stream from ``/v1/completions``, else ``/v1/chat/completions``; with the request's extras, else without."""
    import time

    tried: list[str] = []
    for path, chat in (("/v1/completions", False), ("/v1/chat/completions", True)):
        for extras in (True, False):
            where = f"POST {client.target.url}{path}"
            sampled: list[tuple[int, ...] | None] = [None]
            sampler: threading.Thread | None = None
            sent_at = time.perf_counter()
            with client.stream(path, _payload(served, tokens, chat, extras)) as (status, lines):
                if status in (404, 405, 501):
                    tried.append(f"{path}: HTTP {status}")
                    break
                if status == 400 and extras:
                    continue  # a server that refuses ignore_eos or stream_options: once more without them
                if status != 200:
                    raise EngineError(f"{where}: HTTP {status}")
                if gpu_memory is not None:  # read off the reading thread, once the decode is under way
                    sampler = threading.Thread(target=_sample, args=(gpu_memory, sampled), daemon=True)
                found = measure(
                    _started(lines, sampler),
                    sent_at,
                    where,
                    max_chunks=tokens * 2 + 16,
                    max_bytes=tokens * STREAM_BYTES_PER_TOKEN + STREAM_SLACK_BYTES,
                    max_tokens=tokens,
                )
                if sampler is not None and sampler.ident is not None:
                    sampler.join(timeout=5)
                return found, path, sampled[0]
    raise EngineError(f"{client.target.url}: no streaming completion endpoint ({'; '.join(tried)})")


def _sample(gpu_memory: GpuReader, sampled: list[tuple[int, ...] | None]) -> None:
    import time

    time.sleep(0.2)
    sampled[0] = gpu_memory()


def _started(lines: Iterator[tuple[float, bytes]], sampler: threading.Thread | None) -> Iterator[tuple[float, bytes]]:
    """The lines as they come, starting ``sampler`` (the GPU memory reading) at the first of them."""
    for count, item in enumerate(lines):
        if count == 0 and sampler is not None:
            sampler.start()
        yield item
