"""A tiny llama-architecture GGUF with random weights, for end-to-end tests against a real llama-server.

The model is nonsense (seeded random weights) but a complete, loadable llama model: 12 layers, 512 wide,
Q4_0 matrices (about 54 M parameters in 32 MB), with the tokenizer (the 32000-token SentencePiece llama
vocabulary) copied key by key from one of llama.cpp's vocabulary-only GGUFs, models/ggml-vocab-llama-spm.gguf,
which tools/build_llama_server.sh installs into DEST_DIR/vocab/.

It is sized so that llama-server on one CPU thread (`-t 1 -tb 1`) decodes on the order of 150 tokens a
second (about 160 tok/s measured on a 2-core x86-64 VM with AVX2): slow enough that the decode, not the
HTTP streaming, dominates the timing a client sees, fast enough for a test. On one thread the decode time
follows the parameter count more than the bytes, so the matrices are Q4_0 (4.5 bits a weight): more work
per byte of file than f16 or f32 would give.

Needs the `gguf` package (and numpy): `pip install gguf`.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import gguf.quants
import numpy as np

N_LAYER = 12
N_EMBD = 512
N_HEAD = 8  # head dim 64
N_HEAD_KV = 8
N_FF = 1408
MATRIX_TYPE = gguf.GGMLQuantizationType.Q4_0  # every 2-D weight, token_embd included; norms stay f32
CONTEXT_LENGTH = 4096  # n_ctx_train
WEIGHT_SCALE = 0.02  # keeps the residual stream and the logits small and finite
NAME = "tiny-random-llama"


def _copy_tokenizer(writer: gguf.GGUFWriter, vocab_gguf: Path) -> int:
    """Copy every tokenizer.* key of vocab_gguf, with its exact GGUF types; return the vocabulary size."""
    reader = gguf.GGUFReader(vocab_gguf)
    n_vocab = 0
    for key, field in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        vtype = field.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            sub_type = field.types[-1]
            if sub_type == gguf.GGUFValueType.STRING:
                # raw bytes, so that any token that is not valid UTF-8 survives unchanged
                values: list[object] = [bytes(field.parts[i]) for i in field.data]
            else:
                values = field.contents()
            writer.add_key_value(key, values, vtype, sub_type=sub_type)
            if key == "tokenizer.ggml.tokens":
                n_vocab = len(values)
        elif vtype == gguf.GGUFValueType.STRING:
            writer.add_key_value(key, bytes(field.parts[-1]), vtype)
        else:
            writer.add_key_value(key, field.contents(), vtype)
    if n_vocab == 0:
        raise ValueError(f"{vocab_gguf}: no tokenizer.ggml.tokens array")
    return n_vocab


def write_tiny_gguf(path: Path, vocab_gguf: Path, *, seed: int = 0) -> Path:
    """Write the tiny random llama model to `path` (about 32 MB, a few seconds) and return `path`."""
    path = Path(path)
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(path, "llama")

    def add_matrix(name: str, rows: int, cols: int) -> None:
        # numpy (rows, cols) is ggml {cols, rows}: ne0 = cols is the input dimension of a weight
        weights = rng.standard_normal((rows, cols), dtype=np.float32) * WEIGHT_SCALE
        writer.add_tensor(name, gguf.quants.quantize(weights, MATRIX_TYPE), raw_dtype=MATRIX_TYPE)

    def ones(n: int) -> np.ndarray:
        return np.ones(n, dtype=np.float32)

    writer.add_name(NAME)
    writer.add_block_count(N_LAYER)
    writer.add_context_length(CONTEXT_LENGTH)
    writer.add_embedding_length(N_EMBD)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD_KV)
    writer.add_rope_dimension_count(N_EMBD // N_HEAD)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_0)
    n_vocab = _copy_tokenizer(writer, Path(vocab_gguf))
    writer.add_vocab_size(n_vocab)

    # output.weight is omitted: llama.cpp then ties the output projection to token_embd
    add_matrix("token_embd.weight", n_vocab, N_EMBD)
    writer.add_tensor("output_norm.weight", ones(N_EMBD))
    for i in range(N_LAYER):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", ones(N_EMBD))
        add_matrix(f"blk.{i}.attn_q.weight", N_EMBD, N_EMBD)
        add_matrix(f"blk.{i}.attn_k.weight", N_EMBD // N_HEAD * N_HEAD_KV, N_EMBD)
        add_matrix(f"blk.{i}.attn_v.weight", N_EMBD // N_HEAD * N_HEAD_KV, N_EMBD)
        add_matrix(f"blk.{i}.attn_output.weight", N_EMBD, N_EMBD)
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", ones(N_EMBD))
        add_matrix(f"blk.{i}.ffn_gate.weight", N_FF, N_EMBD)
        add_matrix(f"blk.{i}.ffn_up.weight", N_FF, N_EMBD)
        add_matrix(f"blk.{i}.ffn_down.weight", N_EMBD, N_FF)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
