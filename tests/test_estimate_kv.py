"""The V4 KV-cache formula against published figures and engine logs (r/LocalLLaMA, vLLM PR #48993)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import GIB, MIB, gpu, inventory_dict
from vram_advisor.catalog.architecture import KvRow
from vram_advisor.catalog.userprofiles import default_catalog
from vram_advisor.core.errors import UsageError
from vram_advisor.plan.estimate import kv_cache_bytes

ONE_M = 1024**2


def arch(model_id: str):  # type: ignore[no-untyped-def]
    return default_catalog().model(model_id).architecture


# Published per-sequence figures at 1M tokens (r/LocalLLaMA "The exact KV cache usage of DeepSeek V4",
# 24-ai.news summarising the vLLM blog, yiliu30.github.io), and the fp8_ds_mla table rows.
@pytest.mark.parametrize(
    ("model_id", "dtype", "published_gib"),
    [
        ("deepseek-v4-flash", "bf16", 6.72),
        ("deepseek-v4-pro", "bf16", 9.62),
        ("deepseek-v4-flash", "fp8", 3.76),
        ("deepseek-v4-pro", "fp8", 5.38),
    ],
)
def test_one_million_tokens_matches_the_published_figures(model_id: str, dtype: str, published_gib: float) -> None:
    kv = kv_cache_bytes(arch(model_id), ONE_M, dtype)
    assert kv.total_bytes / GIB == pytest.approx(published_gib, abs=0.01)


def test_amortised_bytes_per_token_are_the_facts_rows() -> None:
    # Flash 6,880 B/token BF16 and 3,850 fp8; Pro 9,848 and 5,511 (the formula; the BF16 rates match r/LocalLLaMA)
    assert kv_cache_bytes(arch("deepseek-v4-flash"), 1000, "bf16").amortised_bytes_per_token == 6880
    assert kv_cache_bytes(arch("deepseek-v4-pro"), 1000, "bf16").amortised_bytes_per_token == 9848
    assert round(kv_cache_bytes(arch("deepseek-v4-flash"), 1000, "fp8").amortised_bytes_per_token) == 3850
    assert round(kv_cache_bytes(arch("deepseek-v4-pro"), 1000, "fp8").amortised_bytes_per_token) == 5511


def test_sliding_window_ring_is_the_facts_fixed_cost() -> None:
    # 5.4 MiB (Flash) and 7.6 MiB (Pro) per sequence at BF16: layers x 128 x 1024 B
    assert kv_cache_bytes(arch("deepseek-v4-flash"), ONE_M).swa_ring_bytes / MIB == pytest.approx(5.4, abs=0.05)
    assert kv_cache_bytes(arch("deepseek-v4-pro"), ONE_M).swa_ring_bytes / MIB == pytest.approx(7.6, abs=0.05)


def test_formula_matches_vllm_block_stride_with_the_mxfp4_indexer() -> None:
    # vLLM PR #48993 (V4-Pro, GB200): fp8_ds_mla with the 68-byte MXFP4 indexer row, 1,315,008 bytes per
    # 256-token block = 5,137 B/token "including the SWA/state overlay"; the formula gives 5,031.
    pro = arch("deepseek-v4-pro")
    fp4_indexer = replace(pro, kv_rows={"fp8": KvRow(main_bytes=584, indexer_bytes=68, source="v4-kv")})
    amortised = kv_cache_bytes(fp4_indexer, 256 * 1024, "fp8").amortised_bytes_per_token
    measured = 1_315_008 / 256
    assert amortised == pytest.approx(5031, abs=1)
    assert amortised <= measured <= amortised * 1.03


def test_row_size_and_layer_count_match_llama_cpp_swa_log() -> None:
    # llama.cpp issue #27680: "creating SWA KV cache, size = 4352 cells" -> "182.75 MiB (4352 cells, 43 layers)"
    flash = arch("deepseek-v4-flash")
    assert flash.layers * 4352 * flash.kv_rows["bf16"].main_bytes / MIB == pytest.approx(182.75)


def test_short_contexts_only_fill_part_of_the_window() -> None:
    flash = arch("deepseek-v4-flash")
    kv = kv_cache_bytes(flash, 100)
    assert kv.swa_rows == 100
    assert kv.swa_ring_bytes == flash.layers * 100 * 1024


@given(st.integers(min_value=128, max_value=ONE_M // 2))
def test_kv_grows_by_the_amortised_rate(tokens: int) -> None:
    pro = arch("deepseek-v4-pro")
    step = 128 * 64  # a whole number of CSA and HCA rows
    base = kv_cache_bytes(pro, tokens)
    more = kv_cache_bytes(pro, tokens + step)
    assert more.total_bytes - base.total_bytes == pytest.approx(base.amortised_bytes_per_token * step, rel=0.02)
    assert more.total_bytes > base.total_bytes


def test_sequences_multiply() -> None:
    flash = arch("deepseek-v4-flash")
    assert kv_cache_bytes(flash, 4096, sequences=3).total_bytes == 3 * kv_cache_bytes(flash, 4096).total_bytes


def test_unknown_dtype_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="kv-dtype"):
        kv_cache_bytes(arch("deepseek-v4-flash"), 1024, "fp16")


# ------------------------------------------------------------------------------------------ through check


def _kv_by_model(document: dict, engine: str = "llama.cpp") -> dict[str, int]:  # type: ignore[type-arg]
    """Each model's KV cache as ``engine`` keeps it (the first of its options that runs on it)."""
    out: dict[str, int] = {}
    for option in document["options"]:
        if option["engine"] == engine:
            out.setdefault(option["model"], option["kv_cache_bytes"])
    return out


