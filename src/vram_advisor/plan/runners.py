"""From verdict to running it: the command line that would run an option here, so the estimate can be checked.

* GPU-resident FP8 checkpoints: vLLM (>= 0.20.0) with the flags the V4 recipes require (``--kv-cache-dtype fp8``,
  ``--block-size 256``, ``--trust-remote-code``), ``--tensor-parallel-size`` from the GPU count (plus
  ``--enable-expert-parallel``, the recipes' default TP+EP strategy), ``--max-model-len`` from the context, and the
  MXFP4 indexer cache only on datacenter Blackwell (sm_10x: B200, B300, GB200, GB300), spelled as current vLLM
  takes it (``FP4_INDEXER_FLAG``); vLLM refuses it on sm_12x (RTX PRO 6000, RTX 5090, GB10).
* GGUF quantizations and every offload plan: llama.cpp's ``llama-server`` with ``-c`` (context), ``-np`` (parallel
  sequences: ``SERVED_SEQUENCES``, the sequences the KV estimate is for), ``-ngl`` (layers on the GPU) and ``-ot
  exps=CPU`` (routed experts in RAM), plus ``--tensor-split`` on GPUs of different sizes. The model is the published
  file itself: ``-hf REPO:TAG``, or the downloaded file by its real (first-shard) name; never a placeholder.

A command must be able to load what it names. The file a command loads (a published GGUF, or the checkpoint) can be
far larger than the table's weights (Flash Q4: a 155 GB GGUF against the table's 80 GB), so the placement is judged
again with that file as the weights (``runnable``): where it no longer fits, the command uses the first placement
that does (GPUs + RAM with ``-ot exps=CPU`` where the spare RAM holds the routed experts, else CPU only, else mmap
from the disk) and says why; where none fits, there is no command, only that sentence.

Engine facts are from shared/reference/deepseek-v4-facts.md §1.7 and §6 and the vLLM recipes; ``ENGINES`` names the
versions they were checked against. Pure: builds strings, runs nothing. (Its dataclasses, like the estimate's,
are compared by identity, ``eq=False``, to keep ``check``'s start-up cheap.)
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vram_advisor.core import units
from vram_advisor.core.records import Record
from vram_advisor.plan.estimate import (
    PLACEMENT_CPU,
    PLACEMENT_GPU,
    PLACEMENT_HYBRID,
    PLACEMENT_NVME,
    PREFERENCE,
    SERVED_SEQUENCES,
    VLLM_DEFAULT_UTILIZATION,
    VLLM_MAX_ADVISED_UTILIZATION,
    Estimate,
    Placement,
    estimate_with_weights,
)

if TYPE_CHECKING:
    from vram_advisor.catalog.architecture import PublishedFile


@dataclass(frozen=True, eq=False, repr=False)
class EngineFacts(Record):
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
        "--trust-remote-code --kv-cache-dtype fp8 --block-size 256; Blackwell: FP4 indexer cache); vLLM PR #52550 "
        "(attention_config.indexer_kv_dtype replaces use_fp4_indexer_cache; mxfp4 only on sm_10x); KV accounting "
        "seen in vLLM 0.26.0 (issue #51041); deepseek-v4-facts.md §1.7",
    ),
    "llama.cpp": EngineFacts(
        "llama.cpp",
        "a build with upstream DeepSeek V4 support (PR #24162, llama-kv-cache-dsv4.cpp)",
        "llama.cpp PR #24162 (merged) and issue #27680 (V4 cache in f16, 1024 B per cell and layer); -ot exps=CPU for "
        "routed experts (deepseek-v4-facts.md §6; LM Studio #2235 ran V4-Flash that way at ~17 GB VRAM); llama-server "
        "-hf REPO:TAG, -np (its default is 4 parallel slots: llama.cpp #22319 log)",
    ),
}

#: llama.cpp's "all layers on the GPU" value of ``-ngl`` (any number above the layer count does).
ALL_LAYERS = 99

#: vLLM's MXFP4 indexer cache (68 B instead of 132 B per indexer row): ``attention_config.indexer_kv_dtype`` since
#: vLLM PR #52550 (merged 2026-08-16), which deprecated the recipes' ``--attention_config.use_fp4_indexer_cache=True``
#: (it maps True to "mxfp4"). vLLM raises "indexer_kv_dtype='mxfp4' requires Blackwell datacenter GPUs (sm_10x, e.g.
#: B200/GB200); sm_120 (consumer Blackwell) and earlier architectures are not supported"
#: (vllm/v1/attention/backends/mla/indexer.py), so it is given only where every GPU is sm_10x.
FP4_INDEXER_FLAG = "--attention_config.indexer_kv_dtype=mxfp4"
FP4_INDEXER_FLAG_BEFORE_52550 = "--attention_config.use_fp4_indexer_cache=True"

#: What a GPU older than sm_80 (V100 is sm_70) cannot do (deepseek-v4-facts.md §1.7; 1CatAI/1Cat-vLLM #82).
V100_NOTE = (
    "V100 (SM70) cannot run the FP4 path in vLLM: V4's FP4 MoE experts need compute capability 8.0 or newer "
    "(1CatAI/1Cat-vLLM #82)"
)

#: How each placement runs, in the sentence that explains a change of placement.
PLACEMENT_WORDS = {
    PLACEMENT_GPU: "all on the GPUs",
    PLACEMENT_HYBRID: "with the routed experts in RAM (-ot exps=CPU)",
    PLACEMENT_CPU: "on the CPU alone",
    PLACEMENT_NVME: "with the routed experts mapped from the disk (mmap)",
}

#: llama.cpp's tensor override that keeps routed-expert tensors (``blk.N.ffn_{gate,up,down}_exps``) in RAM; shared
#: experts (``ffn_*_shexp``) do not match (deepseek-v4-facts.md §6).
EXPERTS_TO_CPU = "exps=CPU"


#: DeepSeek-V4.1-Flash (profiles/deepseek-v41-flash.json): its engine facts beside V4's. The vLLM recipe
#: (models/deepseek-ai/DeepSeek-V4.1-Flash.yaml): vLLM >= 0.30.0 from the image, ``--tokenizer-mode deepseek_v41``;
#: engram tables on disk need an engine that keeps them there (sparkring PR #261's patches, oMLX, colibri).
V41_VLLM_NOTE = (
    "vLLM >= 0.30.0 from the image vllm/vllm-openai:deepseekv41-flash-0909 (no pip wheel serves V4.1; vLLM recipe "
    "DeepSeek-V4.1-Flash.yaml); it downloads deepseek-ai/DeepSeek-V4.1-Flash from the Hugging Face Hub itself"
)
V41_ENGRAM_NOTE = (
    "the plan keeps the engram tables on NVMe: stock vLLM loads them into GPU memory; the Engram-on-disk patches "
    "of sparkring PR #261 (or SGLang's DS4.1 profile with NVMe Engram, oMLX, colibri) keep them on disk"
)
V41_LLAMA_NOTE = (
    "DeepSeek-V4.1 needs a llama.cpp build with PR #28696 (open) or ik_llama.cpp PR #2455; -ot engram_embd=CPU "
    "leaves the engram tables in the mapped file, read from the disk as n-grams need them"
)
#: llama.cpp's tensor override that keeps V4.1's engram tables (``blk.N.engram_embd``) off the GPU.
ENGRAM_TO_CPU = "engram_embd=CPU"


def _is_v41(estimate: Estimate) -> bool:
    arch = estimate.model.architecture
    return arch is not None and arch.model_type == "deepseek_v41"


@dataclass(frozen=True, eq=False, repr=False)
class RunCommand(Record):
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


class Unquoted(str):
    """A command-line word left for the shell to expand (a file pattern the download step fills)."""

    __slots__ = ()


def _join(parts: list[str]) -> str:
    return " ".join(part if isinstance(part, Unquoted) else shlex.quote(part) for part in parts)


def first_shard(source: PublishedFile) -> str | None:
    """The real name of the first (or only) file of a published GGUF, where the profile gives it: its include
    pattern when that is a file name rather than a pattern."""
    named = getattr(source, "first_file", None)  # the profile's first-shard name, where the catalogue carries one
    if isinstance(named, str) and named:
        return named
    include = source.include
    if include and include.endswith(".gguf") and not any(char in include for char in "*?["):
        return include
    return None


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


def _datacenter_blackwell(estimate: Estimate) -> bool:
    """Every GPU is sm_10x (B200, B300, GB200, GB300): where vLLM takes the MXFP4 indexer cache."""
    majors = _cc_majors(estimate)
    return bool(majors) and all(major == 10 for major in majors or [])


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
    if _is_v41(estimate):  # the V4.1 recipe's base_args: --tokenizer-mode deepseek_v41, not V4's flags
        parts[3:8] = ["--tokenizer-mode", "deepseek_v41", "--kv-cache-dtype", "fp8"]
        notes = [V41_VLLM_NOTE, V41_ENGRAM_NOTE]
        arch = estimate.model.architecture
        if arch is not None and arch.attention_heads is None:
            notes.append(
                f"the profile does not know the attention head count (not in the sources): --tensor-parallel-size "
                f"{tp} is not checked against it (the recipe verifies TP4 and TP8)"
            )
    majors = _cc_majors(estimate) or []
    if _datacenter_blackwell(estimate):
        parts.append(FP4_INDEXER_FLAG)
        notes.append(
            f"{FP4_INDEXER_FLAG}: the MXFP4 indexer cache (datacenter Blackwell only); vLLM builds before PR #52550 "
            f"spell it {FP4_INDEXER_FLAG_BEFORE_52550}"
        )
    elif 12 in majors:
        notes.append(
            "no FP4 indexer cache: vLLM refuses indexer_kv_dtype=mxfp4 on sm_12x (RTX PRO 6000, RTX 5090, GB10); "
            "the FP8 indexer cache is used"
        )
    if util > VLLM_MAX_ADVISED_UTILIZATION:
        notes.append(f"the estimate needs --gpu-memory-utilization {util:.2f}, above the advised 0.97: expect OOM")
    if 12 in majors:
        notes.append(
            "SM120 GPUs (RTX 5090 / RTX PRO 6000) were not supported by V4's vLLM kernels at first "
            "(vLLM issues #40802, #40821): check your vLLM build"
        )
    if any(major < 8 for major in majors):
        notes.append(V100_NOTE)
    return RunCommand("vllm", placement.kind, repo, f"hf download {repo}", _join(parts), tuple(notes))


def loaded_file(estimate: Estimate) -> PublishedFile | None:
    """The published file the command for ``estimate`` loads, where the profile knows one: the model's own
    checkpoint for a vLLM quantization (which a GGUF conversion also starts from), else the first published GGUF
    with a repository."""
    bits = estimate.quant.bits
    if bits is not None and bits.engine == "vllm":
        repo = estimate.model.hf_repo
        return next((item for item in estimate.quant.published if repo and item.repo == repo), None)
    return next((item for item in estimate.quant.published if item.repo), None)


def loaded_size(estimate: Estimate) -> tuple[int, str, str] | None:
    """The bytes the command loads, as a weights basis and in words: the published file (``loaded_file``); else
    the GGUF (or checkpoint) the user makes, sized by its bits per weight; None when neither is known."""
    file = loaded_file(estimate)
    if file is not None:
        return file.size_bytes, "published", f"{file.name} ({file.stated}), the file the command loads,"
    computed = estimate.weights.computed_bytes
    if computed is None:
        return None
    return (
        computed,
        "computed",
        f"the {estimate.model.name} {estimate.quant.id.upper()} weights the command loads "
        f"({units.format_file_gb(computed)} by their bits per weight)",
    )


def runnable(estimate: Estimate, placement: Placement) -> tuple[Estimate, Placement | None, str | None]:
    """What a command for ``placement`` can load: the estimate again with what the command loads as the weights
    (``loaded_size``), the placement to use (``placement`` itself while it still fits or nothing is known of the
    machine; else the first fitting one in ``PREFERENCE`` order; None when none fits), and the sentence that says
    why it changed."""
    size = loaded_size(estimate)
    loaded = estimate_with_weights(estimate, size[0], size[1]) if size is not None else estimate
    same = next((p for p in loaded.placements if p.kind == placement.kind), placement)
    if same.fits is not False:
        return loaded, same, None
    what = size[2] if size is not None else f"{estimate.model.id} {estimate.quant.id}"
    alternative = loaded.best
    if alternative is None:
        reasons = "; ".join(f"{PLACEMENT_WORDS[p.kind]}: {p.reason}" for p in loaded.placements)
        return loaded, None, f"{what} fits no placement on this machine, so there is no command to run: {reasons}"
    rank = PREFERENCE.index(alternative.kind)
    passed_over = [
        p for p in loaded.placements if p.kind != same.kind and p.fits is False and PREFERENCE.index(p.kind) < rank
    ]
    why = f"{what} cannot go {PLACEMENT_WORDS[same.kind]} here: {same.reason}"
    why += "".join(f"; nor {PLACEMENT_WORDS[p.kind]}: {p.reason}" for p in passed_over)
    why += f". The command runs it {PLACEMENT_WORDS[alternative.kind]} instead: {alternative.reason}"
    return loaded, alternative, why


def _disk_note(estimate: Estimate, file: PublishedFile | None) -> str | None:
    """A note when the disk the weights go to has less room than the file (unless it is there already)."""
    disk = estimate.machine.disk if estimate.machine is not None else None
    if file is None or disk is None or disk.free_bytes is None or disk.free_bytes >= file.size_bytes:
        return None
    return (
        f"the download needs {units.format_file_gb(file.size_bytes)} of disk; {disk.path} has "
        f"{units.format_file_gb(disk.free_bytes)} free (unless the file is there already)"
    )


def _gguf_source(estimate: Estimate) -> tuple[PublishedFile | None, list[str]]:
    first = loaded_file(estimate)
    notes: list[str] = []
    if first is None:
        bits = estimate.quant.bits
        fmt = bits.format if bits is not None else estimate.quant.label
        notes.append(
            f"no published GGUF of {estimate.model.name} {estimate.quant.id.upper()} is in the profile: convert the "
            f"checkpoint with llama.cpp's convert_hf_to_gguf.py (PR #22359) and llama-quantize to {fmt}"
        )
        other = next((f for f in estimate.quant.published_all if f.repo and f.release != estimate.model.release), None)
        if other is not None:
            notes.append(
                f"the {other.release} release's {other.name} ({other.stated}, {other.repo}) has the same architecture: "
                f"--release {other.release} plans on it"
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
            first = first_shard(source)
            if first is not None:
                model_arg = ["-m", f"{folder}/{first}"]
            elif source.include and source.include.endswith(".gguf"):
                model_arg = ["-m", Unquoted(f"{folder}/{source.include}")]
                notes.append(f"the shell expands -m to the downloaded {source.name} ({source.stated})")
            else:
                model_arg, download = ["-hf", source.repo], None
                notes.append(
                    f"the profile names no file of {source.name} ({source.stated}) in {source.repo}: llama-server "
                    "takes the repository's default GGUF; add --hf-file with the file you want"
                )
        else:
            download = None
            model_arg = ["-m", f"{estimate.model.name}-{estimate.quant.id.upper()}.gguf"]
    parts: list[str] = ["llama-server", *model_arg, "-c", str(estimate.context_tokens), "-np", str(SERVED_SEQUENCES)]
    notes.append(
        f"-np {SERVED_SEQUENCES}: {SERVED_SEQUENCES} sequence, the one the KV estimate is for (llama-server's "
        "default is 4 parallel slots)"
    )
    if placement.kind == PLACEMENT_CPU or (placement.kind == PLACEMENT_NVME and placement.gpus_used == 0):
        parts += ["-ngl", "0"]
    else:
        parts += ["-ngl", str(ALL_LAYERS)]
    if placement.kind in (PLACEMENT_HYBRID, PLACEMENT_NVME) and placement.gpus_used > 0:
        parts += ["-ot", EXPERTS_TO_CPU]
    if _is_v41(estimate):
        parts += ["-ot", ENGRAM_TO_CPU]
        notes.append(V41_LLAMA_NOTE)
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


def _loads_dict(estimate: Estimate) -> dict[str, Any] | None:
    """What the command loads, as JSON: its size and basis, and the published file where there is one."""
    size = loaded_size(estimate)
    if size is None:
        return None
    file = loaded_file(estimate)
    return {
        "bytes": size[0],
        "basis": size[1],
        "name": file.name if file is not None else None,
        "stated": file.stated if file is not None else None,
        "repo": file.repo if file is not None else None,
    }


def run_dict(estimate: Estimate, placement: Placement | None) -> dict[str, Any] | None:
    """The run command as JSON (None without a placement). ``placement`` is the one the caller would run; the
    command uses ``runnable``'s instead, and ``command`` is null where the loaded file fits no placement here
    (``warning`` then says why, and what each placement lacks)."""
    if placement is None:
        return None
    loaded, chosen, warning = runnable(estimate, placement)
    file = loaded_file(estimate)
    if chosen is None:
        facts = ENGINES[placement.engine]
        return {
            "engine": facts.name,
            "placement": None,
            "engine_version": facts.min_version,
            "requires": facts.requirement,
            "checked_against": facts.checked_against,
            "repo": file.repo if file is not None else None,
            "download": None,
            "command": None,
            "fits": False,
            "loads": _loads_dict(estimate),
            "warning": warning,
            "notes": [],
        }
    command = run_command(loaded, chosen)
    facts = command.facts
    notes = list(command.notes)
    disk_note = _disk_note(estimate, file)
    if disk_note is not None:
        notes.append(disk_note)
    return {
        "engine": facts.name,
        "placement": command.placement,
        "engine_version": facts.min_version,
        "requires": facts.requirement,
        "checked_against": facts.checked_against,
        "repo": command.repo,
        "download": command.download,
        "command": command.command,
        "fits": chosen.fits,
        "loads": _loads_dict(estimate),
        "warning": warning,
        "notes": notes,
    }
