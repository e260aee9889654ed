"""Behaviour that a mutation run over ``plan/`` found unpinned (issue 20): the tensor-parallel budget of the comfort
test, a CPU-only plan counted as offload, and the exact edges of the verdict's thresholds (``tools/mutate.py``).

The verdict on one download and engine is ``plan.choose.verdict``: ``comfortable`` when usable VRAM meets the
row's safer threshold *and* the need scaled to the safer figure fits the placement's own budget (for vLLM an even
tensor-parallel split, which may use fewer GPUs than the machine has); ``minimum`` when usable VRAM meets the
minimum threshold and the need fits that budget; ``offload`` when a GPU+RAM or CPU-only placement fits."""

from __future__ import annotations

from dataclasses import replace

import pytest

from conftest import GIB, gpu, inventory_dict
from vram_advisor.catalog.downloads import candidates
from vram_advisor.catalog.engines import platform_of
from vram_advisor.catalog.profiles import ModelProfile, QuantRow
from vram_advisor.catalog.userprofiles import default_catalog
from vram_advisor.inventory import model as inv
from vram_advisor.plan import estimate as est
from vram_advisor.plan.choose import Choice, estimate_choice, raised_row, verdict
from vram_advisor.plan.machine import COMFORTABLE, MINIMUM, NONE, OFFLOAD, Machine, machine_of
from vram_advisor.plan.rules import fit_of

RTX_PRO_6000 = ("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", 97887)  # 96 GB, as nvidia-smi reports it
CONTEXT = 32 * 1024


def _flash(quant: str) -> tuple[ModelProfile, QuantRow]:
    model = default_catalog().model("deepseek-v4-flash")
    return model, model.quant(quant)


def judged_pairs(inventory: dict, quant: str) -> dict[str, Choice]:  # type: ignore[type-arg]
    """Every engine's verdict on DeepSeek-V4-Flash ``quant`` on ``inventory`` (what ``choose`` picks among)."""
    catalog = default_catalog()
    model, row = _flash(quant)
    loaded = inv.from_dict(inventory)
    view, machine = est.machine_view(loaded), machine_of(loaded)
    found: dict[str, Choice] = {}
    for download, engine in candidates(model, row, platform_of(view.gpus), catalog.engines):
        estimate = estimate_choice(model, row, download, engine, CONTEXT, view, "bf16")
        judged, fit, placement = verdict(row, estimate, machine)
        found[engine.id] = Choice(download, engine, estimate, judged, fit, placement)
    return found


# ------------------------------------------------------------------------- 3 x 96 GB: the tensor-parallel budget


def three_rtx_pro_6000() -> dict:  # type: ignore[type-arg]
    return inventory_dict([gpu(*RTX_PRO_6000)] * 3, ram_gib=256)


def test_three_96_gb_gpus_judge_vllm_fp8_comfort_on_its_two_gpu_tensor_parallel_budget() -> None:
    """vLLM's tensor-parallel size must divide V4-Flash's 64 attention heads, so 3 GPUs run it at TP 2: its budget
    is 2 x 95.6 = 191.2 GiB, not the 286.8 GiB all three hold. The need (official FP8 checkpoint + KV + vLLM's
    overhead on 2 GPUs, 165.2 GiB) fits it: ``minimum``. Comfort asks for the need x 256/192 (the table's
    safer/minimum ratio) = 220.3 GiB within that budget, which it is not, although the machine's usable VRAM meets
    the safer threshold (250.9 GiB): a comfort test that ignored the budget would call vLLM FP8 comfortable."""
    vllm = judged_pairs(three_rtx_pro_6000(), "fp8")["vllm"]
    gpu_placement = vllm.estimate.gpu
    assert gpu_placement is not None
    assert (gpu_placement.tensor_parallel, gpu_placement.gpus_used) == (2, 2)
    capacity = RTX_PRO_6000[1] * 1024**2
    assert gpu_placement.budget_bytes == 2 * capacity
    assert vllm.row.need_bytes is not None and vllm.row.safer_need_bytes is not None
    assert vllm.row.need_bytes <= gpu_placement.budget_bytes < vllm.row.safer_need_bytes  # the budget decides
    assert vllm.row.safer_threshold_bytes <= 3 * capacity  # usable VRAM alone would have granted comfort
    assert round(vllm.row.need_bytes / GIB, 1) == 165.2 and round(vllm.row.safer_need_bytes / GIB, 1) == 220.3
    assert (vllm.fit, vllm.placement) == (MINIMUM, "gpu")


