"""From verdict to running it (contract rule 11): the run block of one option here, top to bottom.

The block is the option's own plan: the download of the file it was judged on (plan/choose.py), any conversion
as real command lines (plan/steps.py), then the engine that was chosen for this platform, loading exactly the
file an earlier line produced. Each engine's line, with the flags V4 needs (profiles/engines.json says which
version has them):

* vLLM: ``vllm serve`` with the recipes' ``--trust-remote-code --kv-cache-dtype fp8 --block-size 256``,
  ``--tensor-parallel-size`` (plus ``--enable-expert-parallel``) from the GPUs, ``--max-model-len`` from the
  context, ``--gpu-memory-utilization`` from the estimate, and the MXFP4 indexer cache on datacenter Blackwell only.
* SGLang: ``sglang serve --model-path ... --tp N`` (H100/H200 with the Marlin MoE backend, the cookbook's path).
* llama.cpp: ``llama-server`` with ``-c`` (context), ``-np`` (the sequences the KV estimate is for), ``-ngl``,
  ``--n-cpu-moe N`` where the first N layers' routed experts stay in RAM (``-ot exps=CPU`` where all do),
  ``--tensor-split`` with the layers per GPU of that split, or in proportion to memory on GPUs of different sizes.
* ds4: ``./ds4-server -m FILE --ctx N``; mlx-vlm: ``mlx_vlm.server --model ...``; oMLX: ``omlx serve
  --model-dir DIR``.

Every server line binds to 127.0.0.1 on a stated port (llama-server's default port is changing: llama.cpp PR
#26508). Pure: builds strings, runs nothing.
"""

from __future__ import annotations

import math
import posixpath
from typing import Any

from vram_advisor.catalog.downloads import ReferenceDownload
from vram_advisor.catalog.engines import Engine, platform_of
from vram_advisor.catalog.lineup import EngineFlags
from vram_advisor.core import units
from vram_advisor.core.records import Record, dataclass
from vram_advisor.inventory.model import Inventory, Ram
from vram_advisor.plan.estimate import (
    PLACEMENT_CPU,
    PLACEMENT_HYBRID,
    PLACEMENT_NVME,
    PREFERENCE,
    SERVED_SEQUENCES,
    VLLM_DEFAULT_UTILIZATION,
    VLLM_MAX_ADVISED_UTILIZATION,
    Estimate,
    Placement,
)
from vram_advisor.plan.steps import FALLBACK_DIR, Fetched, convert, fetch, join, target_dir

HOST = "127.0.0.1"
PORTS = {"vllm": 8000, "sglang": 30000, "llama.cpp": 8080, "ds4": 8000, "mlx-vlm": 8080, "omlx": 8000}
#: llama.cpp's "all layers on the GPU" value of ``-ngl`` (any number above the layer count does).
ALL_LAYERS = 99
#: llama.cpp's tensor override that keeps routed-expert tensors (``blk.N.ffn_{gate,up,down}_exps``) in RAM; shared
#: experts (``ffn_*_shexp``) do not match (the antirez/deepseek-v4-gguf card lists V4's tensor names).
EXPERTS_TO_CPU = "exps=CPU"
#: vLLM's MXFP4 indexer cache: ``attention_config.indexer_kv_dtype`` since vLLM PR #52550 (2026-08-16), which
#: deprecated the recipes' ``--attention_config.use_fp4_indexer_cache=True``; vLLM refuses it below sm_100
#: (vllm/v1/attention/backends/mla/indexer.py), so it is given only where every GPU is sm_10x.
FP4_INDEXER_FLAG = "--attention_config.indexer_kv_dtype=mxfp4"
FP4_INDEXER_FLAG_BEFORE_52550 = "--attention_config.use_fp4_indexer_cache=True"
PLACEMENT_WORDS = {
    "gpu": "all on the GPUs",
    PLACEMENT_HYBRID: "with routed experts in RAM (--n-cpu-moe N, or -ot exps=CPU for all of them)",
    PLACEMENT_CPU: "on the CPU alone",
    PLACEMENT_NVME: "with the routed experts mapped from the disk (mmap)",
}


