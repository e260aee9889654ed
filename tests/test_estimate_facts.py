"""One place for each fact the estimate uses: the KV formula's ratios, the speed estimate's share of peak
bandwidth, the VRAM scaling of published and derived rows, the experimental quantizations, the NVML bandwidth
formula; and the names other modules rely on (``MemoryTier``, the strict pairing of options)."""

from __future__ import annotations

from dataclasses import replace

from conftest import gpu, inventory_dict
from vram_advisor.catalog import derive
from vram_advisor.catalog.published import published_row
from vram_advisor.catalog.userprofiles import default_catalog
from vram_advisor.hub import importer
from vram_advisor.inventory import bandwidth
from vram_advisor.inventory.model import Gpu
from vram_advisor.plan import estimate as est
from vram_advisor.plan.estimate import speed as speed_module
from vram_advisor.report import estimate as estimate_report


def flash_arch():  # type: ignore[no-untyped-def]
    arch = default_catalog().model("deepseek-v4-flash").architecture
    assert arch is not None
    return arch


# ------------------------------------------------------------------------------------------------ the KV cache


def test_the_kv_formula_in_json_is_written_from_the_architecture() -> None:
    other = replace(flash_arch(), csa_ratio=8, hca_ratio=64, sliding_window=256)
    formula = estimate_report.kv_dict(est.kv_cache_bytes(other, 4096))["formula"]
    assert "ceil(T/8)" in formula and "ceil(T/64)" in formula and "min(T,256)" in formula
    flash = estimate_report.kv_dict(est.kv_cache_bytes(flash_arch(), 4096))["formula"]
    assert "ceil(T/4)" in flash and "ceil(T/128)" in flash and "min(T,128)" in flash


def v4_config(ratios: tuple[int, int]) -> dict:  # type: ignore[type-arg]
    csa, hca = ratios
    return {
        "num_hidden_layers": 43,
        "num_attention_heads": 64,
        "hidden_size": 4096,
        "head_dim": 512,
        "sliding_window": 128,
        "compress_ratios": [0, 0] + [csa, hca] * 20 + [csa] + [0],
        "index_head_dim": 128,
    }


def test_an_import_estimates_v4_kv_with_the_estimates_arithmetic() -> None:
    flash = est.kv_cache_bytes(flash_arch(), 1000)
    imported = importer.geometry(v4_config((4, 128)))
    assert imported["kv_bf16_bytes_per_token"] == round(flash.amortised_bytes_per_token) == 6880
    assert imported["kv_bf16_fixed_bytes_per_sequence"] == flash_arch().layers * 128 * 1024


def test_an_import_reads_the_compression_ratios_from_the_config() -> None:
    g = importer.geometry(v4_config((8, 64)))
    assert (g["csa_ratio"], g["hca_ratio"], g["csa_layers"], g["hca_layers"]) == (8, 64, 21, 20)
    assert g["kv_bf16_bytes_per_token"] == round(est.kv_bytes_per_token(21, 20, 8, 64, 1024, 256))
    assert "ceil(T/8)" in g["kv_formula"]


# -------------------------------------------------------------------------------------------------- speeds


def test_the_speed_model_in_every_view_is_the_constants(cli, write_inventory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Issue 12: the views describe the calibrated model (shares of peak and the per-layer floor) from its constants."""
    monkeypatch.setitem(speed_module.TIER_FRACTION, "ram", 0.45)
    path = write_inventory(inventory_dict([gpu("NVIDIA GeForce RTX 4090", 24564)], ram_gib=192))
    estimate_out = cli(["estimate", "deepseek-v4-flash", "--quant", "q4", "--inventory", path]).out
    check_out = cli(["check", "--inventory", path, "--details"]).out
    for out in (" ".join(estimate_out.split()), " ".join(check_out.split())):  # as one line, however rich wraps
        assert "ram 45%" in out
        assert "ms per layer" in out


# ------------------------------------------------------------------------------------- table rows from sizes


def test_published_rows_scale_the_vram_exactly_as_derived_rows_do() -> None:
    for model in default_catalog().models:
        for row in model.quants:
            if not row.published:
                continue
            size = row.published[0].size_bytes
            need = derive.derived_need(size, derive.row_ratios(model, row, "test"), row.id)
            derived = derive.derived_row(need, row_id=row.id, label="", best_for="", source="")
            swapped = published_row(row)
            assert (swapped.weights, swapped.min_vram, swapped.safer_vram) == (
                derived.weights,
                derived.min_vram,
                derived.safer_vram,
            ), (model.id, row.id)
            assert swapped.min_vram_bytes >= need.min_vram_bytes  # rounded up, never down


def test_experimental_rows_follow_the_plans_rule(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    model = default_catalog().model("deepseek-v4-flash")
    need = derive.derived_need(50 * 10**9, derive.row_ratios(model, model.quant("q3"), "test"), "q3")
    assert derive.derived_row(need, row_id="q3", label="", best_for="", source="").experimental is True
    monkeypatch.setattr(derive, "EXPERIMENTAL_ORDER", ("q2",))
    assert derive.derived_row(need, row_id="q3", label="", best_for="", source="").experimental is False
    assert derive.is_experimental("q2") and not derive.is_experimental("q3")


# ---------------------------------------------------------------------------------------------- bandwidths


def test_nvml_bandwidth_formula_is_one_function() -> None:
    assert bandwidth.memory_bandwidth_bytes_per_s(5120, 2619) == 3_352_320_000_000  # H100 (k8s-test-infra qx-h100)
    assert bandwidth.memory_bandwidth_bytes_per_s(384, 10501) == 1_008_096_000_000  # RTX 4090
    assert bandwidth.memory_bandwidth_bytes_per_s(None, 2619) is None
    assert bandwidth.memory_bandwidth_bytes_per_s(5120, 0) is None
    nvml = Gpu(name="x", memory_total_bytes=1, memory_bus_width_bits=6144, memory_clock_max_mhz=3201)
    assert bandwidth.gpu_bandwidth(nvml).bytes_per_s == bandwidth.memory_bandwidth_bytes_per_s(6144, 3201)


# ------------------------------------------------------------------------------------------------- names


def test_a_placements_tiers_are_memory_tiers() -> None:
    doc_estimate = est.estimate_option(
        default_catalog().model("deepseek-v4-flash"), default_catalog().model("deepseek-v4-flash").quant("q4"), 4096
    )
    assert all(isinstance(tier, est.MemoryTier) for p in doc_estimate.placements for tier in p.tiers)
    assert not hasattr(est, "Tier")  # the Quick Summary's rows are profiles.TierRow; a memory tier is MemoryTier


def _inventory():  # type: ignore[no-untyped-def]
    from vram_advisor.inventory import model as inv

    return inv.from_dict(inventory_dict([gpu("NVIDIA H100 80GB HBM3", 81559, 480)], ram_gib=256))
