"""The llama.cpp command of a smaller model (plan/alternatives.py), built like V4's (``runners.llama_words``):
``llama-server -hf REPO:TAG`` (or ``-hf REPO --hf-file FILE``; either downloads the GGUF into the Hugging Face cache),
``-c`` the context the KV
estimate is for, ``-np`` its sequences, ``-ngl`` and, where a mixture of experts leaves some experts in RAM,
``--n-cpu-moe N`` ("keep the Mixture of Experts (MoE) weights of the first N layers in the CPU": llama.cpp
``common/arg.cpp``); ``--tensor-split`` on GPUs of different sizes; bound to 127.0.0.1 on llama-server's port.
Pure: builds strings, runs nothing.
"""

from __future__ import annotations

from vram_advisor.core import units
from vram_advisor.plan.alternatives import Alternative
from vram_advisor.plan.estimate import PLACEMENT_CPU, PLACEMENT_HYBRID, SERVED_SEQUENCES, MachineView
from vram_advisor.plan.runners import ALL_LAYERS, HOST, PORTS
from vram_advisor.plan.steps import join


def run_words(alternative: Alternative, machine: MachineView) -> list[str] | None:
    """The words of the command, or None where the catalogue names no GGUF or nothing fits."""
    gguf, placement = alternative.model.gguf, alternative.chosen
    if gguf is None or placement is None:
        return None
    model = ["-hf", gguf.repo, "--hf-file", gguf.file] if gguf.file else ["-hf", f"{gguf.repo}:{gguf.tag}"]
    words = [
        "llama-server",
        *model,
        "-c",
        str(alternative.context_tokens),
        "-np",
        str(SERVED_SEQUENCES),
    ]
    split = alternative.split
    if placement.kind == PLACEMENT_CPU:
        words += ["-ngl", "0"]
    elif placement.kind == PLACEMENT_HYBRID and split is not None and not split.moe:
        words += ["-ngl", str(split.gpu_layers)]
    else:
        words += ["-ngl", str(ALL_LAYERS)]
    if placement.kind == PLACEMENT_HYBRID and split is not None and split.moe:
        words += ["--n-cpu-moe", str(split.n_cpu_moe)]
    if machine.heterogeneous and placement.gpus_used > 1:
        words += ["--tensor-split", ",".join(str(max(1, round(cap / units.GIB))) for cap in machine.capacities)]
    return [*words, "--host", HOST, "--port", str(PORTS["llama.cpp"])]


def run_steps(alternative: Alternative, machine: MachineView) -> tuple[str, ...]:
    """The command as shell lines (one: ``-hf`` fetches the file itself); empty where there is none."""
    words = run_words(alternative, machine)
    return () if words is None else (join(words),)


def run_notes(alternative: Alternative) -> tuple[str, ...]:
    """What the command's placement flags mean here, in words."""
    placement, split = alternative.chosen, alternative.split
    if placement is None:
        return ()
    notes = [
        f"-hf downloads {alternative.model.gguf.tag} into the Hugging Face cache" if alternative.model.gguf else ""
    ]
    if placement.kind == PLACEMENT_HYBRID and split is not None:
        if split.moe:
            notes.append(
                f"--n-cpu-moe {split.n_cpu_moe}: the routed experts of the first {split.n_cpu_moe} layers stay in RAM"
            )
        else:
            notes.append(f"-ngl {split.gpu_layers}: the first {split.gpu_layers} layers on the GPUs, the rest in RAM")
    return tuple(note for note in notes if note)
