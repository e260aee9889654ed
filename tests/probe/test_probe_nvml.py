"""The NVIDIA backend through nvidia-ml-py's real wrappers against a fake driver (``fake_nvml``)."""

from __future__ import annotations

import pytest
from fake_nvml import (
    A100_MIG_INSTANCES,
    DRIVER_NOT_LOADED,
    GB10_MEMAVAILABLE_KB,
    GB10_MEMTOTAL_KB,
    GPU_IS_LOST,
    LIB_RM_VERSION_MISMATCH,
    MIB,
    NO_PERMISSION,
    NOT_SUPPORTED,
    UNKNOWN,
    FakeDriver,
    a100_mig,
    eight_h100,
    gb10,
    h100,
    install,
    install_without_library,
    lost_gpu,
    old_driver_a100,
    rtx4090_beside_3090,
)

from vram_advisor.probe import nvml, unified
from vram_advisor.probe.context import ProbeContext
from vram_advisor.probe.trace import Trace


def read(ram_bytes: int | None = None, available: int | None = None, trace: Trace | None = None, **env: str):
    context = ProbeContext(
        environ=env,
        platform="linux",
        trace=trace or Trace(),
        ram_effective_bytes=ram_bytes,
        ram_available_bytes=available,
    )
    return nvml.read(context)


def test_eight_h100_every_field(monkeypatch):
    driver = install(monkeypatch, eight_h100())
    reading = read()
    assert reading.status == "ok"
    assert reading.driver_version == "580.105.08"
    assert reading.cuda_driver_version == "13.0"
    assert len(reading.gpus) == 8
    assert [g.index for g in reading.gpus] == list(range(8))
    for i, gpu in enumerate(reading.gpus):
        assert gpu.name == "NVIDIA H100 80GB HBM3"
        assert gpu.vendor == "nvidia"
        assert gpu.memory_total_bytes == 81559 * MIB
        assert gpu.memory_reserved_bytes == 480 * MIB
        assert gpu.memory_free_bytes == (81559 - 480) * MIB
        assert gpu.uuid == driver.gpus[i].uuid
        assert gpu.pci_bus_id == driver.gpus[i].bus_id
        assert gpu.compute_capability == "9.0"
        assert gpu.memory_bus_width_bits == 5120
        assert gpu.memory_clock_max_mhz == 2619
        # bus width x max memory clock x 2: 3352 GB/s, the H100's published figure
        assert gpu.memory_bandwidth_bytes_per_s == 5120 // 8 * 2619 * 10**6 * 2
        assert (gpu.pcie_generation, gpu.pcie_width) == (5, 16)
        assert gpu.nvlink is True
        assert gpu.mig_enabled is False and gpu.mig_devices == ()
        assert gpu.unified is False
        assert gpu.notes == ()
    assert reading.notes == ()


def test_one_init_and_always_one_shutdown(monkeypatch):
    driver = install(monkeypatch, eight_h100())
    read()
    assert driver.calls.count("nvmlInitWithFlags") == 1
    assert driver.calls.count("nvmlShutdown") == 1
    assert driver.calls[-1] == "nvmlShutdown"


def test_shutdown_even_when_counting_fails(monkeypatch):
    driver = install(monkeypatch, eight_h100(count_error=UNKNOWN))
    reading = read()
    assert reading.status == "error" and reading.gpus == ()
    assert any("could not be counted" in note for note in reading.notes)
    assert driver.calls.count("nvmlShutdown") == 1


def test_4090_beside_3090(monkeypatch):
    install(monkeypatch, rtx4090_beside_3090())
    first, second = read().gpus
    assert (first.name, first.memory_total_bytes, first.compute_capability) == (
        "NVIDIA GeForce RTX 3090",
        24576 * MIB,
        "8.6",
    )
    assert (second.name, second.memory_total_bytes, second.compute_capability) == (
        "NVIDIA GeForce RTX 4090",
        24564 * MIB,
        "8.9",
    )
    assert second.memory_bandwidth_bytes_per_s == 1008096000000  # "1008 GB/sec (384-bit DDR @10501MHz)"
    assert first.nvlink is False and second.nvlink is False  # NotSupported on link 0: no NVLink


def test_driver_without_the_v2_memory_call_falls_back_to_v1(monkeypatch):
    driver = install(monkeypatch, old_driver_a100())
    (gpu,) = read().gpus
    assert gpu.memory_total_bytes == 40536 * MIB
    assert gpu.memory_reserved_bytes is None
    assert gpu.capacity_bytes == 40536 * MIB
    assert any("lacks nvmlDeviceGetMemoryInfo_v2" in note for note in gpu.notes)
    assert "nvmlDeviceGetMemoryInfo" in driver.calls and "nvmlDeviceGetMemoryInfo_v2" not in driver.calls