@dataclass(frozen=True, eq=False, repr=False)
class RunPlan(Record):
    """The run block of one option: every line in order, the file the engine loads, and the notes."""

    engine: Engine
    download: ReferenceDownload
    placement: Placement | None
    steps: tuple[str, ...]
    loads: str | None
    notes: tuple[str, ...]
    warning: str | None = None
    #: what must be known before pasting the lines: how to build or install the engine here, a conversion that may
    #: fail (shown under the block on the first screen)
    caveat: str | None = None
    #: the engine and version it needs here ("vLLM >= 0.25.0", "vLLM from the nightly image")
    requires: str | None = None

    @property
    def command(self) -> str | None:
        """The engine's line (the last step)."""
        return self.steps[-1] if self.steps and self.placement is not None else None


def _model_flags(estimate: Estimate, engine: str) -> EngineFlags | None:
    """The model's own flags for ``engine`` (its profile's ``engine_flags``), or None."""
    return estimate.model.engine_flags.get(engine)


def _cc_majors(estimate: Estimate) -> list[int] | None:
    """The compute-capability major versions of the GPUs ([] without GPUs), or None when any is unknown."""
    machine = estimate.machine
    if machine is None:
        return None
    majors = []
    for gpu in machine.gpus:
        try:
            majors.append(int((gpu.compute_capability or "").split(".")[0]))
        except ValueError:
            return None
    return majors


def served(estimate: Estimate) -> int:
    """The concurrent sequences the command serves: those the KV estimate is for (``--users``)."""
    return estimate.kv.sequences if estimate.kv is not None else SERVED_SEQUENCES


def vllm_utilization(placement: Placement) -> float:
    """``--gpu-memory-utilization``: the default 0.92 unless the estimate needs more of each GPU (rounded up)."""
    if placement.budget_bytes is None or placement.gpus_used <= 0 or placement.budget_bytes <= 0:
        return VLLM_DEFAULT_UTILIZATION
    needed = math.ceil(placement.gpu_bytes / placement.budget_bytes * 100) / 100
    return max(VLLM_DEFAULT_UTILIZATION, min(needed, 0.99))


def vllm_words(
    estimate: Estimate, placement: Placement, fetched: Fetched, engine: Engine
) -> tuple[list[str], list[str]]:
    model = fetched.folder if fetched.folder is not None else (fetched.repo or estimate.model.name)
    tp = max(1, placement.gpus_used)
    util = vllm_utilization(placement)
    words = ["vllm", "serve", model, *engine.flags, "--tensor-parallel-size", str(tp)]
    if fetched.folder is not None and fetched.repo:
        words += ["--served-model-name", fetched.repo]
    if tp > 1:
        words.append("--enable-expert-parallel")
    words += ["--max-model-len", str(estimate.context_tokens), "--gpu-memory-utilization", f"{util:.2f}"]
    notes: list[str] = []
    users = served(estimate)
    if users > SERVED_SEQUENCES:
        words += ["--max-num-seqs", str(users)]
        notes.append(f"--max-num-seqs {users}: the concurrent sequences the KV estimate is for")
    own = _model_flags(estimate, "vllm")
    if own is not None:  # the model's recipe's flags in place of the engine's
        words = ["vllm", "serve", model, *own.flags, *words[3 + len(engine.flags) :]]
        notes += own.notes
    majors = _cc_majors(estimate) or []
    if majors and all(major == 10 for major in majors):
        words.append(FP4_INDEXER_FLAG)
        notes.append(
            f"{FP4_INDEXER_FLAG}: the MXFP4 indexer cache (datacenter Blackwell only); vLLM builds before PR #52550 "
            f"spell it {FP4_INDEXER_FLAG_BEFORE_52550}"
        )
    elif 12 in majors:
        notes.append(
            "no FP4 indexer cache: vLLM refuses indexer_kv_dtype=mxfp4 on sm_12x (RTX PRO 6000, RTX 5090, GB10)"
        )
    if util > VLLM_MAX_ADVISED_UTILIZATION:
        notes.append(f"the estimate needs --gpu-memory-utilization {util:.2f}, above the advised 0.97: expect OOM")
    from vram_advisor.plan.estimate.speculative import with_speculative  # the drafting flag (issue 21)

    return with_speculative(words, notes, estimate, placement, engine, fetched.repo)


