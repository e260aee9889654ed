"""Machines people have (Apple Silicon what-ifs, HGX B300 apart from GB300, V100's missing FP4 path) and commands
that run (llama-server states -np and names a real file; llama.cpp's cache is f16), issue 12 parts 5 and 6."""

from __future__ import annotations

import shlex

import pytest

from vram_advisor.core import units
from vram_advisor.core.errors import UsageError
from vram_advisor.inventory import apple, cards, whatif
from vram_advisor.inventory import bandwidth as bw
from vram_advisor.inventory import model as inv


def empty() -> inv.Inventory:
    return inv.Inventory(ram=inv.Ram(total_bytes=64 * units.GIB))


# ------------------------------------------------------------------------------------------------ Apple Silicon


@pytest.mark.parametrize(
    ("spec", "ram_gib", "budget_gib", "gb_s"),
    [
        ("M3-Ultra-512GB", 512, 384, 819),
        ("M4-Max-128GB", 128, 96, 546),
        ("M4-Max-36GB", 36, 24, 410),  # the cut-down M4 Max: 410 GB/s; 36 GiB is still 2/3
        ("M2-Ultra-192GB", 192, 144, 800),
        ("M3-Max-128GB", 128, 96, 400),
        ("m1 max 64gb", 64, 48, 400),
    ],
)
def test_apple_what_if_is_one_unified_gpu_with_the_default_wired_limit(
    spec: str, ram_gib: int, budget_gib: int, gb_s: int
) -> None:
    machine = whatif.apply(empty(), gpus=spec)
    (gpu,) = machine.gpus
    assert gpu.unified is True and gpu.vendor == "apple"
    assert gpu.memory_total_bytes == budget_gib * units.GIB  # hardware-probing.md §6: 2/3 up to 36 GiB, 3/4 above
    assert machine.ram.total_bytes == ram_gib * units.GIB  # a Mac's RAM is the chip's memory
    rate = bw.gpu_bandwidth(gpu)
    assert rate.bytes_per_s == gb_s * 10**9 and "Apple" in rate.source
    assert "wired limit" in machine.notes[-1]


def test_apple_budget_rule_matches_the_probe() -> None:
    from vram_advisor.probe import unified

    for gib in (16, 36, 37, 128, 512):
        assert unified.apple_default_budget(gib * units.GIB) == apple.default_budget(gib * units.GIB)


def test_apple_ram_given_wins() -> None:
    machine = whatif.apply(empty(), gpus="M4-Max-128GB", ram="96GB")
    assert machine.ram.total_bytes == 96 * units.GIB


@pytest.mark.parametrize("spec", ["M3-Ultra", "M3-Ultra-1024GB", "M4-Max-512GB"])
def test_apple_chip_without_a_real_memory_size_is_a_usage_error(spec: str) -> None:
    with pytest.raises(UsageError, match="say the memory"):
        whatif.parse_gpus(spec)


def test_apple_check_judges_the_unified_budget(cli) -> None:  # type: ignore[no-untyped-def]
    doc = cli(["estimate", "deepseek-v4-flash", "--quant", "q4", "--gpus", "M3-Ultra-512GB", "--json"]).json()
    assert doc["machine"]["usable_vram_bytes"] == 384 * units.GIB
    gpu_plan = next(p for p in doc["placements"] if p["placement"] == "gpu")
    assert gpu_plan["fits"] is True
    speed = gpu_plan["decode_tokens_per_s"]
    assert 12 <= speed["estimate"] <= 47  # measured-speeds.md row 4: 23.28 tok/s
    assert speed["text"].startswith("≈ ")


# ------------------------------------------------------------------------------------------------ B300, V100


def test_b300_is_the_hgx_b300_and_gb300_stays_apart() -> None:
    b300, gb300 = cards.lookup("B300"), cards.lookup("GB300")
    assert b300 is not None and gb300 is not None and b300 is not gb300
    assert b300.total_mib == 275040 and b300.compute_capability == "10.3"
    assert gb300.total_mib == 284208
    assert whatif.parse_gpus("8xB300")[0].memory_total_bytes == 275040 * units.MIB


def test_v100_runs_the_checkpoint_as_a_gguf_and_says_why_not_vllm(cli) -> None:  # type: ignore[no-untyped-def]
    assert cards.ambiguity("V100") is not None
    doc = cli(["estimate", "deepseek-v4-flash", "--quant", "fp8", "--gpus", "8xV100-32GB", "--json"]).json()
    # vLLM needs sm_90 or newer for V4 (profiles/engines.json): the same weights run as the GGUF repack on llama.cpp
    assert doc["run"]["engine_id"] == "llama.cpp" and doc["download"]["format"] == "gguf"
    assert any(
        note.startswith("vLLM does not run here (NVIDIA CUDA (sm_70), 8 GPUs): it runs V4 on sm_90 to sm_110")
        for note in doc["run"]["notes"]
    )


