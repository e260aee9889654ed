"""``models import``: a user profile (schema ``vram-advisor/profile/v1``) built from a repo's config and weights.

Input is what ``hub.fetch_model_files`` read: ``config.json`` and the weights' size (``model.safetensors.index.json``
``metadata.total_size``, else the sum of the ``*.safetensors`` files). Output is a profile dict that ``profiles.py``
validates like a packaged one, with one model whose rows are all labelled as derived:

* the checkpoint's precision comes from ``quantization_config`` (FP8, GPTQ/AWQ bits, MXFP4) or ``torch_dtype``;
* each row's weights are the checkpoint's size scaled by bit width (Q4 = FP8 x 4/8), the method of the packaged
  profile's source article (https://www.knightli.com/en/2026/05/01/deepseek-v4-local-vram-quantization-table/: its
  Q6..Q2 rows are the FP8 size scaled so); the row at the checkpoint's own width is the checkpoint as published;
* each row's VRAM figures are its weights x the VRAM-to-weights ratios of the packaged row with the same id
  (``derive.ratios_for``), named in the row's source;
* ``hub_config`` records the geometry read from config.json (layers, experts, attention) and a BF16 KV cache
  estimate per token for that attention type (V4's compressed layers: the vLLM blog "DeepSeek V4 in vLLM"; MLA:
  NVIDIA/TensorRT-LLM#16707);
* when the config has DeepSeek V4's geometry and a packaged profile has the same, that profile's ``architecture``
  (with its sources) is copied, so that context and offload estimates work for the import as for the original.

Pure: the packaged raw JSON comes in as an argument.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from vram_advisor import __version__
from vram_advisor.catalog.derive import ROW_BITS, derived_need, is_experimental, ratios_for
from vram_advisor.catalog.profiles import FAMILY_SCHEMA, Catalog
from vram_advisor.core import units
from vram_advisor.core.errors import HubError, UsageError
from vram_advisor.core.numbers import shown
from vram_advisor.hub.settings import ModelFiles
from vram_advisor.plan.estimate.kv import kv_bytes_per_token, kv_formula, kv_ring_bytes

_MODEL_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
#: The longest ``--id`` (a file name under the user profile folder, and a word in every view).
MAX_MODEL_ID = 120
SOURCE_HUB = "hub"
SOURCE_DERIVED = "hub-derived"


def default_model_id(repo_id: str) -> str:
    """``ORG/NAME`` as a profile id: lower case, ``/`` and anything unusual turned into ``-``."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", repo_id.lower().replace("/", "-")).strip("-.")
    return re.sub(r"-{2,}", "-", slug)


def check_model_id(model_id: str) -> str:
    if len(model_id) > MAX_MODEL_ID:
        raise UsageError(f"--id {shown(model_id)}: an id has at most {MAX_MODEL_ID} characters")
    if not _MODEL_ID.match(model_id):
        raise UsageError(f"--id {shown(model_id)}: use lower-case letters, digits, '.', '_' and '-' (e.g. my-model)")
    return model_id


def checkpoint_bits(config: Mapping[str, Any]) -> tuple[float, str]:
    """Bits per weight of the checkpoint as stored, and how the config says so."""
    quant = config.get("quantization_config")
    quant = quant if isinstance(quant, dict) else {}
    method = str(quant.get("quant_method") or "").lower()
    if method == "fp8":
        if str(config.get("expert_dtype") or "").lower() == "fp4":
            return 8, "FP8 with FP4 routed experts (quantization_config fp8, expert_dtype fp4)"
        return 8, "FP8 (quantization_config fp8)"
    if method == "mxfp4":
        return 4.25, "MXFP4 (quantization_config mxfp4: 4 bits + a shared scale per 32)"
    bits = quant.get("bits")
    if isinstance(bits, int) and not isinstance(bits, bool) and 1 <= bits <= 16:
        return bits, f"{bits}-bit ({method or 'quantization_config'} bits={bits})"
    if quant.get("load_in_4bit"):
        return 4, "4-bit (bitsandbytes load_in_4bit)"
    if quant.get("load_in_8bit"):
        return 8, "8-bit (bitsandbytes load_in_8bit)"
    dtype = str(config.get("torch_dtype") or config.get("dtype") or "").lower()
    if dtype in ("bfloat16", "float16", "bf16", "fp16"):
        return 16, f"16-bit ({dtype})"
    if dtype in ("float32", "fp32"):
        return 32, "32-bit (float32)"
    return 16, f"16-bit assumed (torch_dtype {dtype or 'missing'})"


