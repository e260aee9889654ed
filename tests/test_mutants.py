"""Behaviour that mutation runs over ``plan/`` and ``core/units.py`` found unpinned (issue 20, ``tools/mutate.py``):
the tensor-parallel budget of the comfort test, a CPU-only plan counted as offload, the exact edges of the verdict's
thresholds, and smaller gaps in the estimate's accounting, its words and the unit parsers.

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
from vram_advisor.core import units
from vram_advisor.core.errors import UsageError
from vram_advisor.inventory import model as inv
from vram_advisor.plan import estimate as est
from vram_advisor.plan.choose import Choice, estimate_choice, raised_row, verdict
from vram_advisor.plan.estimate.kv import kv_for_engine
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


# ------------------------------------------------------------------------------------------ core/units.py


def test_unit_edges_a_mutation_run_found_unpinned() -> None:
    """A weight size in TB, a table figure in TB only to one decimal, bandwidths either side of 1 GB/s and 1 TB/s,
    token counts, Kubernetes quantities with the largest suffixes, an exponent, and exactly the 1 EiB limit
    (accepted; a byte more is refused), and the longest context accepted."""
    assert units.table_weights_gb("1.2TB") == 1200.0
    assert (units.format_gb(1228.8), units.format_gb(1280), units.format_gb(1024)) == ("1.2 TB", "1280 GB", "1 TB")
    assert units.format_bandwidth(512 * 10**6) == "512 MB/s"
    assert (units.format_bandwidth(10**12), units.format_bandwidth(1792 * 10**9)) == ("1.00 TB/s", "1.79 TB/s")
    assert units.format_bandwidth(10**12 - 1) == "1000.0 GB/s" and units.format_bandwidth(10**9) == "1.0 GB/s"
    assert [units.format_tokens(n) for n in (1024**2, 3 * 1024**2, 2_000_000, 131072, 1000)] == [
        "1M",
        "3M",
        "2,000,000",
        "128k",
        "1,000",
    ]
    assert units.parse_k8s_quantity("1Pi") == 1024**5
    assert units.parse_k8s_quantity("1Ei") == units.MAX_SIZE_BYTES == 1024**6
    assert units.parse_k8s_quantity("2P") == 2 * 10**15
    assert units.parse_k8s_quantity("16G") == 16 * 10**9
    assert units.parse_k8s_quantity("129e6") == 129 * 10**6
    for too_big in ("1025Pi", str(1024**6 + 1)):
        with pytest.raises(units.SizeError, match="larger than any machine"):
            units.parse_k8s_quantity(too_big)
    assert units.parse_tokens("1024M") == units.MAX_TOKENS == 1024**3  # the longest context accepted
    with pytest.raises(units.ContextTooLongError):
        units.parse_tokens(str(1024**3 + 1))


# ---------------------------------------------------------------------------------- plan/: words and notes


def test_the_run_block_names_only_engines_the_platform_prefers_to_the_chosen_one(cli) -> None:  # type: ignore[no-untyped-def]
    """8 x H100: vLLM, the platform's first engine, runs Flash FP8; llama.cpp and SGLang, ranked after it, are not
    "passed over", so no note says they run here too (they are named only when a preferred engine loses)."""
    document = cli(["check", "--json", "--gpus", "8xH100", "--ram", "2TB"]).json()
    assert document["recommendation"]["engine"] == "vllm"
    assert not [note for note in document["run"]["notes"] if "runs here too" in note]


def test_an_engine_that_keeps_more_kv_scales_the_rows_and_keeps_the_ring() -> None:
    """``kv_for_engine`` (ds4 keeps ~3.6x the rows, its README): the compressed rows scale, the 128-token window
    ring does not, and the total is their sum."""
    arch = default_catalog().model("deepseek-v4-flash").architecture
    assert arch is not None
    kv = est.kv_cache_bytes(arch, CONTEXT)
    doubled = kv_for_engine(kv, 2.0, "an engine's README")
    assert doubled.compressed_bytes == 2 * kv.compressed_bytes
    assert doubled.swa_ring_bytes == kv.swa_ring_bytes > 0
    assert doubled.total_bytes == 2 * kv.compressed_bytes + kv.swa_ring_bytes
    assert kv_for_engine(kv, 1.0, None) is kv


def test_one_gpu_s_bandwidth_is_stated_without_a_count_and_three_with_one(cli) -> None:  # type: ignore[no-untyped-def]
    def bandwidths(gpus: str) -> str:
        doc = cli(["estimate", "deepseek-v4-flash", "--quant", "q4", "--gpus", gpus, "--ram", "256GB", "--json"]).json()
        return next(line for line in doc["assumptions"] if line.startswith("bandwidths: "))

    assert bandwidths("1xH100").startswith("bandwidths: GPU 3.35 TB/s (H100")
    assert bandwidths("3xH100").startswith("bandwidths: GPU 3 x 3.35 TB/s (H100")


def test_the_default_context_is_32k_tokens(cli) -> None:  # type: ignore[no-untyped-def]
    document = cli(["check", "--json", "--gpus", "1xH100", "--ram", "256GB"]).json()
    assert document["context_tokens"] == 32 * 1024 == CONTEXT


@pytest.mark.parametrize("narrowed", [["--model", "deepseek-v4-pro"], ["--base"]])
def test_the_v41_flash_line_belongs_to_the_default_check_only(cli, narrowed: list[str]) -> None:  # type: ignore[no-untyped-def]
    """``check --model`` and ``--base`` plan the models they name: no V4.1-Flash line beside them, even where the
    planned models leave V4-Flash out (the line compares V4.1-Flash with V4-Flash in a default check)."""
    document = cli(["check", "--json", "--gpus", "4xRTXPRO6000", "--ram", "128GB", *narrowed]).json()
    assert document["v41_flash"] is None


def test_a_unified_memory_machine_has_no_gpu_plus_ram_placement(cli) -> None:  # type: ignore[no-untyped-def]
    """On an M3 Ultra the GPU and the CPU share one memory: offloading experts "to RAM" would move nothing, so the
    estimate has no GPU+RAM placement; all it has is the GPU placement."""
    doc = cli(["estimate", "deepseek-v4-flash", "--quant", "q4", "--gpus", "M3-Ultra-512GB", "--json"]).json()
    assert [p["placement"] for p in doc["placements"]] == ["gpu"]


@pytest.mark.parametrize(
    ("gpus", "ram", "quant"),
    [
        ("0", "128GB", "q4"),
        ("0", "1TB", "fp8"),
        ("1xH100", "256GB", "q4"),
        ("1xH100", "64GB", "fp8"),
        ("2xL40S", "96GB", "q6"),
    ],
)
def test_every_placement_accounts_for_every_byte_it_holds_and_reads(cli, gpus: str, ram: str, quant: str) -> None:  # type: ignore[no-untyped-def]
    """Each placement's memory tiers hold the weights + the KV cache + the engine's overhead, no more and no less,
    split as the breakdown says (GPU, RAM, disk); and per token they read the model card's active bytes, wherever
    those lie (the GPU, RAM and disk tiers of GPU+RAM and mmap plans add up to the same total)."""
    doc = cli(["estimate", "deepseek-v4-flash", "--quant", quant, "--gpus", gpus, "--ram", ram, "--json"]).json()
    active = doc["active_bytes_per_token"]["total"]
    for p in doc["placements"]:
        parts = p["breakdown"]
        weights, kv, overhead = parts["weights"], parts["kv_cache"], parts["overhead"]
        total = sum(weights.values()) + kv["bytes"] + overhead["total_bytes"]
        assert sum(t["holds_bytes"] for t in p["tiers"]) == total, p["placement"]
        assert p["gpu_bytes"] + p["ram_bytes"] + p["disk_bytes"] == total, p["placement"]
        on = {"gpu": weights["gpu"], "ram": weights["ram"], "disk": weights["disk"]}
        on[kv["on"]] += kv["bytes"]
        on[overhead["on"]] += overhead["total_bytes"]
        assert (p["gpu_bytes"], p["ram_bytes"], p["disk_bytes"]) == (on["gpu"], on["ram"], on["disk"]), p["placement"]
        assert sum(t["reads_per_token_bytes"] for t in p["tiers"]) == active, p["placement"]


def test_a_model_without_engram_tables_gets_no_engram_note(cli) -> None:  # type: ignore[no-untyped-def]
    """V4-Flash has no engram tables (V4.1 does): none of its placements says tables stay on disk."""
    doc = cli(["estimate", "deepseek-v4-flash", "--quant", "q4", "--gpus", "1xH100", "--ram", "256GB", "--json"]).json()
    assert doc["placements"] and not [n for p in doc["placements"] for n in p["notes"] if "engram" in n]


def test_one_token_of_context_is_the_least_and_zero_is_refused_at_every_door() -> None:
    model, _row = _flash("q4")
    arch = model.architecture
    assert arch is not None
    est.check_context(model, 1)
    assert est.kv_cache_bytes(arch, 1).total_bytes > 0
    for context, sequences in ((0, 1), (1, 0)):
        with pytest.raises(UsageError, match="at least"):
            est.kv_cache_bytes(arch, context, sequences=sequences)
    with pytest.raises(UsageError, match="at least one token"):
        est.check_context(model, 0)


def test_two_gpus_of_a_llama_cpp_layer_split_pay_one_hand_off_per_token(cli) -> None:  # type: ignore[no-untyped-def]
    """The per-token floor of a layer split: 0.55 ms x 43 layers + 0.5 ms for each hand-off between GPUs, so two
    GPUs pay one (23.65 + 0.5 = 24.15 ms)."""
    rec = cli(["check", "--json", "--gpus", "2xH100", "--ram", "512GB"]).json()["recommendation"]
    assert (rec["engine"], rec["placement"]) == ("llama.cpp", "gpu")
    speed = rec["decode_tokens_per_s"]
    assert speed["floor"].endswith("+ 0.5 ms per token for each of 1 layer-split hand-off(s)")
    assert speed["floor_ms_per_token"] == pytest.approx(0.55 * 43 + 0.5)
