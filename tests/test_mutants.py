"""Behaviour that mutation runs over ``plan/`` and ``core/units.py`` found unpinned (issue 20, ``tools/mutate.py``):
the tensor-parallel budget of the comfort test, a CPU-only plan counted as offload, the exact edges of the verdict's
thresholds, and smaller gaps in the estimate's accounting, its words and the unit parsers.

The verdict on one download and engine is ``plan.choose.verdict``: ``comfortable`` when usable VRAM meets the
row's safer threshold *and* the need scaled to the safer figure fits the placement's own budget (for vLLM an even
tensor-parallel split, which may use fewer GPUs than the machine has); ``minimum`` when usable VRAM meets the
minimum threshold and the need fits that budget; ``offload`` when a GPU+RAM or CPU-only placement fits."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from conftest import GIB, gpu, inventory_dict
from vram_advisor.catalog.derive import derived_need, ratios_for
from vram_advisor.catalog.downloads import candidates
from vram_advisor.catalog.engines import platform_of
from vram_advisor.catalog.listing import RepoFile, RepoListing
from vram_advisor.catalog.profiles import ModelProfile, QuantRow
from vram_advisor.catalog.userprofiles import default_catalog
from vram_advisor.core import units
from vram_advisor.core.errors import UsageError
from vram_advisor.inventory import model as inv
from vram_advisor.inventory.bandwidth import Bandwidth
from vram_advisor.plan import estimate as est
from vram_advisor.plan.check_estimates import estimate_check
from vram_advisor.plan.choose import Choice, estimate_choice, raised_row, verdict
from vram_advisor.plan.estimate.kv import kv_for_engine
from vram_advisor.plan.estimate.option import overhead_words
from vram_advisor.plan.estimate.speed import MemoryTier, decode_speed
from vram_advisor.plan.estimate.weights import weights_estimate
from vram_advisor.plan.family import successor_note
from vram_advisor.plan.lineup import parse_requirement
from vram_advisor.plan.machine import COMFORTABLE, MINIMUM, NONE, OFFLOAD, Machine, machine_of
from vram_advisor.plan.repocheck import repo_option
from vram_advisor.plan.rules import Plan, fit_of, plan
from vram_advisor.plan.runners import run_plan, vllm_words
from vram_advisor.plan.steps import Fetched

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


# ------------------------------------------------------------------------- issue 20 part 6: the remaining gaps


def _placement_on_two_rtx_pro_6000() -> est.Placement:
    """V4-Flash Q4's GPU placement on two 96 GB GPUs (every tier that reads has a known bandwidth)."""
    model, row = _flash("q4")
    view = est.machine_view(inv.from_dict(inventory_dict([gpu(*RTX_PRO_6000, index=i) for i in range(2)])))
    placement = est.estimate_option(model, row, CONTEXT, view).gpu
    assert placement is not None and placement.layers > 0
    return placement


def test_a_tier_is_unrated_only_when_it_reads_per_token_without_a_known_bandwidth() -> None:
    """``Placement.unrated`` (what the placements table prints as "ram bandwidth unknown"): a tier that holds
    nothing read per token never makes the speed unknown, however unknown its bandwidth; one byte read per token
    from a tier of unknown bandwidth does, and then there is no bottleneck to name."""
    placement = _placement_on_two_rtx_pro_6000()
    unknown = Bandwidth(None, "unknown")
    idle = MemoryTier("ram", holds_bytes=GIB, reads_per_token_bytes=0, bandwidth=unknown)
    rated = replace(placement, tiers=(*placement.tiers, idle))
    assert rated.unrated is None
    assert rated.bottleneck is not None and rated.bottleneck.name == placement.tiers[0].name
    assert rated.tokens_per_s_upper_bound == placement.tokens_per_s_upper_bound
    reading = replace(idle, reads_per_token_bytes=1)
    unrated = replace(placement, tiers=(*placement.tiers, reading))
    assert unrated.unrated is reading
    assert unrated.bottleneck is None and unrated.tokens_per_s_upper_bound is None


def test_a_placement_without_a_layer_count_has_no_decode_speed() -> None:
    """The per-token floor is a cost per layer (``speed.floor_ms``): a placement that knows no layer count has no
    calibrated speed rather than one with a floor of zero."""
    placement = _placement_on_two_rtx_pro_6000()
    assert decode_speed(placement) is not None
    assert decode_speed(replace(placement, layers=0)) is None