def test_three_96_gb_gpus_run_flash_fp8_comfortably_on_llama_cpp_and_say_why_not_vllm(cli) -> None:  # type: ignore[no-untyped-def]
    """The same machine end to end: llama.cpp splits layers over all three GPUs (286.8 GiB for a 207.1 GiB safer
    need), so FP8 is comfortable there, and the run block says vLLM would only reach its minimum; were vLLM
    wrongly comfortable, the preferred engine would win and the plan would print ``vllm serve`` at TP 2."""
    pairs = judged_pairs(three_rtx_pro_6000(), "fp8")
    assert (pairs["llama.cpp"].fit, pairs["llama.cpp"].estimate.gpu.gpus_used) == (COMFORTABLE, 3)  # type: ignore[union-attr]
    document = cli(["check", "--json", "--gpus", "3xRTXPRO6000", "--ram", "256GB"]).json()
    rec = document["recommendation"]
    assert (rec["model"], rec["quant"], rec["fit"], rec["engine"]) == (
        "deepseek-v4-flash",
        "fp8",
        "comfortable",
        "llama.cpp",
    )
    assert document["run"]["command"].startswith("llama-server ")
    passed_over = "vLLM runs here too, but official checkpoint 0731 fits only at its minimum"
    assert any(note.startswith(passed_over) for note in document["run"]["notes"])


def test_three_h100_give_vllm_fp8_no_gpu_verdict_when_its_need_exceeds_the_two_gpu_budget(cli) -> None:  # type: ignore[no-untyped-def]
    """3 x H100 (80 GB): at TP 2 vLLM's budget is 2 x 79.6 = 159.3 GiB and its FP8 need 165.2 GiB: the GPU
    placement does not fit, so no GPU verdict, although the 238.9 GiB of usable VRAM meet the minimum threshold
    (188.2 GiB). llama.cpp's layer split over all three holds its 155.3 GiB need: FP8 runs there at its minimum."""
    pairs = judged_pairs(inventory_dict([gpu("NVIDIA H100 80GB HBM3", 81559)] * 3, ram_gib=256), "fp8")
    vllm = pairs["vllm"]
    assert vllm.estimate.gpu is not None and vllm.estimate.gpu.fits is False
    assert vllm.estimate.gpu.budget_bytes == 2 * 81559 * 1024**2 < (vllm.row.need_bytes or 0)
    assert vllm.row.min_threshold_bytes <= 3 * 81559 * 1024**2
    assert (vllm.fit, vllm.placement) == (NONE, None)
    assert (pairs["llama.cpp"].fit, pairs["llama.cpp"].placement) == (MINIMUM, "gpu")
    document = cli(["check", "--json", "--gpus", "3xH100", "--ram", "256GB"]).json()
    rec = document["recommendation"]
    assert (rec["model"], rec["quant"], rec["fit"], rec["engine"]) == (
        "deepseek-v4-flash",
        "fp8",
        "minimum",
        "llama.cpp",
    )
    assert any(
        note.startswith("vLLM runs here too, but official checkpoint 0731 does not fit")
        for note in document["run"]["notes"]
    )


# ----------------------------------------------------------------------------------- CPU only: offload, always


def test_a_cpu_only_machine_offloads_to_ram_and_never_grades_on_a_gpu(cli) -> None:  # type: ignore[no-untyped-def]
    """No GPU and 1 TB of RAM (921.6 GiB to spare): every option that fits runs on the CPU alone, and that is
    ``offload`` (contract rule 5), never ``comfortable`` or ``minimum``; an option whose CPU-only need exceeds the
    spare RAM (V4-Pro Q5, Q6) is ``none``. The recommendation is the best-ranked one: V4-Pro FP8 on the CPU."""
    document = cli(["check", "--json", "--gpus", "0", "--ram", "1TB"]).json()
    assert document["usable_vram_bytes"] == 0
    spare = document["spare_ram_bytes"]
    fits = {(o["model"], o["quant"]): (o["fit"], o["placement"]) for o in document["options"]}
    for entry in document["options"]:
        if entry["need_bytes"] <= spare:
            assert (entry["fit"], entry["placement"]) == (OFFLOAD, "cpu"), entry
        else:
            assert (entry["fit"], entry["placement"]) == (NONE, None), entry
    assert fits[("deepseek-v4-flash", "q4")] == (OFFLOAD, "cpu")
    assert fits[("deepseek-v4-pro", "q5")] == (NONE, None)
    rec = document["recommendation"]
    assert (rec["kind"], rec["model"], rec["quant"], rec["placement"]) == ("offload", "deepseek-v4-pro", "fp8", "cpu")
    assert document["run"]["placement"] == "cpu"


def test_the_cpu_only_placement_is_what_makes_a_gpu_less_verdict_offload() -> None:
    """One option, judged directly: without GPUs there is no GPU+RAM placement, only the CPU one, and its fitting
    is all that stands between ``offload`` and ``none``."""
    pairs = judged_pairs(inventory_dict([], ram_gib=1024), "q4")
    choice = pairs["llama.cpp"]
    kinds = {p.kind: p.fits for p in choice.estimate.placements}
    assert kinds.get(est.PLACEMENT_HYBRID) is not True and kinds[est.PLACEMENT_CPU] is True
    assert (choice.fit, choice.placement) == (OFFLOAD, est.PLACEMENT_CPU)
    small = judged_pairs(inventory_dict([], ram_gib=64), "q4")["llama.cpp"]
    assert (small.fit, small.placement) == (NONE, None)  # 64 GB of RAM: the CPU placement does not fit