def sglang_words(
    estimate: Estimate, placement: Placement, fetched: Fetched, engine: Engine
) -> tuple[list[str], list[str]]:
    model = fetched.folder if fetched.folder is not None else (fetched.repo or estimate.model.name)
    tp = max(1, placement.gpus_used)
    words = ["sglang", "serve", "--model-path", model, "--tp", str(tp), *engine.flags]
    if fetched.folder is not None and fetched.repo:  # clients ask for the repository id, not the local path
        words += ["--served-model-name", fetched.repo]
    notes = []
    users = served(estimate)
    if users > SERVED_SEQUENCES:
        words += ["--max-running-requests", str(users)]
        notes.append(f"--max-running-requests {users}: the concurrent sequences the KV estimate is for")
    majors = _cc_majors(estimate) or []
    if majors and all(major == 9 for major in majors):
        words += ["--moe-runner-backend", "marlin"]
        notes.append("--moe-runner-backend marlin: the SGLang cookbook's path for V4's FP4 experts on Hopper")
    return words, notes


def llama_words(
    estimate: Estimate, placement: Placement, fetched: Fetched, download: ReferenceDownload
) -> tuple[list[str], list[str]]:
    notes: list[str] = []
    if fetched.path is not None:
        model = ["-m", fetched.path]
    elif download.hf_tag and download.repo:
        model = ["-hf", f"{download.repo}:{download.hf_tag}"]
        notes.append(
            "-hf reads the files the download line put in the Hugging Face cache (and fetches what is missing)"
        )
    else:
        assert download.repo is not None and fetched.file is not None
        model = ["-hf", download.repo, "--hf-file", fetched.file]
        notes.append(
            "-hf reads the files the download line put in the Hugging Face cache (and fetches what is missing)"
        )
    users = served(estimate)
    words = ["llama-server", *model, "-c", str(estimate.context_tokens * users), "-np", str(users)]
    if users == SERVED_SEQUENCES:
        notes.append(
            f"-np {SERVED_SEQUENCES}: {SERVED_SEQUENCES} sequence, the one the KV estimate is for (llama-server picks "
            "its slot count itself otherwise)"
        )
    else:
        notes.append(
            f"-np {users} -c {estimate.context_tokens * users}: {users} slots of {estimate.context_tokens} tokens "
            "each, the sequences the KV estimate is for (llama-server divides -c among its -np slots)"
        )
    if placement.kind == PLACEMENT_CPU or (placement.kind == PLACEMENT_NVME and placement.gpus_used == 0):
        words += ["-ngl", "0"]
    else:
        words += ["-ngl", str(ALL_LAYERS)]
    split = placement.expert_split if placement.kind in (PLACEMENT_HYBRID, PLACEMENT_NVME) else None
    if split is not None and split.partial:
        words += ["--n-cpu-moe", str(split.cpu_layers)]
        notes.append(
            f"--n-cpu-moe {split.cpu_layers}: the routed experts of the first {split.cpu_layers} of {split.layers} "
            "layers stay in RAM, the others' fill the GPUs (llama.cpp PR #15077)"
        )
    elif placement.kind in (PLACEMENT_HYBRID, PLACEMENT_NVME) and placement.gpus_used > 0:
        words += ["-ot", EXPERTS_TO_CPU]
    own = _model_flags(estimate, "llama.cpp")
    if own is not None:
        words += own.flags
        notes += own.notes
    machine = estimate.machine
    if split is not None and split.partial and placement.gpus_used > 1:
        counts = [*split.gpu_layers[:-1], split.gpu_layers[-1] + 1]  # the output layer goes to the last GPU
        words += ["--tensor-split", ",".join(str(count) for count in counts)]
        notes.append(
            f"--tensor-split {','.join(str(count) for count in counts)}: layers per GPU in device order (the last "
            "also holds the output layer), so that the GPUs holding experts get fewer layers (llama.cpp assigns "
            "layers by these proportions: src/llama-model.cpp)"
        )
    elif machine is not None and machine.heterogeneous and placement.gpus_used > 1:
        words += ["--tensor-split", ",".join(str(max(1, round(cap / units.GIB))) for cap in machine.capacities)]
        notes.append("--tensor-split gives each GPU a share in proportion to its memory")
    if placement.kind == PLACEMENT_NVME:
        notes.append(
            "llama.cpp maps the file (mmap, its default): leave out --no-mmap and --mlock so the disk serves "
            "what the RAM cannot hold"
        )
    return words, notes


