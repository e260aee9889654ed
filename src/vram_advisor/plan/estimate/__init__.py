"""The estimate beyond the table: KV cache for a context length, weights (the table's, the published files', and the
bits-per-weight arithmetic), runtime overheads, and where an option can run (GPU, GPU+RAM, CPU, NVMe) with an upper
bound on its decode speed.

Every figure comes from a profile field (``architecture``, ``bits``, ``published``: profiles/deepseek-v4.json) or a
named constant with its public source (model configs, engine PRs and issues, ggml-common.h). Pure: nothing here
reads the machine. One job per module:

* ``kv``: the V4 KV cache (``kv_cache_bytes``, and the per-token rate ``importer.py`` reuses);
* ``weights``: the weights in use, their routed/other split, the bytes a decoded token reads, and the runtime
  overhead per device (CUDA context, compute buffers, vLLM's own memory);
* ``placement``: the machine as the placements see it, and the GPU and CPU placements with their fits and
  decode-speed bounds; ``offload``: the GPU+RAM and mmap placements, which split the routed experts by layer
  (``layers``); ``where``: every placement of an option and the one to run;
* ``speed``: the calibrated single-stream decode speed of a placement (bandwidth beside a per-token floor), printed
  as a range (the measured runs it is checked against: tests/calibration.py, bench/speeds_table.py);
* ``option``: one option's whole ``Estimate`` and the input checks;
The JSON of an estimate (``estimate --json``, the MCP tool) is ``report.estimate``'s.

The names below are this package's public face; import them from ``vram_advisor.plan.estimate``. Its value classes
are frozen dataclasses with ``eq=False`` (compared by identity): nothing compares them, and the generated
``__eq__``/``__hash__`` would cost every ``check`` start-up about half a millisecond per class.
"""

from __future__ import annotations

from vram_advisor.plan.estimate.kv import KvEstimate, kv_bytes_per_token, kv_cache_bytes, kv_formula, kv_ring_bytes
from vram_advisor.plan.estimate.layers import ExpertSplit, split_experts
from vram_advisor.plan.estimate.offload import hybrid_placement, nvme_placement
from vram_advisor.plan.estimate.option import (
    SERVED_SEQUENCES,
    Estimate,
    assumptions,
    check_context,
    estimate_option,
    estimate_with_weights,
    kv_cache_name,
    kv_dtype_of,
    sizes_of,
)
from vram_advisor.plan.estimate.placement import (
    PLACEMENT_LABELS,
    MachineView,
    Placement,
    cpu_placement,
    even_split_bytes,
    gpu_placement,
    heterogeneity_warning,
    machine_view,
    tensor_parallel_size,
)
from vram_advisor.plan.estimate.speed import (
    MemoryTier,
    SpeedEstimate,
    decode_speed,
    format_rate,
    round_rate,
    serial_estimate_words,
)
from vram_advisor.plan.estimate.weights import (
    CPU_COMPUTE_BYTES,
    CUDA_CONTEXT_BYTES,
    LLAMA_CPP_COMPUTE_BYTES,
    SIZE_WARNING_FRACTION,
    SIZES,
    VLLM_ACTIVATION_BYTES,
    VLLM_DEFAULT_UTILIZATION,
    VLLM_MAX_ADVISED_UTILIZATION,
    VLLM_NON_TORCH_TP1_BYTES,
    VLLM_NON_TORCH_TP_BYTES,
    ActiveBytes,
    Overhead,
    WeightsEstimate,
    active_bytes,
    computed_weights_bytes,
    cpu_overhead,
    gpu_overhead,
    other_weights_bytes,
    weights_estimate,
    weights_in_use,
)
from vram_advisor.plan.estimate.where import PREFERENCE, best_placement, placements
from vram_advisor.plan.machine import PLACEMENT_CPU, PLACEMENT_GPU, PLACEMENT_HYBRID, PLACEMENT_NVME

__all__ = [
    "CPU_COMPUTE_BYTES",
    "CUDA_CONTEXT_BYTES",
    "LLAMA_CPP_COMPUTE_BYTES",
    "PLACEMENT_CPU",
    "PLACEMENT_GPU",
    "PLACEMENT_HYBRID",
    "PLACEMENT_LABELS",
    "PLACEMENT_NVME",
    "PREFERENCE",
    "SERVED_SEQUENCES",
    "SIZES",
    "SIZE_WARNING_FRACTION",
    "VLLM_ACTIVATION_BYTES",
    "VLLM_DEFAULT_UTILIZATION",
    "VLLM_MAX_ADVISED_UTILIZATION",
    "VLLM_NON_TORCH_TP1_BYTES",
    "VLLM_NON_TORCH_TP_BYTES",
    "ActiveBytes",
    "Estimate",
    "ExpertSplit",
    "KvEstimate",
    "MachineView",
    "MemoryTier",
    "Overhead",
    "Placement",
    "SpeedEstimate",
    "WeightsEstimate",
    "active_bytes",
    "assumptions",
    "best_placement",
    "check_context",
    "computed_weights_bytes",
    "cpu_overhead",
    "cpu_placement",
    "decode_speed",
    "estimate_option",
    "estimate_with_weights",
    "even_split_bytes",
    "format_rate",
    "gpu_overhead",
    "gpu_placement",
    "heterogeneity_warning",
    "hybrid_placement",
    "kv_bytes_per_token",
    "kv_cache_bytes",
    "kv_cache_name",
    "kv_dtype_of",
    "kv_formula",
    "kv_ring_bytes",
    "machine_view",
    "nvme_placement",
    "other_weights_bytes",
    "placements",
    "round_rate",
    "serial_estimate_words",
    "sizes_of",
    "split_experts",
    "tensor_parallel_size",
    "weights_estimate",
    "weights_in_use",
]
