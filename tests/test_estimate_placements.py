"""Placements (GPU, GPU+RAM, CPU, NVMe) and decode-speed bounds, checked against measured deployments
(kvcache-ai/ktransformers#2001, lmstudio-ai/lmstudio-bug-tracker#2235, the vLLM recipes)."""

from __future__ import annotations

import json

import pytest

from conftest import GIB, MIB, gpu, inventory_dict
from vram_advisor.catalog.profiles import packaged_catalog
from vram_advisor.core import units
from vram_advisor.inventory import model as inv
from vram_advisor.plan import estimate as est
from vram_advisor.report import estimate as estimate_report

RTX_PRO_6000 = ("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", 97887)


def document(model: str, quant: str, context: int, inventory: dict | None = None, **options):  # type: ignore[no-untyped-def,type-arg]
    loaded = inv.from_dict(inventory) if inventory is not None else None
    return estimate_report.estimate_document(model, quant, context, loaded, **options)


def placement(doc: dict, kind: str) -> dict:  # type: ignore[type-arg]
    return next(p for p in doc["placements"] if p["placement"] == kind)


# ------------------------------------------------------------------------------------------ measured points


def test_v4_pro_hybrid_against_ktransformers_2001() -> None:
    """ktransformers #2001 (fairydreaming): V4-Pro, native FP4+FP8 weights, one RTX PRO 6000 (97887 MiB) plus
    12 x 96 GB of RAM (an EPYC 9374F: 12 channels of DDR5-4800), 83-85 GiB of VRAM used, tg32 = 7.33 tok/s.

    The bandwidth upper bound (RAM: 12.8 GB of active routed experts per token at 460.8 GB/s = 35.9 tok/s) is an
    upper bound, 4.9x the measurement: it assumes the GPU's and the CPU's work overlap perfectly and that the
    CPU streams FP4 experts at the DIMMs' peak; decode on 32 cores is partly compute-bound (FP4 dequantisation) and
    each layer waits for the GPU, then the CPU. The serial estimate (tiers in series at 55% of peak) is within 2x.
    """
    doc = document(
        "deepseek-v4-pro",
        "fp8",
        2048 + 32,
        inventory_dict([gpu(*RTX_PRO_6000)], ram_gib=12 * 96 * 10**9 / GIB),
        ram_bw=units.parse_bandwidth("12xDDR5-4800"),
        sizes="published",
    )
    hybrid = placement(doc, est.PLACEMENT_HYBRID)
    assert hybrid["fits"] is True
    assert doc["recommended_placement"] == est.PLACEMENT_HYBRID
    # the planner's own plan fills the VRAM the non-expert part leaves with some layers' routed experts
    assert 0 < hybrid["expert_layers"]["on_gpu"] < hybrid["expert_layers"]["layers"] == 61
    # the measured run kept every routed expert in RAM: the same placement with none on the GPU
    machine = est.machine_view(
        inv.from_dict(inventory_dict([gpu(*RTX_PRO_6000)], ram_gib=12 * 96 * 10**9 / GIB)),
        units.parse_bandwidth("12xDDR5-4800"),
    )
    model = packaged_catalog().model("deepseek-v4-pro")
    quant = model.quant("fp8")
    estimate = est.estimate_option(model, quant, 2048 + 32, machine, "bf16", "published")
    assert model.architecture is not None and quant.bits is not None and estimate.kv is not None
    as_run = est.hybrid_placement(model.architecture, quant.bits, estimate.weights, estimate.kv, machine, 0)
    assert as_run is not None and as_run.fits is True and as_run.expert_split is not None
    assert as_run.expert_split.on_gpu_layers == 0
    measured_tok_s = 7.33
    bottleneck, speed, upper = as_run.bottleneck, as_run.speed, as_run.tokens_per_s_upper_bound
    assert bottleneck is not None and bottleneck.name == "ram" and speed is not None and upper is not None
    assert measured_tok_s <= upper
    assert 0.5 <= speed.tokens_per_s / measured_tok_s <= 2.0
    # the planner's split reads fewer experts from RAM, so its estimate is the faster one
    assert hybrid["decode_tokens_per_s"]["estimate"] > speed.tokens_per_s
    # memory: the GPU part within 2x of the 83,261-85,467 MiB measured (ktransformers keeps more on the GPU)
    gpu_mib = as_run.gpu_bytes / MIB
    assert 83261 / 2 <= gpu_mib <= 85467
    # and the routed experts fit in the ~80% of RAM the run used
    assert as_run.weights_ram <= 0.8 * 12 * 96 * 10**9


def test_v4_flash_hybrid_vram_against_lm_studio_2235() -> None:
    """lmstudio-bug-tracker #2235: V4-Flash with all 43 layers' MoE weights on the CPU at ctx 393,216 used ~17 GB of
    VRAM. The estimate (other weights + KV + overhead) is within 2x (llama.cpp adds its own buffers)."""
    doc = document(
        "deepseek-v4-flash",
        "fp8",
        393_216,
        inventory_dict([gpu("NVIDIA GeForce RTX 4090", 24564)], ram_gib=256),
        sizes="published",
    )
    hybrid = placement(doc, est.PLACEMENT_HYBRID)
    assert hybrid["fits"] is True
    assert 17e9 / 2 <= hybrid["gpu_bytes"] <= 17e9 * 2
    assert hybrid["breakdown"]["kv_cache"]["bytes"] == doc["kv_cache"]["bytes"]


