"""``vram-advisor estimate``, the run commands, ``--ram-bw``/``--disk-bw``, and the estimate in ``check``'s views."""

from __future__ import annotations

import shlex

import pytest

from conftest import gpu, inventory_dict
from vram_advisor.core import units
from vram_advisor.inventory.bandwidth import DEFAULT_RAM_BANDWIDTH, disk_bandwidth, gpu_bandwidth
from vram_advisor.inventory.model import Disk, Gpu

H100 = ("NVIDIA H100 80GB HBM3", 81559, 480)


def test_estimate_json_is_the_breakdown(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    path = write_inventory(inventory_dict([gpu("NVIDIA GeForce RTX 4090", 24564)], ram_gib=192))
    # the preview release's Q2 files: antirez's (for ds4) and unsloth's (for llama.cpp)
    args = ["estimate", "deepseek-v4-flash", "--quant", "Q2", "--context", "128k", "--inventory", path, "--json"]
    result = cli([*args, "--release", "preview"])
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["schema"] == "vram-advisor/estimate/v1"
    assert (doc["model"], doc["quant"], doc["context_tokens"]) == ("deepseek-v4-flash", "q2", 131072)
    kinds = [p["placement"] for p in doc["placements"]]
    assert kinds == ["gpu", "gpu+ram", "cpu", "nvme"]
    for plan in doc["placements"]:
        breakdown = plan["breakdown"]
        weights = sum(breakdown["weights"].values())
        assert weights == doc["weights"]["bytes"]
        assert plan["need_bytes"] == weights + breakdown["kv_cache"]["bytes"] + breakdown["overhead"]["total_bytes"]
    assert doc["recommended_placement"] == "gpu+ram"
    command = shlex.split(doc["run"]["command"])
    assert command[:1] == ["llama-server"]
    assert command[command.index("-c") + 1] == "131072"
    assert command[command.index("-ngl") + 1] == "99"
    # the GPU keeps the routed experts of as many layers as fit; the first layers' stay in RAM
    hybrid = next(p for p in doc["placements"] if p["placement"] == "gpu+ram")
    assert command[command.index("--n-cpu-moe") + 1] == str(hybrid["expert_layers"]["in_ram"])
    # the GPU+RAM plan runs on llama.cpp, so it loads the GGUF llama.cpp reads (antirez's files are ds4's)
    assert doc["run"]["repo"] == "unsloth/DeepSeek-V4-Flash-GGUF"
    assert doc["run"]["download"] == "hf download unsloth/DeepSeek-V4-Flash-GGUF --include 'UD-IQ2_XXS/*'"
    assert doc["run"]["steps"] == [doc["run"]["download"], doc["run"]["command"]]
    assert doc["download"]["engine"] == "llama.cpp" and doc["download"]["bytes"] == 90_860_736_128
    assert doc["run"]["checked_against"]
    assert any("larger than the table" in w for w in doc["warnings"])


def test_estimate_vllm_command_for_fp8_on_eight_gpus(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    path = write_inventory(inventory_dict([gpu("NVIDIA H200", 143771)] * 8, ram_gib=2048))
    result = cli(
        [
            "estimate",
            "deepseek-v4-pro",
            "--quant",
            "fp8",
            "--context",
            "200000",
            "--kv-dtype",
            "fp8",
            "--inventory",
            path,
            "--json",
        ]
    )
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["recommended_placement"] == "gpu"
    run = doc["run"]
    assert run["engine"] == "vLLM" and run["engine_version"] == ">= 0.25.0"
    command = shlex.split(run["command"])
    assert command[:3] == ["vllm", "serve", "deepseek-ai/DeepSeek-V4-Pro-0813"]  # the official release (issue 15)
    for flag, value in (
        ("--tensor-parallel-size", "8"),
        ("--kv-cache-dtype", "fp8"),
        ("--block-size", "256"),
        ("--max-model-len", "200000"),
    ):
        assert command[command.index(flag) + 1] == value
    assert "--enable-expert-parallel" in command
    assert float(command[command.index("--gpu-memory-utilization") + 1]) >= 0.92


def test_only_datacenter_blackwell_gets_the_fp4_indexer_cache(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    """Issue 12: vLLM takes indexer_kv_dtype=mxfp4 (PR #52550's spelling) only on sm_10x and refuses it on sm_12x
    (RTX PRO 6000, RTX 5090, GB10); Hopper has no FP4 indexer either."""
    path = write_inventory(inventory_dict([gpu("NVIDIA B200", 183359, 728, compute_capability="10.0")] * 2))
    doc = cli(["estimate", "deepseek-v4-flash", "--quant", "fp8", "--inventory", path, "--json"]).json()
    assert "--attention_config.indexer_kv_dtype=mxfp4" in shlex.split(doc["run"]["command"])
    assert "use_fp4_indexer_cache" not in doc["run"]["command"]
    hopper = write_inventory(inventory_dict([gpu("NVIDIA H200", 143771, compute_capability="9.0")] * 2))
    doc = cli(["estimate", "deepseek-v4-flash", "--quant", "fp8", "--inventory", hopper, "--json"]).json()
    assert "indexer" not in doc["run"]["command"]
    doc = cli(
        ["estimate", "deepseek-v4-flash", "--quant", "fp8", "--gpus", "2xRTXPRO6000", "--ram", "512GB", "--json"]
    ).json()
    assert doc["run"]["command"] is not None and "vllm serve" in doc["run"]["command"]
    assert "indexer" not in doc["run"]["command"]
    assert any("sm_12x" in note for note in doc["run"]["notes"])
    assert "vllm/vllm-openai:nightly" in doc["run"]["caveat"]  # on the first screen: a release does not run it
    # eight 32 GB cards: vLLM's own memory on each (4.8 GiB) leaves FP8 at its minimum, llama.cpp runs the GGUF of
    # the same weights comfortably, and the note says what vLLM would have given
    doc = cli(["estimate", "deepseek-v4-flash", "--quant", "fp8", "--gpus", "8xRTX5090", "--ram", "512GB", "--json"])
    doc = doc.json()
    assert doc["run"]["command"].startswith("llama-server ")
    passed_over = "vLLM runs here too, but official checkpoint 0731 fits only at its minimum"
    assert any(note.startswith(passed_over) for note in doc["run"]["notes"])
    doc = cli(["estimate", "deepseek-v4-pro", "--quant", "fp8", "--gpus", "8xB300", "--ram", "2TB", "--json"]).json()
    assert "--attention_config.indexer_kv_dtype=mxfp4" in doc["run"]["command"]


def test_estimate_human_view(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    path = write_inventory(inventory_dict([gpu(*H100)], ram_gib=256))
    result = cli(["estimate", "deepseek-v4-flash", "--quant", "q3", "--inventory", path, "--ram-bw", "12xDDR5-4800"])
    assert result.code == 0, result.err
    for text in ("Placements", "GPUs + RAM", "CPU only", "Assumptions", "Run it", "460.8 GB/s", "KV cache"):
        assert text in result.out
    assert "warning:" in result.out  # the 103 GB file against the table's 60 GB


def test_estimate_without_a_machine(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli(["estimate", "deepseek-v4-pro", "--quant", "q4", "--no-machine", "--json"])
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["machine"] is None
    assert all(p["fits"] is None for p in doc["placements"])


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["estimate", "deepseek-v5", "--quant", "q4", "--no-machine"], "unknown model"),
        (["estimate", "deepseek-v4-flash", "--quant", "q1", "--no-machine"], "no quantization"),
        (["estimate", "deepseek-v4-flash", "--no-machine"], "--quant"),
        (["estimate", "deepseek-v4-flash", "--quant", "q4", "--context", "2M", "--no-machine"], "1,048,576"),
        (["estimate", "deepseek-v4-flash", "--quant", "q4", "--ram-bw", "fast", "--no-machine"], "--ram-bw"),
        (["check", "--gpus", "1xH100", "--disk-bw", "7GB"], "--disk-bw"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, args: list[str], needle: str) -> None:  # type: ignore[no-untyped-def]
    result = cli(args)
    assert result.code == 2
    assert result.out == ""
    assert needle in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_check_json_gains_offload_plans_and_run(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    # 24 GiB of VRAM and 192 GiB of RAM: the table's verdict is an offload; its plans carry speeds
    path = write_inventory(inventory_dict([gpu("NVIDIA GeForce RTX 4090", 24564)], ram_gib=192))
    result = cli(["check", "--inventory", path, "--ram-bw", "100GB/s", "--json"])
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["recommendation"]["kind"] == "offload"
    rec = next(
        o
        for o in doc["options"]
        if (o["model"], o["quant"]) == (doc["recommendation"]["model"], doc["recommendation"]["quant"])
    )
    plans = {p["placement"]: p for p in rec["offload_plans"]}
    assert plans["gpu+ram"]["fits"] is True
    assert plans["gpu+ram"]["decode_tokens_per_s_upper_bound"] > plans["cpu"]["decode_tokens_per_s_upper_bound"]
    assert doc["estimate"]["bandwidths"]["ram"] == {"bytes_per_s": 100 * 10**9, "source": "--ram-bw", "assumed": False}
    assert doc["estimate"]["assumptions"]
    assert doc["run"]["placement"] == "gpu+ram" and "--n-cpu-moe" in doc["run"]["command"]
    # options that load from VRAM carry no offload plans
    assert all("offload_plans" not in o for o in doc["options"] if o["fit"] in ("comfortable", "minimum"))


def test_check_human_view_shows_context_and_offload(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    path = write_inventory(inventory_dict([gpu("NVIDIA GeForce RTX 4090", 24564)], ram_gib=192))
    out = cli(["check", "--inventory", path, "--context", "128k", "--details"]).out
    assert "Context" in out and "128k tokens (131,072)" in out
    assert "Offload plans for" in out and "≈ tok/s" in out  # issue 12: a range, never a bare bandwidth bound
    assert "Run it" in out and "--n-cpu-moe" in out


def test_check_human_view_shows_the_need_of_a_local_recommendation(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    path = write_inventory(inventory_dict([gpu(*H100)] * 2, ram_gib=512))
    out = cli(["check", "--inventory", path, "--details"]).out
    assert "Need" in out and "fits in" in out


# ------------------------------------------------------------------------------------------- bandwidths


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("460GB/s", 460 * 10**9),
        ("7 GB/s", 7 * 10**9),
        ("900MB/s", 900 * 10**6),
        ("1.8TB/s", 1_800 * 10**9),
        ("50GiB/s", 50 * 1024**3),
        ("100GBps", 100 * 10**9),
        ("12xDDR5-4800", 460_800_000_000),
        ("2xDDR4-3200", 51_200_000_000),
    ],
)
def test_parse_bandwidth(text: str, rate: int) -> None:
    assert units.parse_bandwidth(text) == rate


@pytest.mark.parametrize("text", ["fast", "7GB", "0GB/s", "-3GB/s", "5PB/s/s", "2000PB/s"])
def test_parse_bandwidth_rejects(text: str) -> None:
    with pytest.raises(units.SizeError):
        units.parse_bandwidth(text)


def test_gpu_bandwidth_sources() -> None:
    probed = Gpu(name="x", memory_total_bytes=1, memory_bandwidth_bytes_per_s=123)
    assert gpu_bandwidth(probed).bytes_per_s == 123
    nvml = Gpu(name="x", memory_total_bytes=1, memory_bus_width_bits=5120, memory_clock_max_mhz=2619)
    assert gpu_bandwidth(nvml).bytes_per_s == 3_352_320_000_000  # k8s-test-infra qx-h100.xml: H100 -> 3352 GB/s
    named = Gpu(name="NVIDIA H100 80GB HBM3", memory_total_bytes=1)
    assert gpu_bandwidth(named).bytes_per_s == 3352 * 10**9
    assert gpu_bandwidth(Gpu(name="mystery", memory_total_bytes=1)).bytes_per_s is None


def test_disk_bandwidth_by_kind() -> None:
    assert disk_bandwidth(Disk(path="/m", kind="nvme"), None).bytes_per_s == 7_876_923_076
    assert disk_bandwidth(Disk(path="/m", kind="ssd"), None).bytes_per_s == 600_000_000
    assert disk_bandwidth(Disk(path="/m", kind="unknown"), None).bytes_per_s is None
    assert disk_bandwidth(Disk(path="/m", kind="hdd"), 10**9).source == "--disk-bw"
    assert DEFAULT_RAM_BANDWIDTH.bytes_per_s == 51_200_000_000


# --------------------------------------------------------------------- one pipeline for the CLI and the MCP tool


@pytest.mark.parametrize(
    ("cli_args", "call"),
    [
        (["--quant", "q4", "--context", "2M"], {"quant_id": "q4", "context_tokens": 2 * 1024**2}),
        (["--quant", "q4", "--kv-dtype", "FP16"], {"quant_id": "q4", "kv_dtype": "FP16"}),
        (["--quant", "q4", "--sizes", "Bogus"], {"quant_id": "q4", "sizes": "Bogus"}),
        (["--quant", "q1"], {"quant_id": "q1"}),
        # two bad inputs: both report the KV format first, as the CLI checks it first
        (["--quant", "q1", "--kv-dtype", "int4"], {"quant_id": "q1", "kv_dtype": "int4"}),
    ],
)
def test_estimate_document_rejects_what_the_cli_rejects_with_the_same_message(cli, cli_args, call) -> None:  # type: ignore[no-untyped-def]
    from vram_advisor.core.errors import UsageError
    from vram_advisor.report.estimate import estimate_document

    result = cli(["estimate", "deepseek-v4-flash", *cli_args, "--no-machine"])
    assert result.code == 2
    call = {"context_tokens": 32768, **call}
    with pytest.raises(UsageError) as caught:
        estimate_document("deepseek-v4-flash", **call)
    assert result.err.strip() == f"vram-advisor: error: {caught.value.message}"


def test_estimate_document_checks_the_input_before_probing() -> None:
    from vram_advisor.core.errors import UsageError
    from vram_advisor.report.estimate import estimate_document

    def probe():  # type: ignore[no-untyped-def]
        raise AssertionError("probed before the input was checked")

    with pytest.raises(UsageError, match="1,048,576-token context"):
        estimate_document("deepseek-v4-pro", "q4", 2 * 1024**2, probe)
    with pytest.raises(UsageError, match="at least one token"):
        estimate_document("deepseek-v4-pro", "q4", 0, probe)


def test_estimate_document_calls_a_probe_once_the_input_is_good(write_inventory) -> None:  # type: ignore[no-untyped-def]
    from vram_advisor.inventory import model as inv
    from vram_advisor.report.estimate import estimate_document

    machine = inv.from_dict(inventory_dict([gpu(*H100)], ram_gib=256))
    calls: list[int] = []

    def probe():  # type: ignore[no-untyped-def]
        calls.append(1)
        return machine

    assert estimate_document("deepseek-v4-flash", "q4", 4096, probe) == estimate_document(
        "deepseek-v4-flash", "q4", 4096, machine
    )
    assert calls == [1]