def _engine_words(
    engine: Engine, estimate: Estimate, placement: Placement, fetched: Fetched, download: ReferenceDownload
) -> tuple[list[str], list[str]]:
    if engine.id == "vllm":
        words, notes = vllm_words(estimate, placement, fetched, engine)
    elif engine.id == "sglang":
        words, notes = sglang_words(estimate, placement, fetched, engine)
    elif engine.id == "llama.cpp":
        words, notes = llama_words(estimate, placement, fetched, download)
    elif engine.id == "ds4":
        assert fetched.path is not None
        words, notes = ["./ds4-server", "-m", fetched.path, "--ctx", str(estimate.context_tokens)], []
    elif engine.id == "mlx-vlm":
        model = fetched.folder if fetched.folder is not None else (download.repo or download.model)
        words, notes = ["mlx_vlm.server", "--model", model], []
    elif engine.id == "omlx":
        assert fetched.folder is not None
        parent = posixpath.dirname(fetched.folder.rstrip("/")) or "."
        words = ["omlx", "serve", "--model-dir", parent]
        notes = [f"oMLX serves every model folder under {parent}; this one is {posixpath.basename(fetched.folder)}"]
    else:  # an engine of a user's engines file: its program and the file
        words, notes = [*engine.program.split(), fetched.path or (download.repo or "")], []
    if served(estimate) > SERVED_SEQUENCES and engine.id not in ("vllm", "sglang", "llama.cpp"):
        notes.append(
            f"the KV estimate is for {served(estimate)} concurrent sequences; this line does not set how many "
            f"{engine.name} serves at once"
        )
    return [*words, "--host", HOST, "--port", str(PORTS.get(engine.id, 8000))], notes


def runnable(
    estimate: Estimate, placement: Placement | None, download: ReferenceDownload
) -> tuple[Placement | None, str | None]:
    """The placement a command for ``placement`` can use with the file it loads (``estimate`` is on that file):
    ``placement`` itself while it fits (or nothing is known of the machine); else the first that fits in
    ``PREFERENCE`` order, with the sentence that says why it changed; None, with the reasons, where none fits."""
    what = f"{download.name} ({download.stated}), the file the command loads,"
    same = next((p for p in estimate.placements if placement is not None and p.kind == placement.kind), placement)
    if same is not None and same.fits is not False:
        return same, None
    alternative = estimate.best
    if alternative is None:
        reasons = "; ".join(f"{PLACEMENT_WORDS[p.kind]}: {p.reason}" for p in estimate.placements)
        return None, f"{what} fits no placement on this machine, so there is no command to run: {reasons}"
    if same is None:
        return alternative, None
    rank = PREFERENCE.index(alternative.kind)
    passed_over = [
        p for p in estimate.placements if p.kind != same.kind and p.fits is False and PREFERENCE.index(p.kind) < rank
    ]
    why = f"{what} cannot go {PLACEMENT_WORDS[same.kind]} here: {same.reason}"
    why += "".join(f"; nor {PLACEMENT_WORDS[p.kind]}: {p.reason}" for p in passed_over)
    why += f". The command runs it {PLACEMENT_WORDS[alternative.kind]} instead: {alternative.reason}"
    return alternative, why