def test_the_computed_size_warns_only_beyond_a_fifth_of_the_table_and_says_by_how_much() -> None:
    """A row with no published file is compared with the size its bits give (``SIZE_WARNING_FRACTION`` = 0.2):
    V4-Pro Q6 computes to 1325.2 GB against the table's 648 GB (105% more) and is warned about; V4-Flash-Base Q6,
    234.7 GB against 221 GB (6%), is not."""
    catalog = default_catalog()
    pro, flash_base = catalog.model("deepseek-v4-pro"), catalog.model("deepseek-v4-flash-base")
    assert weights_estimate(pro, pro.quant("q6")).warnings == (
        "deepseek-v4-pro q6: no published file in the profile; 6.5625 bits per routed-expert weight give "
        "1325.2 GB, 105% more than the table's 648.0 GB",
    )
    assert weights_estimate(flash_base, flash_base.quant("q6")).warnings == ()


def test_published_sizes_use_the_rows_first_published_file() -> None:
    """``--sizes published`` takes the first published file of the row: V4-Flash Q4 lists three (unsloth's
    155.1 GB, then antirez's 156.0 and 164.6 GB), V4-Flash Q3 one (103.0 GB)."""
    model, row = _flash("q4")
    weights = weights_estimate(model, row, sizes="published")
    assert (weights.bytes, weights.basis) == (155_095_241_120, "published")
    q3 = model.quant("q3")
    assert weights_estimate(model, q3, sizes="published").bytes == 102_999_888_416


def test_bits_without_an_architecture_leave_the_split_of_the_weights_unknown() -> None:
    """The engram and "other" parts of the weights are computed from the architecture *and* the row's bits: a
    profile without an architecture (a model imported with no config) keeps the table's weights whole."""
    model, row = _flash("q4")
    assert row.bits is not None
    weights = weights_estimate(replace(model, architecture=None), row)
    assert (weights.bytes, weights.other_bytes, weights.engram_bytes, weights.computed_bytes) == (
        80 * 10**9,
        None,
        0,
        None,
    )


def test_a_malformed_requirement_shows_an_example_from_the_packaged_lineup() -> None:
    """``--require`` without ``MODEL:QUANT`` names the packaged lineup's small candidate as its example."""
    with pytest.raises(UsageError) as raised:
        parse_requirement("nonsense")
    assert str(raised.value) == "--require 'nonsense': expected MODEL:QUANT, e.g. deepseek-v4-flash:q4"


def test_a_requirement_outside_the_lineup_is_judged_on_its_own_row(cli) -> None:  # type: ignore[no-untyped-def]
    """``--require`` of a model no default check ranks (V4.1-Flash succeeds V4-Flash but is not a candidate) is
    still judged, on its own table row: its Q4 minimum (377.7 GiB) is beyond one H100."""
    result = cli(["check", "--gpus", "1xH100", "--ram", "256GB", "--require", "deepseek-v4.1-flash:q4", "--json"])
    assert result.code == 1
    required = result.json()["required"]
    assert (required["model"], required["quant"], required["fits"]) == ("deepseek-v4.1-flash", "q4", False)


def _listing(include: tuple[str, ...]) -> RepoListing:
    files = (RepoFile("UD-Q2_K_XL/DeepSeek-V4-Flash-UD-Q2_K_XL-00001-of-00002.gguf", 40 * 10**9),)
    return RepoListing(
        repo_id="someone/DeepSeek-V4-Flash-GGUF",
        revision="main",
        commit=None,
        include=include,
        files=files,
        source="hub",
        complete=True,
        target="/models",
        target_kind="local-dir",
        local_consulted=False,
        gated=False,
        scratch_bytes=0,
        scratch_note="",
    )


def test_a_repo_option_is_labelled_with_its_include_globs_or_all_files() -> None:
    """The derived row of ``check --repo`` is labelled with the repo and what it fetches: the ``--include``
    globs, or "all files" when there are none."""
    catalog = default_catalog()
    for include, words in (((), "all files"), (("UD-Q2_K_XL/*", "*.json"), "UD-Q2_K_XL/*, *.json")):
        listing = _listing(include)
        need = derived_need(listing.total_bytes, ratios_for(catalog, listing.repo_id, "q2"), "q2")
        option = repo_option(listing, need, lambda row: NONE)
        assert option.quant.label == f"someone/DeepSeek-V4-Flash-GGUF ({words})"
        assert (option.model.id, option.fit) == ("someone/DeepSeek-V4-Flash-GGUF", NONE)