# ------------------------------------------------------------------------------------- the thresholds' edges


@pytest.mark.parametrize("above", [1, 7 * GIB + 3, 123_456_789])
def test_the_table_path_grades_each_threshold_at_its_exact_byte(above: int) -> None:
    """``rules.fit_of`` (the verdict where no estimate exists): a need above the table's minimum counts whole, so
    usable VRAM equal to it is ``minimum`` and one byte less is not; comfort starts exactly at the safer threshold;
    offload exactly where VRAM + spare RAM reach the minimum threshold."""
    _model, row = _flash("q4")
    need = row.min_vram_bytes + above
    judged = raised_row(row, need - 10 * GIB, need)
    assert judged.min_threshold_bytes == need
    at = Machine(usable_vram_bytes=need, spare_ram_bytes=0, gpu_count=1)
    assert fit_of(judged, at) == MINIMUM
    assert fit_of(judged, replace(at, usable_vram_bytes=need - 1)) == NONE
    assert fit_of(judged, replace(at, usable_vram_bytes=judged.safer_threshold_bytes)) == COMFORTABLE
    assert fit_of(judged, replace(at, usable_vram_bytes=judged.safer_threshold_bytes - 1)) == MINIMUM
    split = Machine(usable_vram_bytes=need // 2, spare_ram_bytes=need - need // 2, gpu_count=1)
    assert fit_of(judged, split) == OFFLOAD
    assert fit_of(judged, replace(split, spare_ram_bytes=split.spare_ram_bytes - 1)) == NONE


def test_the_estimate_path_grades_each_threshold_and_the_budget_at_its_exact_byte() -> None:
    """``choose.verdict`` on a real estimate (vLLM FP8 on 3 x 96 GB), with the machine and the budget moved to
    each edge: usable VRAM equal to the need's threshold is ``minimum``, a byte less is not; a budget equal to the
    safer need is ``comfortable``, a byte less is ``minimum``."""
    vllm = judged_pairs(three_rtx_pro_6000(), "fp8")["vllm"]
    _model, row = _flash("fp8")
    estimate = vllm.estimate
    gpu_placement = estimate.gpu
    assert gpu_placement is not None and vllm.row.safer_need_bytes is not None
    safer_need = vllm.row.safer_need_bytes
    roomy = replace(estimate, placements=(replace(gpu_placement, budget_bytes=safer_need),))
    usable = vllm.row.safer_threshold_bytes
    machine = Machine(usable_vram_bytes=usable, spare_ram_bytes=0, gpu_count=3)
    assert verdict(row, roomy, machine)[1:] == (COMFORTABLE, "gpu")
    assert verdict(row, roomy, replace(machine, usable_vram_bytes=usable - 1))[1:] == (MINIMUM, "gpu")
    tight = replace(estimate, placements=(replace(gpu_placement, budget_bytes=safer_need - 1),))
    assert verdict(row, tight, machine)[1:] == (MINIMUM, "gpu")
    minimum = vllm.row.min_threshold_bytes
    assert verdict(row, tight, replace(machine, usable_vram_bytes=minimum))[1:] == (MINIMUM, "gpu")
    assert verdict(row, tight, replace(machine, usable_vram_bytes=minimum - 1))[1:] == (NONE, None)
    unified = replace(machine, unified=True)
    assert verdict(row, roomy, unified)[1:] == (COMFORTABLE, "unified")


def test_an_estimate_without_a_gpu_placement_is_judged_on_its_other_placements() -> None:
    """No GPU placement at all (``Estimate.gpu`` is None): no GPU verdict and no error, whatever the VRAM; a
    fitting CPU placement gives ``offload``, none gives ``none``."""
    _model, row = _flash("q4")
    choice = judged_pairs(inventory_dict([], ram_gib=1024), "q4")["llama.cpp"]
    cpu = next(p for p in choice.estimate.placements if p.kind == est.PLACEMENT_CPU)
    huge = Machine(usable_vram_bytes=10**15, spare_ram_bytes=10**15, gpu_count=8)
    judged, fit, placement = verdict(row, replace(choice.estimate, placements=(cpu,)), huge)
    assert (fit, placement, judged.need_bytes, judged.safer_need_bytes) == (OFFLOAD, "cpu", None, None)
    unfit = replace(cpu, fits=False)
    assert verdict(row, replace(choice.estimate, placements=(unfit,)), huge)[1:] == (NONE, None)