def run_plan(
    download: ReferenceDownload,
    engine: Engine,
    estimate: Estimate,
    placement: Placement | None,
    model_dir: str | None,
    why: str | None = None,
    inventory: Inventory | None = None,
    choice_notes: tuple[str, ...] = (),
) -> RunPlan:
    """The run block of ``download`` run by ``engine`` in ``placement`` (None: it fits no placement here, and
    ``why`` says so: no lines are printed). Files go to ``model_dir``, else (``steps.target_dir``) to the Hugging
    Face cache or a folder beside it."""
    if download.bytes is None:
        return RunPlan(engine, download, None, (), None, (), why or f"{download.name}: its size is unknown")
    chosen, moved = runnable(estimate, placement, download)
    if chosen is None:
        return RunPlan(engine, download, None, (), None, (), moved)
    placement, why = chosen, moved or why
    root = target_dir(download, engine.id, inventory or Inventory(ram=Ram(total_bytes=0)), model_dir)
    if download.conversion is not None:
        fetched = convert(download, root or FALLBACK_DIR, model_dir is not None)
    elif download.repo is not None:
        fetched = fetch(download, root, model_dir is not None)
    else:
        return RunPlan(engine, download, None, (), None, (), f"{download.name}: its repository is not known")
    words, notes = _engine_words(engine, estimate, placement, fetched, download)
    machine = estimate.machine
    entry = engine.on(platform_of(machine.gpus if machine is not None else ()))
    install = entry.install if entry is not None and entry.install else engine.install
    notes = [*fetched.notes, *notes, *choice_notes, f"install: {install}"]
    here = f"{engine.name} here: {entry.note}" if entry is not None and entry.note else None
    caveat = "; ".join(text for text in (here, fetched.caveat) if text) or None
    loads = (
        fetched.path or fetched.folder or f"{fetched.repo}:{fetched.file or ''}".rstrip(":")
    )  # what the engine line names
    requires = f"{engine.name} {entry.version}" if entry is not None and entry.version else engine.requirement
    steps = (*fetched.lines, join(words))
    return RunPlan(engine, download, placement, steps, loads, tuple(notes), why, caveat, requires)


def run_dict(run: RunPlan | None) -> dict[str, Any] | None:
    """A run block as JSON: ``steps`` lists its lines in order; ``download`` and ``command`` repeat the first and
    the last for readers of the earlier format; ``command`` is null where no placement fits here."""
    if run is None:
        return None
    engine, download = run.engine, run.download
    command = run.command
    return {
        "engine": engine.name,
        "engine_id": engine.id,
        "placement": run.placement.kind if run.placement is not None else None,
        "engine_version": engine.min_version,
        "requires": run.requires or engine.requirement,
        "checked_against": engine.added,
        "repo": download.repo if download.conversion is None else download.conversion.checkpoint_repo,
        "steps": list(run.steps) if command is not None else [],
        "download": run.steps[0] if command is not None and len(run.steps) > 1 else None,
        "command": command,
        "loads": {
            "path": run.loads,
            "bytes": download.bytes,
            "basis": download.basis,
            "name": download.name,
            "stated": download.stated,
            "repo": download.repo,
            "format": download.format,
        },
        "fits": run.placement.fits if run.placement is not None else False,
        "warning": run.warning,
        "caveat": run.caveat,
        "notes": list(run.notes),
    }