def _v41_setting() -> tuple[inv.Inventory, Plan, dict[tuple[str, str], est.Estimate], est.MachineView]:
    """Four 96 GB GPUs: V4-Flash FP8 and V4.1-Flash FP8 both run from GPU memory (as in test_family.py)."""
    machine = inv.from_dict(inventory_dict([gpu(*RTX_PRO_6000, index=i) for i in range(4)], ram_gib=128))
    main = plan(machine, default_catalog())
    view = est.machine_view(machine)
    estimates = {o.key: est.estimate_option(o.model, o.quant, CONTEXT, view) for o in main.options}
    return machine, main, estimates, view


def test_the_successor_is_planned_on_the_checks_own_machine_view() -> None:
    """The successor's line plans V4.1-Flash on the view the check passes (its bandwidths, as ``--ram-bw`` or a
    probe set them), not on one read again from the inventory. With GPUs at a tenth of their bandwidth, V4-Flash FP8
    decodes at about 20 tok/s and V4.1-Flash FP8 at about 19.5: no line; V4.1-Flash planned on the usual view
    (about 35 tok/s, more than 1.25 x 20) would be called faster."""
    machine, main, _estimates, view = _v41_setting()
    catalog = default_catalog()
    slow = replace(
        view, gpu_bandwidths=tuple(replace(b, bytes_per_s=(b.bytes_per_s or 0) // 10) for b in view.gpu_bandwidths)
    )
    estimates = {o.key: est.estimate_option(o.model, o.quant, CONTEXT, slow) for o in main.options}
    assert successor_note(main.options, estimates, machine, catalog, CONTEXT, machine=slow) is None
    note = successor_note(main.options, estimates, machine, catalog, CONTEXT, machine=view)
    assert note is not None and note.older is not None
    assert note.line.startswith(
        "V4.1-Flash (newer than the article) would run faster here: FP8 all on the GPUs, ≈35 tok/s, against "
        "V4-Flash FP8 all on the GPUs, ≈20 tok/s"
    )


def test_a_successor_of_unknown_speed_is_never_called_faster() -> None:
    """When the successor's GPUs have no known bandwidth its speed is unknown: no "would run faster" line, since
    nothing says it is."""
    machine, main, estimates, view = _v41_setting()
    unknown = replace(view, gpu_bandwidths=tuple(Bandwidth(None, "unknown") for _ in view.gpu_bandwidths))
    assert successor_note(main.options, estimates, machine, default_catalog(), CONTEXT, machine=unknown) is None


def test_a_recommendation_the_table_catalogue_does_not_know_has_no_run_block() -> None:
    """On the table's figures (no rule-9 choice), the run block is chosen from ``table_catalog``; a recommended
    model that catalogue does not know (a profile only the plan's catalogue holds) gets no run block, and no error."""
    catalog = default_catalog()
    machine = inv.from_dict(inventory_dict([gpu(*RTX_PRO_6000, index=i) for i in range(4)], ram_gib=128))
    result = plan(machine, catalog)
    rec = result.recommendation.option
    assert rec is not None and rec.choice is None
    assert estimate_check(result, machine, catalog, CONTEXT).run is not None
    table = replace(catalog, models=tuple(m for m in catalog.models if m.id != rec.model.id))
    checked = estimate_check(result, machine, table, CONTEXT)
    assert (checked.run, checked.run_for, checked.run_plan) == (None, None, None)


def test_the_size_warning_names_the_published_file_a_plan_loads() -> None:
    """A plan that loads one of a row's published files (``download`` = its bytes and basis) is warned about that
    file, not the row's first: antirez's 156.0 GB MXFP4 GGUF of V4-Flash Q4 is 95% larger than the table's 80 GB
    (unsloth's first-listed 155.1 GB file would read 94%)."""
    model, row = _flash("q4")
    weights = weights_estimate(model, row, download=(155_976_458_848, "published"))
    assert weights.bytes == 155_976_458_848
    assert weights.warnings[0].startswith(
        "deepseek-v4-flash q4: the published antirez MXFP4Experts GGUF, 0731 (156.0 GB) is 95% larger than the "
        "table's 80.0 GB"
    )


def test_one_token_is_a_valid_context_for_the_token_parser() -> None:
    """``--context 1`` is the least context (``parse_tokens`` refuses 0 and below, not 1)."""
    assert units.parse_tokens("1") == 1
    with pytest.raises(units.SizeError, match="at least one token"):
        units.parse_tokens("0")


def test_llama_cpp_overhead_is_456_mib_of_context_and_1_gib_of_buffers_stated_to_two_decimals() -> None:
    """llama.cpp's per-GPU overhead (ggml-org/llama.cpp PR #15860): ~456 MiB of CUDA context plus compute buffers
    taken as 1 GiB, 1.45 GiB in the assumptions' words."""
    overhead = est.gpu_overhead("llama.cpp", 1)
    assert overhead.total_bytes == 456 * units.MIB + units.GIB
    assert overhead_words("llama.cpp").startswith("runtime overhead per GPU: 1.45 GiB, llama.cpp's")


def test_only_llama_cpp_plans_say_its_cache_is_not_the_fp8_rows() -> None:
    """The "fp8 rows are vLLM's layout" caveat belongs to llama.cpp plans asked for fp8; a vLLM plan (always fp8)
    never carries it."""
    caveat = "llama.cpp keeps V4's cache in f16"
    model, _row = _flash("fp8")
    vllm = est.estimate_option(model, model.quant("fp8"), CONTEXT, kv_dtype="fp8")
    assert not any(caveat in line for line in vllm.assumptions)
    llama = est.estimate_option(model, model.quant("q4"), CONTEXT, kv_dtype="fp8")
    assert any(caveat in line for line in llama.assumptions)


def test_a_global_kv_row_without_a_global_rate_counts_only_the_sliding_window_ring() -> None:
    """A ``global`` KV scheme whose row gives no ``global_bytes_per_token`` (the field is optional in a profile)
    counts nothing for the compressed latents: 4096 tokens of V4.1-Flash bf16 are the ring alone,
    layers x min(T, window) x 1024 B."""
    arch = default_catalog().model("deepseek-v4.1-flash").architecture
    assert arch is not None and arch.kv_scheme == "global"
    rows = {dtype: replace(row, global_bytes_per_token=None) for dtype, row in arch.kv_rows.items()}
    kv = est.kv_cache_bytes(replace(arch, kv_rows=rows), 4096, kv_dtype="bf16")
    assert kv.total_bytes == arch.layers * min(4096, arch.sliding_window) * 1024


def test_a_download_of_unknown_size_gets_a_run_block_that_says_so() -> None:
    """A download whose size is unknown is no plan: its run block has no placement and no lines, and says why."""
    choice = judged_pairs(inventory_dict([gpu(*RTX_PRO_6000)] * 2, ram_gib=256), "q4")["llama.cpp"]
    unknown = replace(choice.download, bytes=None)
    block = run_plan(unknown, choice.engine, choice.estimate, choice.estimate.gpu, None)
    assert (block.placement, block.steps, block.command) == (None, (), None)
    assert block.warning == f"{unknown.name}: its size is unknown"


def test_a_vllm_utilization_of_exactly_0_97_is_advised_and_0_98_is_not() -> None:
    """``--gpu-memory-utilization`` is the estimate's share of each GPU rounded up to 0.01; 0.97 is the most
    advised (``VLLM_MAX_ADVISED_UTILIZATION``): a need of 96.5% of the budget prints 0.97 without a warning, 97.5%
    prints 0.98 with one."""
    choice = judged_pairs(three_rtx_pro_6000(), "fp8")["vllm"]
    placement = choice.estimate.gpu
    assert placement is not None
    warning = "above the advised 0.97: expect OOM"
    fetched = Fetched((), None, None, "deepseek-ai/DeepSeek-V4-Flash")
    for share, util, warned in ((0.965, "0.97", False), (0.975, "0.98", True)):
        budgeted = replace(placement, budget_bytes=math.ceil(placement.gpu_bytes / share))
        words, notes = vllm_words(choice.estimate, budgeted, fetched, choice.engine)
        assert words[words.index("--gpu-memory-utilization") + 1] == util
        assert any(warning in note for note in notes) is warned


def test_a_tensor_parallel_split_of_unknown_heads_names_no_head_count() -> None:
    """Where the profile does not know the attention heads, vLLM's tensor-parallel size is any power of two up to
    the GPU count (two of three GPUs here) and no note claims it divides a head count it does not know; with
    Flash's 64 heads the note names them."""
    model, row = _flash("fp8")
    arch = model.architecture
    assert arch is not None
    view = est.machine_view(inv.from_dict(three_rtx_pro_6000()))
    headless = replace(model, architecture=replace(arch, attention_heads=None))
    unknown = est.estimate_option(headless, row, CONTEXT, view).gpu
    assert unknown is not None and unknown.tensor_parallel == 2
    assert not any("attention heads" in note for note in unknown.notes)
    known = est.estimate_option(model, row, CONTEXT, view).gpu
    assert known is not None and known.tensor_parallel == 2
    assert "tensor parallelism over 2 of the 3 GPUs (the size must divide the 64 attention heads)" in known.notes