def test_a100_in_mig_mode_reads_each_instance(monkeypatch):
    install(monkeypatch, a100_mig(second_gpu=True))
    mig_gpu, plain = read().gpus
    assert mig_gpu.mig_enabled is True
    assert [m.uuid for m in mig_gpu.mig_devices] == [m.uuid for m in A100_MIG_INSTANCES]
    assert [m.memory_total_bytes for m in mig_gpu.mig_devices] == [19968 * MIB, 9856 * MIB, 4864 * MIB]
    assert [(m.gpu_instance_id, m.compute_instance_id) for m in mig_gpu.mig_devices] == [(2, 0), (3, 0), (9, 0)]
    assert mig_gpu.memory_total_bytes == 40960 * MIB and mig_gpu.memory_reserved_bytes == 518 * MIB
    assert plain.mig_enabled is False and plain.mig_devices == ()


def test_mig_parent_memory_without_permission_still_reads_the_instances(monkeypatch):
    scenario = a100_mig()
    scenario.gpus[0].errors = {"nvmlDeviceGetMemoryInfo_v2": NO_PERMISSION, "nvmlDeviceGetMemoryInfo": NO_PERMISSION}
    install(monkeypatch, scenario)
    (gpu,) = read().gpus
    assert gpu.memory_total_bytes == 0
    assert any("no permission" in note for note in gpu.notes)
    assert len(gpu.mig_devices) == 3 and gpu.mig_devices[0].memory_total_bytes == 19968 * MIB


def test_mig_mode_without_instances_is_noted(monkeypatch):
    scenario = a100_mig()
    scenario.gpus[0].mig = []
    install(monkeypatch, scenario)
    (gpu,) = read().gpus
    assert gpu.mig_enabled is True and gpu.mig_devices == ()
    assert any("no MIG instance exists" in note for note in gpu.notes)


