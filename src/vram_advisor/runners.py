"""From verdict to running it: the command line that would run an option here, so the estimate can be checked.

* GPU-resident FP8 checkpoints: vLLM (>= 0.20.0) with the flags the V4 recipes require (``--kv-cache-dtype fp8``,
  ``--block-size 256``, ``--trust-remote-code``), ``--tensor-parallel-size`` from the GPU count (plus
  ``--enable-expert-parallel``, the recipes' default TP+EP strategy), ``--max-model-len`` from the context, and the
  Blackwell FP4 indexer cache on compute capability 10+.
* GGUF quantizations and every offload plan: llama.cpp's ``llama-server`` with ``-c`` (context), ``-ngl`` (layers
  on the GPU) and ``-ot exps=CPU`` (routed experts in RAM), plus ``--tensor-split`` on GPUs of different sizes.

Engine facts are from shared/reference/deepseek-v4-facts.md §1.7 and §6 and the vLLM recipes; ``ENGINES`` names the
versions they were checked against. Pure: builds strings, runs nothing.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vram_advisor import units
from vram_advisor.estimate import (
    ALL_LAYERS,
    PLACEMENT_CPU,
    PLACEMENT_HYBRID,
    PLACEMENT_NVME,
    VLLM_DEFAULT_UTILIZATION,
    VLLM_MAX_ADVISED_UTILIZATION,
    Estimate,
    Placement,
)

if TYPE_CHECKING:
    from vram_advisor.architecture import PublishedFile


@dataclass(frozen=True)
class EngineFacts:
    """An engine, the version the command needs, and what the flags were checked against."""

    name: str
    min_version: str
    checked_against: str

    @property
    def requirement(self) -> str:
        """What to install, in words: "vLLM >= 0.20.0", "llama.cpp with ..."."""
        if self.min_version[:1].isdigit():
            return f"{self.name} >= {self.min_version}"
        return f"{self.name}, {self.min_version}"


ENGINES: dict[str, EngineFacts] = {
    "vllm": EngineFacts(
        "vLLM",
        "0.20.0",
        "vllm-project/recipes DeepSeek-V4-Flash.yaml and DeepSeek-V4-Pro.yaml (min_vllm_version 0.20.0; base_args "
        "--trust-remote-code --kv-cache-dtype fp8 --block-size 256; Blackwell: "
        "--attention_config.use_fp4_indexer_cache=True); KV accounting seen in vLLM 0.26.0 (issue #51041); "
        "deepseek-v4-facts.md §1.7",
    ),
    "llama.cpp": EngineFacts(
        "llama.cpp",
        "a build with upstream DeepSeek V4 support (PR #24162, llama-kv-cache-dsv4.cpp)",
        "llama.cpp PR #24162 (merged) and issue #27680 (BF16 V4 cache logs); -ot exps=CPU for routed experts "
        "(deepseek-v4-facts.md §6; LM Studio #2235 ran V4-Flash that way at ~17 GB VRAM); llama-server -hf REPO:TAG",
    ),
}

#: llama.cpp's tensor override that keeps routed-expert tensors (``blk.N.ffn_{gate,up,down}_exps``) in RAM; shared
#: experts (``ffn_*_shexp``) do not match (deepseek-v4-facts.md §6).
EXPERTS_TO_CPU = "exps=CPU"


@dataclass(frozen=True)
class RunCommand:
    """The command (and download step) that would run a placement here."""

    engine: str
    placement: str
    repo: str | None
    download: str | None
    command: str
    notes: tuple[str, ...]

    @property
    def facts(self) -> EngineFacts:
        return ENGINES[self.engine]


def _join(parts: list[str]) -> str:
    return " ".join(shlex.quote(part) for part in parts)


def _cc_majors(estimate: Estimate) -> list[int] | None:
    """The compute-capability major versions of the GPUs, or None when any is unknown."""
    machine = estimate.machine
    if machine is None or not machine.gpus:
        return None
    majors = []
    for gpu in machine.gpus:
        try:
            majors.append(int((gpu.compute_capability or "").split(".")[0]))
        except ValueError:
            return None
    return majors


def _blackwell(estimate: Estimate) -> bool:
    majors = _cc_majors(estimate)
    return bool(majors) and min(majors or [0]) >= 10


def vllm_utilization(placement: Placement) -> float:
    """``--gpu-memory-utilization``: the default 0.92 unless the estimate needs more of each GPU (rounded up)."""
    if placement.budget_bytes is None or placement.gpus_used <= 0 or placement.budget_bytes <= 0:
        return VLLM_DEFAULT_UTILIZATION
    needed = math.ceil(placement.gpu_bytes / placement.budget_bytes * 100) / 100
    return max(VLLM_DEFAULT_UTILIZATION, min(needed, 0.99))


def vllm_command(estimate: Estimate, placement: Placement) -> RunCommand:
    repo = estimate.model.hf_repo or estimate.model.name
    tp = max(1, placement.gpus_used)
    util = vllm_utilization(placement)
    parts = [
        "vllm",
        "serve",
        repo,
        "--trust-remote-code",
        "--kv-cache-dtype",
        "fp8",
        "--block-size",
        "256",
        "--tensor-parallel-size",
        str(tp),
    ]
    if tp > 1:
        parts.append("--enable-expert-parallel")
    parts += ["--max-model-len", str(estimate.context_tokens), "--gpu-memory-utilization", f"{util:.2f}"]
    notes = [f"vLLM >= {ENGINES['vllm'].min_version}; it downloads {repo} from the Hugging Face Hub itself"]
    if _blackwell(estimate):
        parts.append("--attention_config.use_fp4_indexer_cache=True")
    if util > VLLM_MAX_ADVISED_UTILIZATION:
        notes.append(f"the estimate needs --gpu-memory-utilization {util:.2f}, above the advised 0.97: expect OOM")
    majors = _cc_majors(estimate) or []
    if 12 in majors:
        notes.append(
            "SM120 GPUs (RTX 5090 / RTX PRO 6000) were not supported by V4's vLLM kernels at first "
            "(vLLM issues #40802, #40821): check your vLLM build"
        )
    if any(major < 8 for major in majors):
        notes.append("V4's FP4 MoE path needs compute capability 8.0 or newer (V100 is unsupported)")
    return RunCommand("vllm", placement.kind, repo, f"hf download {repo}", _join(parts), tuple(notes))


def _gguf_source(estimate: Estimate) -> tuple[PublishedFile | None, list[str]]:
    first = next((item for item in estimate.quant.published if item.repo), None)
    notes: list[str] = []
    if first is None:
        bits = estimate.quant.bits
        fmt = bits.format if bits is not None else estimate.quant.label
        notes.append(
            f"no published GGUF of {estimate.model.name} {estimate.quant.id.upper()} is in the profile: convert the "
            f"checkpoint with llama.cpp's convert_hf_to_gguf.py (PR #22359) and llama-quantize to {fmt}"
        )
    return first, notes


def llama_cpp_command(estimate: Estimate, placement: Placement) -> RunCommand:
    notes: list[str] = []
    source: PublishedFile | None = None
    if estimate.quant.bits is not None and estimate.quant.bits.engine == "vllm":
        notes.append(
            "llama.cpp needs a GGUF conversion of the FP4+FP8 checkpoint (convert_hf_to_gguf.py, PR #22359); "
            "ktransformers runs the checkpoint itself with experts in RAM (kvcache-ai/ktransformers #2001)"
        )
        model_arg = ["-m", f"{estimate.model.name}-native.gguf"]
        download = f"hf download {estimate.model.hf_repo}" if estimate.model.hf_repo else None
        repo = estimate.model.hf_repo
    else:
        source, more = _gguf_source(estimate)
        notes += more
        repo = source.repo if source is not None else None
        if source is not None and source.hf_tag and source.repo:
            model_arg = ["-hf", f"{source.repo}:{source.hf_tag}"]
            download = None
            notes.append(f"llama-server downloads {source.name} ({source.stated}) itself")
        elif source is not None and source.repo:
            folder = f"models/{source.repo.split('/')[-1]}"
            include = ["--include", source.include] if source.include else []
            download = _join(["hf", "download", source.repo, *include, "--local-dir", folder])
            model_arg = ["-m", f"{folder}/FILE.gguf"]
            notes.append(f"point -m at the downloaded {source.name} ({source.stated}; the first shard if split)")
        else:
            download = None
            model_arg = ["-m", f"{estimate.model.name}-{estimate.quant.id.upper()}.gguf"]
    parts = ["llama-server", *model_arg, "-c", str(estimate.context_tokens)]
    if placement.kind == PLACEMENT_CPU or (placement.kind == PLACEMENT_NVME and placement.gpus_used == 0):
        parts += ["-ngl", "0"]
    else:
        parts += ["-ngl", str(ALL_LAYERS)]
    if placement.kind in (PLACEMENT_HYBRID, PLACEMENT_NVME) and placement.gpus_used > 0:
        parts += ["-ot", EXPERTS_TO_CPU]
    machine = estimate.machine
    if machine is not None and machine.heterogeneous and placement.gpus_used > 1:
        split = ",".join(str(max(1, round(cap / units.GIB))) for cap in machine.capacities)
        parts += ["--tensor-split", split]
        notes.append("--tensor-split gives each GPU a share in proportion to its memory")
    if placement.kind == PLACEMENT_NVME:
        notes.append(
            "llama.cpp maps the file (mmap, its default): leave out --no-mmap and --mlock so the disk serves "
            "what the RAM cannot hold"
        )
    return RunCommand("llama.cpp", placement.kind, repo, download, _join(parts), tuple(notes))


def run_command(estimate: Estimate, placement: Placement) -> RunCommand:
    """The command for ``placement`` of ``estimate``: vLLM for an all-GPU FP8 checkpoint, llama.cpp otherwise."""
    if placement.engine == "vllm":
        return vllm_command(estimate, placement)
    return llama_cpp_command(estimate, placement)


def run_dict(estimate: Estimate, placement: Placement | None) -> dict[str, Any] | None:
    """The run command as JSON (None without a placement)."""
    if placement is None:
        return None
    command = run_command(estimate, placement)
    facts = command.facts
    return {
        "engine": facts.name,
        "placement": command.placement,
        "engine_version": facts.min_version,
        "requires": facts.requirement,
        "checked_against": facts.checked_against,
        "repo": command.repo,
        "download": command.download,
        "command": command.command,
        "notes": list(command.notes),
    }
