"""Which engine and model a server runs, from what it says about itself. Pure: parsed answers in, ``Served`` out.

* llama-server: ``GET /props`` (``default_generation_settings.n_ctx``, ``model_path``, ``build_info``) and
  ``/v1/models`` (``owned_by: "llamacpp"``, ``meta``: ``n_params``, ``size`` in bytes, ``n_ctx_train``)
  (llama.cpp tools/server/README.md);
* vLLM: ``/v1/models`` with ``owned_by: "vllm"``, ``root`` and ``max_model_len`` (vllm ``ModelCard``);
* SGLang: ``owned_by: "sglang"`` (and ``max_model_len``);
* Ollama: ``owned_by: "library"`` or ``GET /api/version``; LM Studio: ``owned_by: "organization_owner"``;
  ktransformers: ``owned_by: "ktransformers"``.

Every text a server sends is cut and cleaned before it is kept (it is printed later).
"""

from __future__ import annotations

from typing import Any

from vram_advisor.core.jsonread import clean_text
from vram_advisor.core.records import Record, dataclass

#: ``owned_by`` of ``/v1/models`` -> the engine's name.
OWNERS = {
    "vllm": "vllm",
    "sglang": "sglang",
    "llamacpp": "llama.cpp",
    "library": "ollama",
    "ollama": "ollama",
    "organization_owner": "lm-studio",
    "ktransformers": "ktransformers",
}
#: The longest text kept of anything a server says.
TEXT_CHARS = 200
#: The longest served id sent back to the server as it wrote it.
MAX_ID_CHARS = 4096


@dataclass(frozen=True, repr=False)
class Served(Record):
    """What a server says it runs."""

    engine: str | None
    model_id: str | None
    engine_version: str | None = None
    root: str | None = None
    path: str | None = None
    context_tokens: int | None = None
    size_bytes: int | None = None
    n_params: int | None = None
    models_served: int = 0
    evidence: tuple[str, ...] = ()
    #: the served id as the server wrote it, sent back in requests (``model_id`` is cut and cleaned for display)
    request_id: str | None = None


def _text(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return clean_text(value.strip()[:TEXT_CHARS])


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if value != value or not 0 < value < 2**63:
        return None
    return int(value)


def _models(models: Any) -> list[dict[str, Any]]:
    if isinstance(models, dict):
        data = models.get("data")
        if isinstance(data, list):
            return [item for item in data if isinstance(item, dict)]
        listed = models.get("models")  # Ollama's /v1/models is OpenAI's; its /api/tags lists "models"
        if isinstance(listed, list):
            return [item for item in listed if isinstance(item, dict)]
    return []


def identify(models: Any, props: Any = None, version: Any = None, wanted: str | None = None) -> Served:
    """The engine and model from ``/v1/models`` (``models``), llama-server's ``/props`` (``props``) and Ollama's
    ``/api/version`` (``version``), each None where the server did not answer it; ``wanted`` picks a served model
    by id (else the first)."""
    evidence: list[str] = []
    listed = _models(models)
    entry = next((item for item in listed if wanted is not None and item.get("id") == wanted), None)
    if entry is None:
        entry = listed[0] if listed else {}
    raw_id = entry.get("id")
    engine = None
    owner = _text(entry.get("owned_by"))
    if owner is not None and owner.lower() in OWNERS:
        engine = OWNERS[owner.lower()]
        evidence.append(f'/v1/models owned_by "{owner}"')
    engine_version = None
    path = None
    context = _count(entry.get("max_model_len"))
    if context is not None:
        evidence.append("/v1/models max_model_len")
    found_meta = entry.get("meta")
    meta: dict[str, Any] = found_meta if isinstance(found_meta, dict) else {}
    if isinstance(props, dict) and (
        "default_generation_settings" in props or "build_info" in props or "total_slots" in props
    ):
        engine = "llama.cpp"
        evidence.append("/props (llama-server)")
        engine_version = _text(props.get("build_info"))
        path = _text(props.get("model_path"))
        settings = props.get("default_generation_settings")
        if isinstance(settings, dict):
            context = _count(settings.get("n_ctx")) or context
        context = context or _count(props.get("n_ctx"))
    if isinstance(version, dict) and _text(version.get("version")) and engine in (None, "ollama"):
        engine = "ollama"
        engine_version = _text(version.get("version"))
        evidence.append("/api/version (Ollama)")
    return Served(
        engine=engine,
        model_id=_text(entry.get("id")),
        engine_version=engine_version,
        root=_text(entry.get("root")),
        path=path,
        context_tokens=context,
        size_bytes=_count(meta.get("size")),
        n_params=_count(meta.get("n_params")),
        models_served=len(listed),
        evidence=tuple(evidence),
        request_id=raw_id if isinstance(raw_id, str) and 0 < len(raw_id) <= MAX_ID_CHARS else None,
    )