def test_published_fp8_weights_reconcile_with_the_routed_expert_bytes() -> None:
    """Flash routed experts 277.03B params -> 147.17 GB at FP4 + scales (anthony-chaudhary/fak#12635's 4.25 bits);
    the checkpoint is 159.6 GB (vLLM issue #40802: 148.66 GiB)."""
    doc = document("deepseek-v4-flash", "fp8", 1024, sizes="published", release="preview")
    arch = doc["architecture"]
    assert arch["routed_params"] / 1e9 == pytest.approx(277.03, abs=0.01)
    assert arch["routed_params"] * 4.25 / 8 / 1e9 == pytest.approx(147.17, abs=0.01)
    assert doc["weights"]["bytes"] / 1e9 == pytest.approx(159.6, abs=0.1)
    pro = document("deepseek-v4-pro", "fp8", 1024)["architecture"]
    assert pro["routed_params"] / 1e9 == pytest.approx(1547.4, abs=0.1)


# --------------------------------------------------------------------------------------------- the model


def test_tensor_parallel_size_divides_the_heads() -> None:
    assert est.tensor_parallel_size(8, 128) == 8
    assert est.tensor_parallel_size(3, 64) == 2
    assert est.tensor_parallel_size(6, 64) == 4
    assert est.tensor_parallel_size(1, 64) == 1
    assert est.tensor_parallel_size(0, 64) == 0


def test_even_split_is_bounded_by_the_smallest_gpu_used() -> None:
    caps = [80 * GIB, 24 * GIB, 140 * GIB]
    assert est.even_split_bytes(caps, 2) == 160 * GIB
    assert est.even_split_bytes(caps, 3) == 72 * GIB
    assert est.even_split_bytes(caps, 0) == 0


def test_vllm_gpu_plan_uses_the_even_split_and_llama_cpp_the_sum() -> None:
    mixed = inventory_dict([gpu("NVIDIA H200", 143771), gpu("NVIDIA H100 80GB HBM3", 81559, 480)], ram_gib=512)
    fp8 = placement(document("deepseek-v4-flash", "fp8", 32768, mixed), est.PLACEMENT_GPU)
    q4 = placement(document("deepseek-v4-flash", "q4", 32768, mixed), est.PLACEMENT_GPU)
    assert fp8["engine"] == "vllm" and q4["engine"] == "llama.cpp"
    assert fp8["budget_bytes"] == 2 * (81559 - 480) * MIB
    assert q4["budget_bytes"] == (143771 + 81559 - 480) * MIB
    assert fp8["breakdown"]["overhead"]["devices"] == 2


def test_overheads_are_counted_per_gpu() -> None:
    one = document("deepseek-v4-flash", "q4", 32768, inventory_dict([gpu("NVIDIA H100 80GB HBM3", 81559, 480)]))
    four = document("deepseek-v4-flash", "q4", 32768, inventory_dict([gpu("NVIDIA H100 80GB HBM3", 81559, 480)] * 4))
    o1 = placement(one, est.PLACEMENT_GPU)["breakdown"]["overhead"]
    o4 = placement(four, est.PLACEMENT_GPU)["breakdown"]["overhead"]
    assert o4["total_bytes"] == 4 * o1["total_bytes"]
    assert o1["per_device_bytes"] == est.CUDA_CONTEXT_BYTES + est.LLAMA_CPP_COMPUTE_BYTES
    assert all(part["source"] for part in o1["parts"])


def test_tensor_parallel_reads_in_parallel() -> None:
    two = document("deepseek-v4-flash", "fp8", 32768, inventory_dict([gpu("NVIDIA H200", 143771)] * 2))
    four = document("deepseek-v4-flash", "fp8", 32768, inventory_dict([gpu("NVIDIA H200", 143771)] * 4))
    bound2 = placement(two, est.PLACEMENT_GPU)["decode_tokens_per_s"]["upper_bound"]
    bound4 = placement(four, est.PLACEMENT_GPU)["decode_tokens_per_s"]["upper_bound"]
    assert bound4 == pytest.approx(2 * bound2, rel=0.01)