def test_gb10_unified_memory_budget_from_host_ram(monkeypatch):
    install(monkeypatch, gb10())
    ram = GB10_MEMTOTAL_KB * 1024
    available = GB10_MEMAVAILABLE_KB * 1024
    (gpu,) = read(ram_bytes=ram, available=available).gpus
    reserve = max(8 * 1024**3, ram // 10)
    assert gpu.unified is True
    assert gpu.memory_total_bytes == ram - reserve
    assert gpu.memory_reserved_bytes == 0
    assert gpu.memory_free_bytes == min(ram - reserve, available)
    assert gpu.pcie_generation is None and gpu.pcie_width is None  # Gen1 x1 on a chip-to-chip part is not PCIe
    assert any(note.startswith("unified memory") for note in gpu.notes)
    assert unified.shared_ram_budget(ram)[0] == gpu.memory_total_bytes


def test_gb10_without_known_ram_counts_nothing(monkeypatch):
    install(monkeypatch, gb10())
    (gpu,) = read(ram_bytes=None).gpus
    assert gpu.unified is True and gpu.memory_total_bytes == 0
    assert any("host RAM is unknown" in note for note in gpu.notes)


@pytest.mark.parametrize("where", ["after", "handle"])
def test_a_lost_gpu_does_not_sink_the_others(monkeypatch, where):
    driver = install(monkeypatch, lost_gpu(where))
    good, lost = read().gpus
    assert good.memory_total_bytes == 46068 * MIB and good.memory_reserved_bytes == 609 * MIB
    assert lost.index == 1 and lost.memory_total_bytes == 0 and lost.capacity_bytes == 0
    assert any("GPU is lost" in note for note in lost.notes)
    assert driver.calls.count("nvmlShutdown") == 1


def test_lost_gpu_is_asked_nothing_more(monkeypatch):
    driver = install(monkeypatch, lost_gpu("after"))
    read()
    # one failing question to the lost GPU (its name), then nothing else is asked of it
    assert driver.calls.count("nvmlDeviceGetName") == 2
    assert driver.calls.count("nvmlDeviceGetMemoryInfo_v2") == 1


@pytest.mark.parametrize(
    ("symbol", "code", "field", "words"),
    [
        ("nvmlDeviceGetMemoryBusWidth", NOT_SUPPORTED, "memory_bus_width_bits", "not supported"),
        ("nvmlDeviceGetMaxPcieLinkGeneration", NOT_SUPPORTED, "pcie_generation", "not supported"),
        ("nvmlDeviceGetCudaComputeCapability", NO_PERMISSION, "compute_capability", "no permission"),
        ("nvmlDeviceGetUUID", UNKNOWN, "uuid", "Unknown"),
    ],
)
def test_an_optional_field_failing_is_unknown_with_a_note(monkeypatch, symbol, code, field, words):
    install(monkeypatch, FakeDriver([h100(0, errors={symbol: code}), h100(1)]))
    broken, fine = read().gpus
    assert getattr(broken, field) is None
    assert any(words in note for note in broken.notes)
    assert getattr(fine, field) is not None and fine.notes == ()
    assert broken.memory_total_bytes == 81559 * MIB  # the rest of the GPU still reports


def test_a_function_the_driver_lacks_is_unknown_with_a_note(monkeypatch):
    install(monkeypatch, eight_h100(missing={"nvmlDeviceGetMaxPcieLinkWidth"}))
    gpu = read().gpus[0]
    assert gpu.pcie_width is None and gpu.pcie_generation == 5
    assert any(note == "PCIe width: unknown (this driver is too old for the call)" for note in gpu.notes)


def test_missing_bandwidth_input_leaves_bandwidth_unknown(monkeypatch):
    install(monkeypatch, FakeDriver([h100(0, mem_clock_mhz=None)]))
    (gpu,) = read().gpus
    assert gpu.memory_clock_max_mhz is None and gpu.memory_bandwidth_bytes_per_s is None


def test_gpu_lost_during_a_call_mid_way(monkeypatch):
    install(monkeypatch, FakeDriver([h100(0, errors={"nvmlDeviceGetCudaComputeCapability": GPU_IS_LOST}), h100(1)]))
    lost, fine = read().gpus
    assert lost.memory_total_bytes == 0 and any("GPU is lost" in n for n in lost.notes)
    assert fine.memory_total_bytes == 81559 * MIB


@pytest.mark.parametrize(
    ("code", "status", "advice"),
    [
        (DRIVER_NOT_LOADED, "driver_not_loaded", "modprobe nvidia"),
        (LIB_RM_VERSION_MISMATCH, "rm_version_mismatch", "reboot, or reload the nvidia kernel modules"),
        (NO_PERMISSION, "no_permission", "/dev/nvidia*"),
        (UNKNOWN, "unknown_error", "nvidia-smi"),
    ],
)
def test_each_start_failure_gives_no_gpus_and_advice(monkeypatch, code, status, advice):
    driver = install(monkeypatch, eight_h100(init_error=code))
    reading = read()
    assert reading.gpus == ()
    assert reading.status == status
    (note,) = reading.notes
    assert advice in note and "no NVIDIA GPU is counted" in note
    assert "nvmlShutdown" not in driver.calls  # nothing to shut down after a failed start


def test_library_not_found(monkeypatch):
    install_without_library(monkeypatch)
    reading = read()
    assert reading.status == "library_not_found" and reading.gpus == ()
    assert "libnvidia-ml.so.1" in reading.notes[0]


def test_library_not_found_in_a_container_says_how_to_start_it(monkeypatch):
    install_without_library(monkeypatch)
    reading = read(NVIDIA_VISIBLE_DEVICES="all")
    assert "NVIDIA runtime" in reading.notes[0] and "--gpus all" in reading.notes[0]


def test_privileged_container_mismatch_and_mps_cap_are_noted(monkeypatch):
    install(monkeypatch, eight_h100())
    reading = read(NVIDIA_VISIBLE_DEVICES="GPU-a,GPU-b", CUDA_MPS_PINNED_DEVICE_MEM_LIMIT="0=20G")
    assert any("lists 2" in note and "sees 8" in note for note in reading.notes)
    assert any("CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=20G" in note for note in reading.notes)


def test_trace_records_each_call_and_its_answer(monkeypatch):
    install(monkeypatch, FakeDriver([h100(0, errors={"nvmlDeviceGetMemoryBusWidth": NOT_SUPPORTED})]))
    trace = Trace(enabled=True)
    read(trace=trace)
    calls = {entry["call"]: entry for entry in trace.of("nvml")}
    assert calls["nvmlInit()"]["result"] is None
    assert calls["nvmlSystemGetDriverVersion()"]["result"] == "580.105.08"
    memory = calls["nvmlDeviceGetMemoryInfo_v2(gpu 0)"]["result"]
    assert memory["total"] == 81559 * MIB and memory["reserved"] == 480 * MIB
    assert calls["nvmlDeviceGetMemoryBusWidth(gpu 0)"]["error"].startswith("NVMLError_NotSupported")
    assert "nvmlShutdown()" in calls


def test_disabled_trace_records_nothing(monkeypatch):
    install(monkeypatch, eight_h100())
    trace = Trace()
    read(trace=trace)
    assert trace.entries == []


def test_macos_skips_nvml(monkeypatch):
    driver = install(monkeypatch, eight_h100())
    reading = nvml.read(ProbeContext(platform="darwin"))
    assert reading.status == "absent" and reading.gpus == () and driver.calls == []