#: The largest count a config may give (layers, heads, experts, sizes, context tokens): anything larger is corrupt.
MAX_CONFIG_COUNT = 2**40


def _int(config: Mapping[str, Any], *keys: str) -> int | None:
    """The first of ``keys`` that holds an integer: a count, so a negative or absurd one is refused (exit 2)."""
    for key in keys:
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            if not 0 <= value <= MAX_CONFIG_COUNT:
                shown = str(value) if len(str(abs(value))) <= 20 else f"a number of {len(str(abs(value)))} digits"
                raise HubError(f"config.json: {key}: {shown} is not a count (expected 0 to {MAX_CONFIG_COUNT})")
            return value
    return None


def _text_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """Multimodal configs keep the language model's values under ``text_config``."""
    inner = config.get("text_config")
    return inner if isinstance(inner, dict) and "num_hidden_layers" not in config else config


def geometry(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config values the estimates use, and a BF16 KV cache size per token for the attention type found."""
    c = _text_config(config)
    layers = _int(c, "num_hidden_layers", "n_layer", "num_layers")
    heads = _int(c, "num_attention_heads", "n_head")
    hidden = _int(c, "hidden_size", "n_embd", "d_model")
    kv_heads = _int(c, "num_key_value_heads") or heads
    mla = _int(c, "kv_lora_rank") is not None
    head_dim = _int(c, "head_dim") or (hidden // heads if hidden and heads and not mla else None)
    out: dict[str, Any] = {
        "model_type": c.get("model_type") or config.get("model_type"),
        "architectures": config.get("architectures"),
        "layers": layers,
        "hidden_size": hidden,
        "attention_heads": heads,
        "kv_heads": kv_heads,
        "head_dim": head_dim,
        "kv_lora_rank": _int(c, "kv_lora_rank"),
        "qk_rope_head_dim": _int(c, "qk_rope_head_dim"),
        "routed_experts": _int(c, "n_routed_experts", "num_local_experts", "num_experts"),
        "experts_per_token": _int(c, "num_experts_per_tok", "num_experts_per_token", "top_k"),
        "shared_experts": _int(c, "n_shared_experts", "num_shared_experts"),
        "moe_intermediate_size": _int(c, "moe_intermediate_size"),
        "sliding_window": _int(c, "sliding_window"),
        "max_context_tokens": _int(c, "max_position_embeddings", "max_sequence_length"),
    }
    ratios = c.get("compress_ratios")
    if (
        layers
        and isinstance(ratios, list)
        and all(isinstance(x, int) and 0 <= x <= MAX_CONFIG_COUNT for x in ratios)
        and len(ratios) >= layers
    ):
        backbone = ratios[:layers]  # trailing entries belong to the MTP layer(s)
        compressed = sorted({ratio for ratio in backbone if ratio > 0})
        if len(compressed) == 2:  # DeepSeek V4: CSA, the finer ratio (with an indexer), and HCA (vLLM blog)
            out["csa_ratio"], out["hca_ratio"] = compressed
            out["swa_only_layers"] = backbone.count(0)
            out["csa_layers"] = backbone.count(out["csa_ratio"])
            out["hca_layers"] = backbone.count(out["hca_ratio"])
            out["index_head_dim"] = _int(c, "index_head_dim")
            out["index_topk"] = _int(c, "index_topk")
    out.update(_kv_estimate(out))
    return {key: value for key, value in out.items() if value is not None}


#: Bytes per element of the BF16 KV cache the import estimates.
_BF16_BYTES = 2


def _kv_estimate(g: Mapping[str, Any]) -> dict[str, Any]:
    layers, head_dim = g.get("layers"), g.get("head_dim")
    if not layers:
        return {}
    if "csa_layers" in g and head_dim:
        main = head_dim * _BF16_BYTES
        indexer = (g.get("index_head_dim") or 128) * _BF16_BYTES
        window = g.get("sliding_window") or 128
        per_token = kv_bytes_per_token(g["csa_layers"], g["hca_layers"], g["csa_ratio"], g["hca_ratio"], main, indexer)
        return {
            "kv_bf16_bytes_per_token": round(per_token),
            "kv_bf16_fixed_bytes_per_sequence": kv_ring_bytes(layers, window, main),
            "kv_formula": f"DeepSeek V4, per sequence of T tokens: {kv_formula(g['csa_ratio'], g['hca_ratio'], window)}"
            f" with E_main = head_dim x 2 and E_idx = index_head_dim x 2 bytes (the vLLM blog 'DeepSeek V4 in vLLM')",
        }
    if g.get("kv_lora_rank"):
        per_token = layers * (g["kv_lora_rank"] + (g.get("qk_rope_head_dim") or 0)) * _BF16_BYTES
        return {
            "kv_bf16_bytes_per_token": per_token,
            "kv_formula": "MLA: layers x (kv_lora_rank + qk_rope_head_dim) x 2 bytes (NVIDIA/TensorRT-LLM#16707)",
        }
    if g.get("kv_heads") and head_dim:
        return {
            "kv_bf16_bytes_per_token": 2 * layers * g["kv_heads"] * head_dim * _BF16_BYTES,
            "kv_formula": "grouped-query attention: K and V x layers x kv_heads x head_dim x 2 bytes "
            "(an upper bound where some layers use a sliding window)",
        }
    return {}


def _same_geometry(arch: Mapping[str, Any], g: Mapping[str, Any]) -> bool:
    keys = (
        "layers",
        "hidden_size",
        "routed_experts",
        "moe_intermediate_size",
        "csa_layers",
        "hca_layers",
        "csa_ratio",
        "hca_ratio",
    )
    return "csa_layers" in g and all(arch.get(key) == g.get(key) for key in keys)


def _copied_architecture(
    packaged_raw: Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any]]], g: Mapping[str, Any]
) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
    """(model id, architecture, the sources it names) of a packaged V4 model with this geometry, if one exists."""
    for model_id, (model, sources) in sorted(packaged_raw.items()):
        arch = model.get("architecture")
        if isinstance(arch, dict) and _same_geometry(arch, g):
            named = _source_refs(arch)
            return model_id, dict(arch), {key: sources[key] for key in named if key in sources}
    return None


def _source_refs(value: Any) -> set[str]:
    if isinstance(value, dict):
        refs = {v for k, v in value.items() if k in ("source", "params_source") and isinstance(v, str)}
        for item in value.values():
            refs |= _source_refs(item)
        return refs
    if isinstance(value, list):
        return set().union(*(_source_refs(item) for item in value)) if value else set()
    return set()


def weights_of(files: ModelFiles) -> tuple[int, str]:
    """The checkpoint's size and where it was read."""
    if files.index_total_size:
        return files.index_total_size, "model.safetensors.index.json metadata.total_size"
    if files.safetensors_bytes:
        return files.safetensors_bytes, f"the sum of its {files.safetensors_files} *.safetensors files"
    raise HubError(
        f"{files.repo_id}: neither model.safetensors.index.json nor *.safetensors sizes were found, so the weights' "
        "size is unknown"
    )


def build_profile(
    files: ModelFiles,
    catalog: Catalog,
    packaged_raw: Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any]]],
    model_id: str,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The user profile for ``files`` (see the module docstring); ``catalog`` is the packaged one, whose rows lend
    their ratios, and ``packaged_raw`` maps its model ids to (raw model JSON, raw sources JSON)."""
    weights, weights_basis = weights_of(files)
    bits, bits_basis = checkpoint_bits(files.config)
    g = geometry(files.config)
    pin = files.commit or files.revision
    at = f"{files.repo_id}@{pin[:12] if files.commit else pin}"
    name = files.repo_id.rsplit("/", 1)[-1]
    quants: list[dict[str, Any]] = []
    references: list[str] = []
    for row_id, row_bits in ROW_BITS.items():
        if row_bits > bits + 0.5:
            continue  # no row wider than the checkpoint itself
        as_published = abs(row_bits - bits) <= 0.5
        row_weights = weights if as_published else -(-weights * row_bits * 100 // round(bits * 100))
        ratios = ratios_for(catalog, files.repo_id, row_id)
        need = derived_need(row_weights, ratios, row_id)
        weights_text, min_vram_text, safer_vram_text = need.figures
        references.append(f"{row_id}: {ratios.reference}")
        quants.append(
            {
                "id": row_id,
                "label": f"{row_id.upper()} (derived{', checkpoint as published' if as_published else ''})",
                "weights": weights_text,
                "min_vram": min_vram_text,
                "safer_vram": safer_vram_text,
                "best_for": (
                    f"the {files.repo_id} checkpoint as published ({bits_basis})"
                    if as_published
                    else f"a {row_bits}-bit quantization of {files.repo_id}, sized by bit width"
                ),
                "experimental": is_experimental(row_id),
                "derived": True,
                "vram_basis": need.basis,
                "source": SOURCE_DERIVED,
            }
        )
    if not quants:
        raise HubError(f"{files.repo_id}: a {bits:g}-bit checkpoint has no row in the table (fp8 .. q2)")
    model: dict[str, Any] = {
        "id": model_id,
        "name": name,
        "short_name": name,
        "base": bool(re.search(r"(^|[-_])base($|[-_])", name.lower())),
        "hf_repo": files.repo_id,
        "params": {"total": "unknown", "source": SOURCE_HUB},
        "official_weights": {"size": units.weights_text(weights), "note": weights_basis, "source": SOURCE_HUB},
        "hub_config": g,
        "quants": quants,
    }
    sources: dict[str, Any] = {
        SOURCE_HUB: {
            "title": f"Hugging Face Hub: {at} (config.json; {weights_basis})",
            "url": f"{files.endpoint}/{files.repo_id}/tree/{pin}",
            "note": f"read by vram-advisor {__version__} models import from the {files.source}",
        },
        SOURCE_DERIVED: {
            "title": f"Derived from {at}: weights by bit width from the {bits:g}-bit checkpoint, VRAM = weights x the "
            "VRAM-to-weights ratio of a packaged table row",
            "url": f"{files.endpoint}/{files.repo_id}/tree/{pin}",
            "note": "ratios from " + "; ".join(references),
        },
    }
    copied = _copied_architecture(packaged_raw, g)
    if copied is not None:
        twin, arch, arch_sources = copied
        model["architecture"] = arch
        model["architecture_from"] = f"packaged profile {twin} (same layers, experts and attention as config.json)"
        model["params"] = {
            "total": f"{arch.get('params_total_b')}B",
            "active": f"{arch.get('params_active_b')}B",
            "source": arch.get("params_source", SOURCE_HUB),
        }
        sources.update(arch_sources)
    return {
        "schema": FAMILY_SCHEMA,
        "family": "imported",
        "imported": {
            "repo": files.repo_id,
            "revision": files.revision,
            "commit": files.commit,
            "endpoint": files.endpoint,
            "from": files.source,
            "weights_bytes": weights,
            "weights_basis": weights_basis,
            "checkpoint": bits_basis,
            "at": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "by": f"vram-advisor {__version__} models import",
        },
        "sources": sources,
        "models": [model],
    }