def test_hybrid_speed_follows_the_ram_bandwidth() -> None:
    machine = inventory_dict([gpu("NVIDIA GeForce RTX 4090", 24564)], ram_gib=256)
    slow = document("deepseek-v4-flash", "q4", 32768, machine, ram_bw=units.parse_bandwidth("50GB/s"))
    fast = document("deepseek-v4-flash", "q4", 32768, machine, ram_bw=units.parse_bandwidth("100GB/s"))
    slow_h, fast_h = placement(slow, est.PLACEMENT_HYBRID), placement(fast, est.PLACEMENT_HYBRID)
    assert slow_h["decode_tokens_per_s"]["bottleneck"] == "ram"
    assert fast_h["decode_tokens_per_s"]["upper_bound"] == pytest.approx(
        2 * slow_h["decode_tokens_per_s"]["upper_bound"], rel=0.01
    )
    ram_tier = next(t for t in slow_h["tiers"] if t["tier"] == "ram")
    assert ram_tier["bandwidth_source"] == "--ram-bw"
    # the GPU holds the non-routed weights, KV, overhead and the last layers' routed experts; RAM the first ones'
    layers = slow_h["expert_layers"]
    assert 0 < layers["on_gpu"] < layers["layers"] and layers["in_ram"] == layers["layers"] - layers["on_gpu"]
    assert slow_h["breakdown"]["weights"]["ram"] == layers["off_gpu_bytes"]
    assert slow_h["gpu_bytes"] + slow_h["ram_bytes"] == slow_h["need_bytes"]


def test_mmap_plan_reads_the_uncached_experts_from_disk() -> None:
    machine = inventory_dict(
        [gpu("NVIDIA GeForce RTX 4090", 24564)],
        ram_gib=64,
        disks=[{"path": "/models", "kind": "nvme", "free_bytes": 2 * 10**12, "total_bytes": 4 * 10**12}],
    )
    doc = document("deepseek-v4-flash", "fp8", 32768, machine, model_dir="/models", sizes="published")
    nvme = placement(doc, est.PLACEMENT_NVME)
    assert placement(doc, est.PLACEMENT_HYBRID)["fits"] is False  # 140 GiB of experts, 56 GiB of RAM to spare
    assert nvme["fits"] is True
    assert nvme["disk_bytes"] > 0
    assert (
        nvme["breakdown"]["weights"]["ram"] + nvme["disk_bytes"] + nvme["breakdown"]["weights"]["gpu"]
        == (doc["weights"]["bytes"])
    )
    disk = next(t for t in nvme["tiers"] if t["tier"] == "disk")
    assert disk["bandwidth_bytes_per_s"] == 7_876_923_076
    assert nvme["decode_tokens_per_s"]["bottleneck"] == "disk"
    assert nvme["decode_tokens_per_s"]["upper_bound"] == pytest.approx(
        disk["bandwidth_bytes_per_s"] / disk["reads_per_token_bytes"], abs=0.01
    )
    assert doc["recommended_placement"] == est.PLACEMENT_NVME
    faster = document(
        "deepseek-v4-flash", "fp8", 32768, machine, model_dir="/models", sizes="published", disk_bw=14 * 10**9
    )
    assert (
        placement(faster, est.PLACEMENT_NVME)["decode_tokens_per_s"]["upper_bound"]
        > nvme["decode_tokens_per_s"]["upper_bound"]
    )


def test_unknown_bandwidth_gives_no_speed_rather_than_a_guess() -> None:
    machine = inventory_dict([gpu("Some Future GPU", 49152)], ram_gib=256)
    doc = document("deepseek-v4-flash", "q2", 32768, machine)
    gpu_plan = placement(doc, est.PLACEMENT_GPU)
    assert set(gpu_plan["decode_tokens_per_s"].values()) == {None}  # no estimate, no range, no bound
    with_nvml = inventory_dict(
        [gpu("Some Future GPU", 49152, memory_bus_width_bits=384, memory_clock_max_mhz=10501)], ram_gib=256
    )
    rated = placement(document("deepseek-v4-flash", "q2", 32768, with_nvml), est.PLACEMENT_GPU)
    assert rated["tiers"][0]["bandwidth_bytes_per_s"] == 2 * 10501 * 10**6 * 384 // 8


def test_cpu_only_machine_gets_no_gpu_plans() -> None:
    doc = document("deepseek-v4-flash", "q2", 32768, inventory_dict([], ram_gib=128))
    kinds = [p["placement"] for p in doc["placements"]]
    assert est.PLACEMENT_HYBRID not in kinds
    assert placement(doc, est.PLACEMENT_GPU)["fits"] is False
    cpu = placement(doc, est.PLACEMENT_CPU)
    assert cpu["fits"] is True and cpu["gpu_bytes"] == 0
    words = doc["run"]["command"].split()
    assert words[words.index("-ngl") + 1] == "0" and "-ot" not in words


def test_machine_independent_document_is_json_ready() -> None:
    doc = estimate_report.estimate_document("deepseek-v4-pro", "Q4", 131072)
    assert json.loads(json.dumps(doc)) == doc
    assert doc["machine"] is None
    assert {p["placement"] for p in doc["placements"]} == {est.PLACEMENT_GPU, est.PLACEMENT_HYBRID, est.PLACEMENT_CPU}
    assert all(p["fits"] is None for p in doc["placements"])
    assert doc["quant"] == "q4" and doc["context_tokens"] == 131072
    assert doc["kv_cache"]["bytes"] > 0 and doc["assumptions"]