def test_check_one_million_json_shows_the_kv_cache(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    path = write_inventory(inventory_dict([gpu("NVIDIA H100 80GB HBM3", 81559, 480)] * 8, ram_gib=2048))
    result = cli(["check", "--inventory", path, "--context", "1M", "--json"])
    assert result.code == 0, result.err
    document = result.json()
    assert document["context_tokens"] == ONE_M
    kv = _kv_by_model(document)
    assert kv["deepseek-v4-flash"] / GIB == pytest.approx(6.7, abs=0.05)
    assert kv["deepseek-v4-pro"] / GIB == pytest.approx(9.6, abs=0.05)
    fp8 = cli(["check", "--inventory", path, "--context", "1M", "--kv-dtype", "fp8", "--json"])
    kv8 = _kv_by_model(fp8.json())
    assert 3.4 <= kv8["deepseek-v4-flash"] / GIB <= 3.8
    assert 4.9 <= kv8["deepseek-v4-pro"] / GIB <= 5.4
    # vLLM runs V4 only with --kv-cache-dtype fp8, which its printed line passes: its options count the fp8 rows
    assert _kv_by_model(document, "vllm")["deepseek-v4-flash"] == _kv_by_model(fp8.json(), "vllm")["deepseek-v4-flash"]
    assert 3.4 <= _kv_by_model(document, "vllm")["deepseek-v4-flash"] / GIB <= 3.8
    for option in document["options"]:
        assert option["need_bytes"] > option["kv_cache_bytes"]
        assert isinstance(option["context_fits"], bool)


def test_context_that_does_not_fit_is_flagged_while_fit_stays_the_tables(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    # H200 + H100 = 219.6 GiB usable: Flash FP8 meets the table's 192 GB minimum, but vLLM's even tensor-parallel
    # split over the two is bounded by the H100 (2 x 79.2 GiB), too small for 148.7 GiB of weights + KV + overhead.
    path = write_inventory(
        inventory_dict([gpu("NVIDIA H200", 143771), gpu("NVIDIA H100 80GB HBM3", 81559, 480)], ram_gib=512)
    )
    short = cli(["check", "--sizes", "table", "--inventory", path, "--json"]).json()
    long = cli(["check", "--sizes", "table", "--inventory", path, "--context", "1M", "--json"]).json()
    assert [o["fit"] for o in short["options"]] == [o["fit"] for o in long["options"]]
    by_key = {(o["model"], o["quant"]): o for o in long["options"]}
    short_by_key = {(o["model"], o["quant"]): o for o in short["options"]}
    flash = by_key[("deepseek-v4-flash", "fp8")]
    assert flash["fit"] == "minimum"
    assert flash["context_fits"] is False
    assert flash["need_bytes"] - short_by_key[("deepseek-v4-flash", "fp8")]["need_bytes"] == (
        flash["kv_cache_bytes"] - short_by_key[("deepseek-v4-flash", "fp8")]["kv_cache_bytes"]
    )
    assert any("deepseek-v4-flash fp8 meets the table's minimum" in w for w in long["warnings"])
    assert any("even tensor-parallel split" in w for w in long["warnings"])
    assert long["estimate"]["heterogeneous_gpus"] is True
    assert long["estimate"]["even_split_vram_bytes"] == 2 * (81559 - 480) * MIB
    # llama.cpp (GGUF) splits unevenly: Flash Q4 uses the whole usable VRAM and fits
    assert by_key[("deepseek-v4-flash", "q4")]["context_fits"] is True


def test_context_beyond_the_models_limit_is_exit_2(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    path = write_inventory(inventory_dict([gpu("NVIDIA H100 80GB HBM3", 81559, 480)]))
    result = cli(["check", "--inventory", path, "--context", "2M", "--json"])
    assert result.code == 2
    assert result.out == ""
    assert "--context" in result.err and "1,048,576" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_bad_kv_dtype_is_exit_2(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    path = write_inventory(inventory_dict([gpu("NVIDIA H100 80GB HBM3", 81559, 480)]))
    result = cli(["check", "--inventory", path, "--kv-dtype", "int4"])
    assert result.code == 2
    assert "--kv-dtype" in result.err