def test_what_if_cards_carry_their_compute_capability() -> None:
    for spec, cc in (("RTXPRO6000", "12.0"), ("RTX5090", "12.0"), ("GB10", "12.1"), ("B200", "10.0"), ("H100", "9.0")):
        assert whatif.parse_gpus(spec)[0].compute_capability == cc, spec


# ------------------------------------------------------------------------------------------------ llama-server


@pytest.mark.parametrize(("quant", "gpus"), [("fp8", "1xH100"), ("q2", "1xH100"), ("q3", "4xRTX4090")])
def test_llama_server_states_np_and_names_a_real_file(cli, quant: str, gpus: str) -> None:  # type: ignore[no-untyped-def]
    doc = cli(["estimate", "deepseek-v4-flash", "--quant", quant, "--gpus", gpus, "--ram", "512GB", "--json"]).json()
    run = doc["run"]
    assert run["command"] is not None
    words = shlex.split(run["command"])
    assert words[0] == "llama-server"
    assert words[words.index("-np") + 1] == "1"
    assert doc["kv_cache"]["sequences"] == 1
    assert "FILE" not in run["command"]
    if "-m" in words:
        target = words[words.index("-m") + 1]
        assert target.endswith(".gguf") and "FILE" not in target
    else:
        assert "-hf" in words


def test_the_antirez_q2_file_is_named(cli) -> None:  # type: ignore[no-untyped-def]
    doc = cli(
        [
            "estimate",
            "deepseek-v4-flash",
            "--quant",
            "q2",
            "--gpus",
            "M3-Ultra-512GB",
            "--json",
            "--release",
            "preview",
            "--model-dir",
            "/Volumes/models",
        ]
    ).json()
    command = doc["run"]["command"]  # ds4, the engine the antirez files are made for, is Metal's first choice
    assert doc["run"]["engine_id"] == "ds4"
    file = "DeepSeek-V4-Flash-IQ2XXS-w2Q2K-AProjQ8-SExpQ8-OutQ8-chat-v2.gguf"
    assert doc["run"]["steps"][0] == (
        f"hf download antirez/deepseek-v4-gguf {file} --local-dir /Volumes/models/deepseek-v4-gguf"
    )
    assert shlex.split(command)[:3] == ["./ds4-server", "-m", f"/Volumes/models/deepseek-v4-gguf/{file}"]


def test_llama_cpp_cache_is_named_f16(cli) -> None:  # type: ignore[no-untyped-def]
    doc = cli(["estimate", "deepseek-v4-flash", "--quant", "q4", "--gpus", "1xH100", "--ram", "512GB", "--json"]).json()
    assert not any("BF16" in line for line in doc["assumptions"] if "llama.cpp" in line)
    out = cli(["estimate", "deepseek-v4-flash", "--quant", "q4", "--gpus", "1xH100", "--ram", "512GB"]).out
    assert "F16 KV cache" in out and "BF16 KV cache" not in out


# ------------------------------------------------------------------------------------------ Apple M5, wired limit


@pytest.mark.parametrize(
    ("spec", "ram_gib", "gb_s"),
    [
        ("M5-32GB", 32, 153),
        ("M5-Pro-64GB", 64, 307),
        ("M5-Max-128GB", 128, 614),
        ("M5-Max-36GB", 36, 460),
        ("M5-Ultra-512GB", 512, 1200),
        ("M4-24GB", 24, 120),
    ],
)
def test_m5_and_base_chips_are_what_ifs_with_apples_bandwidth(spec: str, ram_gib: int, gb_s: int) -> None:
    machine = whatif.apply(empty(), gpus=spec)
    (gpu,) = machine.gpus
    assert gpu.unified and machine.ram.total_bytes == ram_gib * units.GIB
    assert gpu.memory_total_bytes == apple.default_budget(ram_gib * units.GIB)
    assert bw.gpu_bandwidth(gpu).bytes_per_s == gb_s * 10**9


def test_a_what_if_states_the_wired_limit_a_mac_was_given() -> None:
    machine = whatif.apply(empty(), gpus="M4-Max-128GB:wired=110GB")
    (gpu,) = machine.gpus
    assert gpu.memory_total_bytes == 110 * units.GIB and machine.ram.total_bytes == 128 * units.GIB
    assert "iogpu.wired_limit_mb" in machine.notes[-1] and "110.0 GiB" in machine.notes[-1]
    for bad, fragment in (
        ("M4-Max-128GB:wired=200GB", "leave macOS at least 8.0 GiB of the machine's 128.0 GiB"),
        ("M4-Max-128GB:wired=128GB", r"at most 120.0 GiB"),
        ("M4-Max-128GB:x", "wired=SIZE"),
        ("8xH100:wired=10GB", "wired=SIZE is for Apple chips"),
        ("M4-Max-128GB,1xH100", "an Apple chip's GPU is the whole machine's memory"),
        ("2xM4-Max-128GB", "name one chip"),
    ):
        with pytest.raises(UsageError, match=fragment):
            whatif.apply(empty(), gpus=bad)
