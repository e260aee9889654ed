"""A fake NVIDIA driver for tests: nvidia-ml-py's own wrappers run against Python functions that fill ctypes structs.

``install(monkeypatch, driver)`` replaces the C side of ``pynvml`` at its lowest seam: ``pynvml.nvmlLib`` (so the
real library is never loaded) and ``pynvml._nvmlGetFunctionPointer`` (symbol name -> Python callable taking the
same ctypes arguments as the C function and returning an ``NVML_ERROR_*`` code). The real wrappers then build the
ctypes structs, check the return codes, raise the real ``NVMLError_*`` subclasses and decode the strings, exactly
as on a machine with a GPU. A symbol the fake driver lacks raises ``FunctionNotFound``, as an old driver does.

Scenarios are data (``FakeDriver``/``FakeGpu``), with the real NVML readings of hardware-probing.md §8.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pynvml
import pytest

MIB = 1024**2

SUCCESS = pynvml.NVML_SUCCESS
NOT_SUPPORTED = pynvml.NVML_ERROR_NOT_SUPPORTED
NO_PERMISSION = pynvml.NVML_ERROR_NO_PERMISSION
NOT_FOUND = pynvml.NVML_ERROR_NOT_FOUND
INVALID_ARGUMENT = pynvml.NVML_ERROR_INVALID_ARGUMENT
GPU_IS_LOST = pynvml.NVML_ERROR_GPU_IS_LOST
UNKNOWN = pynvml.NVML_ERROR_UNKNOWN
DRIVER_NOT_LOADED = pynvml.NVML_ERROR_DRIVER_NOT_LOADED
LIB_RM_VERSION_MISMATCH = pynvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH
ARGUMENT_VERSION_MISMATCH = pynvml.NVML_ERROR_ARGUMENT_VERSION_MISMATCH


@dataclass
class FakeMig:
    """One MIG instance (memory as nvidia-smi's MIG table shows it)."""

    uuid: str
    total_mib: int
    used_mib: int = 0
    gpu_instance: int = 0
    compute_instance: int = 0


@dataclass
class FakeGpu:
    """One physical GPU. ``total_mib=None``: NVML answers NotSupported for memory (a unified part)."""

    name: str
    uuid: str
    bus_id: str
    total_mib: int | None
    reserved_mib: int = 0
    used_mib: int = 0
    cc: tuple[int, int] = (9, 0)
    bus_width: int | None = None
    mem_clock_mhz: int | None = None
    pcie: tuple[int, int] | None = (4, 16)
    nvlinks: int = 0
    #: None: MIG not supported; a list (maybe empty): MIG-capable, with these instances.
    mig: list[FakeMig] | None = None
    mig_mode: tuple[int, int] = (0, 0)
    #: "handle": nvmlDeviceGetHandleByIndex fails with GPU is lost; "after": every call after it does.
    lost: str | None = None
    #: C symbol -> NVML return code, for this GPU only.
    errors: dict[str, int] = field(default_factory=dict)


@dataclass
class FakeDriver:
    gpus: list[FakeGpu]
    driver_version: str = "580.105.08"
    cuda_version: int = 13000
    init_error: int | None = None
    count_error: int | None = None
    #: Symbols this driver does not have (an older driver).
    missing: set[str] = field(default_factory=set)
    #: Every C symbol called, in order.
    calls: list[str] = field(default_factory=list)

    # ------------------------------------------------------------------------------------------- handles

    def _gpu_of(self, handle: Any) -> tuple[FakeGpu, FakeMig | None, int]:
        value = ctypes.cast(handle, ctypes.c_void_p).value or 0
        index, slot = value // 0x1000 - 1, (value % 0x1000) // 0x10 - 1
        gpu = self.gpus[index]
        mig = gpu.mig[slot] if slot >= 0 and gpu.mig is not None else None
        return gpu, mig, index

    # ------------------------------------------------------------------------------------------- symbols

    def symbols(self) -> dict[str, Callable[..., int]]:
        def device(symbol: str, body: Callable[..., int]) -> Callable[..., int]:
            """A per-device symbol: per-GPU errors and lost GPUs answer before the body runs."""

            def run(handle: Any, *args: Any) -> int:
                gpu, mig, _ = self._gpu_of(handle)
                if gpu.lost == "after":
                    return GPU_IS_LOST
                if symbol in gpu.errors and mig is None:
                    return gpu.errors[symbol]
                return body(gpu, mig, *args)

            return run

        def init(flags: int) -> int:
            return self.init_error or SUCCESS

        def driver_version(buffer: Any, size: Any) -> int:
            buffer.value = self.driver_version.encode()
            return SUCCESS

        def cuda_version(out: Any) -> int:
            out._obj.value = self.cuda_version
            return SUCCESS

        def count(out: Any) -> int:
            if self.count_error:
                return self.count_error
            out._obj.value = len(self.gpus)
            return SUCCESS

        def handle_by_index(index: Any, out: Any) -> int:
            i = index.value
            if i >= len(self.gpus):
                return INVALID_ARGUMENT
            if self.gpus[i].lost == "handle":
                return GPU_IS_LOST
            _write_handle(out, 0x1000 * (i + 1))
            return SUCCESS

        def name(gpu: FakeGpu, mig: FakeMig | None, buffer: Any, size: Any) -> int:
            buffer.value = gpu.name.encode()
            return SUCCESS

        def uuid(gpu: FakeGpu, mig: FakeMig | None, buffer: Any, size: Any) -> int:
            buffer.value = (mig.uuid if mig else gpu.uuid).encode()
            return SUCCESS

        def pci(gpu: FakeGpu, mig: FakeMig | None, out: Any) -> int:
            out._obj.busId = gpu.bus_id.encode()
            out._obj.busIdLegacy = gpu.bus_id.encode()
            return SUCCESS

        def memory_v1(gpu: FakeGpu, mig: FakeMig | None, out: Any) -> int:
            if mig is not None:
                out._obj.total, out._obj.used = mig.total_mib * MIB, mig.used_mib * MIB
                out._obj.free = (mig.total_mib - mig.used_mib) * MIB
                return SUCCESS
            if gpu.total_mib is None:
                return NOT_SUPPORTED
            used = gpu.reserved_mib + gpu.used_mib  # v1 "used" includes the reserved memory
            out._obj.total, out._obj.used, out._obj.free = (
                gpu.total_mib * MIB,
                used * MIB,
                (gpu.total_mib - used) * MIB,
            )
            return SUCCESS

        def memory_v2(gpu: FakeGpu, mig: FakeMig | None, out: Any) -> int:
            if out._obj.version != pynvml.nvmlMemory_v2:
                return ARGUMENT_VERSION_MISMATCH
            total, reserved, used = (
                (mig.total_mib, 0, mig.used_mib) if mig else (gpu.total_mib, gpu.reserved_mib, gpu.used_mib)
            )
            if total is None:
                return NOT_SUPPORTED
            out._obj.total, out._obj.reserved, out._obj.used = total * MIB, reserved * MIB, used * MIB
            out._obj.free = (total - reserved - used) * MIB
            return SUCCESS

        def capability(gpu: FakeGpu, mig: FakeMig | None, major: Any, minor: Any) -> int:
            major._obj.value, minor._obj.value = gpu.cc
            return SUCCESS

        def bus_width(gpu: FakeGpu, mig: FakeMig | None, out: Any) -> int:
            if gpu.bus_width is None:
                return NOT_SUPPORTED
            out._obj.value = gpu.bus_width
            return SUCCESS

        def max_clock(gpu: FakeGpu, mig: FakeMig | None, clock: Any, out: Any) -> int:
            if clock.value != pynvml.NVML_CLOCK_MEM or gpu.mem_clock_mhz is None:
                return NOT_SUPPORTED
            out._obj.value = gpu.mem_clock_mhz
            return SUCCESS

        def pcie(position: int) -> Callable[..., int]:
            def read(gpu: FakeGpu, mig: FakeMig | None, out: Any) -> int:
                if gpu.pcie is None:
                    return NOT_SUPPORTED
                out._obj.value = gpu.pcie[position]
                return SUCCESS

            return read

        def nvlink_state(gpu: FakeGpu, mig: FakeMig | None, link: int, out: Any) -> int:
            if link >= gpu.nvlinks:
                return NOT_SUPPORTED if link == 0 or link < 18 else INVALID_ARGUMENT
            out._obj.value = pynvml.NVML_FEATURE_ENABLED
            return SUCCESS

        def mig_mode(gpu: FakeGpu, mig: FakeMig | None, current: Any, pending: Any) -> int:
            if gpu.mig is None:
                return NOT_SUPPORTED
            current._obj.value, pending._obj.value = gpu.mig_mode
            return SUCCESS

        def max_mig(gpu: FakeGpu, mig: FakeMig | None, out: Any) -> int:
            if gpu.mig is None:
                return NOT_SUPPORTED
            out._obj.value = 7
            return SUCCESS

        def mig_handle(gpu: FakeGpu, mig: FakeMig | None, index: Any, out: Any) -> int:
            if gpu.mig is None or index.value >= len(gpu.mig) or gpu.mig_mode[0] != 1:
                return NOT_FOUND
            position = self.gpus.index(gpu)
            _write_handle(out, 0x1000 * (position + 1) + 0x10 * (index.value + 1))
            return SUCCESS

        def instance_id(which: str) -> Callable[..., int]:
            def read(gpu: FakeGpu, mig: FakeMig | None, out: Any) -> int:
                if mig is None:
                    return INVALID_ARGUMENT
                out._obj.value = mig.gpu_instance if which == "gpu" else mig.compute_instance
                return SUCCESS

            return read

        def attributes(gpu: FakeGpu, mig: FakeMig | None, out: Any) -> int:
            if mig is None:
                return NOT_SUPPORTED
            out._obj.memorySizeMB = mig.total_mib
            return SUCCESS

        table: dict[str, Callable[..., int]] = {
            "nvmlInitWithFlags": init,
            "nvmlShutdown": lambda: SUCCESS,
            "nvmlSystemGetDriverVersion": driver_version,
            "nvmlSystemGetCudaDriverVersion": cuda_version,
            "nvmlDeviceGetCount_v2": count,
            "nvmlDeviceGetHandleByIndex_v2": handle_by_index,
        }
        per_device = {
            "nvmlDeviceGetName": name,
            "nvmlDeviceGetUUID": uuid,
            "nvmlDeviceGetPciInfo_v3": pci,
            "nvmlDeviceGetMemoryInfo": memory_v1,
            "nvmlDeviceGetMemoryInfo_v2": memory_v2,
            "nvmlDeviceGetCudaComputeCapability": capability,
            "nvmlDeviceGetMemoryBusWidth": bus_width,
            "nvmlDeviceGetMaxClockInfo": max_clock,
            "nvmlDeviceGetMaxPcieLinkGeneration": pcie(0),
            "nvmlDeviceGetMaxPcieLinkWidth": pcie(1),
            "nvmlDeviceGetNvLinkState": nvlink_state,
            "nvmlDeviceGetMigMode": mig_mode,
            "nvmlDeviceGetMaxMigDeviceCount": max_mig,
            "nvmlDeviceGetMigDeviceHandleByIndex": mig_handle,
            "nvmlDeviceGetGpuInstanceId": instance_id("gpu"),
            "nvmlDeviceGetComputeInstanceId": instance_id("compute"),
            "nvmlDeviceGetAttributes_v2": attributes,
        }
        table.update({symbol: device(symbol, body) for symbol, body in per_device.items()})
        return table

    def lookup(self, name: str) -> Callable[..., int]:
        """``_nvmlGetFunctionPointer``: the fake symbol, or FunctionNotFound as an older driver answers."""
        table = self.symbols()
        if name in self.missing or name not in table:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_FUNCTION_NOT_FOUND)
        function = table[name]

        def logged(*args: Any) -> int:
            self.calls.append(name)
            return function(*args)

        return logged


def _write_handle(out: Any, value: int) -> None:
    """Store ``value`` in the caller's ``c_nvmlDevice_t`` (an opaque pointer the fake never dereferences)."""
    pointer = out._obj
    ctypes.memmove(ctypes.addressof(pointer), ctypes.byref(ctypes.c_void_p(value)), ctypes.sizeof(ctypes.c_void_p))


def install(monkeypatch: pytest.MonkeyPatch, driver: FakeDriver) -> FakeDriver:
    """Make ``pynvml`` talk to ``driver``; monkeypatch restores the module afterwards."""
    monkeypatch.setattr(pynvml, "nvmlLib", object())
    monkeypatch.setattr(pynvml, "_nvmlGetFunctionPointer", driver.lookup)
    monkeypatch.setattr(pynvml, "_nvmlGetFunctionPointer_cache", {})
    monkeypatch.setattr(pynvml, "_nvmlLib_refcount", 0)
    return driver


def install_without_library(monkeypatch: pytest.MonkeyPatch) -> None:
    """No libnvidia-ml.so.1 on this machine: pynvml's own loader fails to open it (NVMLError_LibraryNotFound)."""

    def no_library(*args: Any, **kwargs: Any) -> Any:
        raise OSError("libnvidia-ml.so.1: cannot open shared object file: No such file or directory")

    monkeypatch.setattr(pynvml, "nvmlLib", None)
    monkeypatch.setattr(pynvml, "CDLL", no_library)
    monkeypatch.setattr(pynvml, "_nvmlGetFunctionPointer_cache", {})


# ------------------------------------------------------------------------------------------------ scenarios
# Real readings: shared/reference/hardware-probing.md §8 (k8s-test-infra qx-*.xml captures, public nvidia-smi
# outputs). UUIDs are made up; bus ids follow the machines' usual layouts.


def _uuid(n: int, prefix: str = "GPU") -> str:
    return f"{prefix}-{n:08x}-1c2d-4e5f-8a9b-{n:012x}"


H100_BUS_IDS = ("18", "2A", "3A", "5D", "9A", "AB", "BA", "DB")  # DGX H100


def h100(i: int, **changes: Any) -> FakeGpu:
    """NVIDIA H100 80GB HBM3 (SXM): 81559 MiB, 480 MiB reserved, 2619 MHz x 5120 bits, PCIe Gen5 x16, 18 NVLinks."""
    gpu = FakeGpu(
        name="NVIDIA H100 80GB HBM3",
        uuid=_uuid(0x5C1F0000 + i),
        bus_id=f"00000000:{H100_BUS_IDS[i % 8]}:00.0",
        total_mib=81559,
        reserved_mib=480,
        cc=(9, 0),
        bus_width=5120,
        mem_clock_mhz=2619,
        pcie=(5, 16),
        nvlinks=18,
        mig=[],
    )
    return replace(gpu, **changes)


def eight_h100(**changes: Any) -> FakeDriver:
    return FakeDriver([h100(i) for i in range(8)], **changes)


def rtx4090_beside_3090() -> FakeDriver:
    """A workstation: RTX 3090 on bus 01 (NVML index 0), RTX 4090 on bus 21 (index 1, CUDA's fastest).

    Totals as NVML reports them on current drivers (3090: 24576 MiB; 4090: 24564 MiB, 384-bit at 10501 MHz).
    The v2 ``reserved`` figure was not captured for these cards, so it is 0 here.
    """
    return FakeDriver(
        [
            FakeGpu(
                name="NVIDIA GeForce RTX 3090",
                uuid=_uuid(0x3090),
                bus_id="00000000:01:00.0",
                total_mib=24576,
                cc=(8, 6),
                bus_width=384,
                mem_clock_mhz=9751,
                pcie=(4, 16),
            ),
            FakeGpu(
                name="NVIDIA GeForce RTX 4090",
                uuid=_uuid(0x4090),
                bus_id="00000000:21:00.0",
                total_mib=24564,
                cc=(8, 9),
                bus_width=384,
                mem_clock_mhz=10501,
                pcie=(4, 16),
            ),
        ],
        driver_version="570.172.08",
        cuda_version=12080,
    )


def old_driver_a100() -> FakeDriver:
    """Driver 495.29.05 (before R510): no nvmlDeviceGetMemoryInfo_v2; the A100-SXM4-40GB then read 40536 MiB."""
    return FakeDriver(
        [
            FakeGpu(
                name="A100-SXM4-40GB",
                uuid=_uuid(0xA100),
                bus_id="00000000:07:00.0",
                total_mib=40536,
                reserved_mib=0,
                cc=(8, 0),
                bus_width=5120,
                mem_clock_mhz=1215,
                mig=[],
            )
        ],
        driver_version="495.29.05",
        cuda_version=11050,
        missing={"nvmlDeviceGetMemoryInfo_v2"},
    )


A100_MIG_INSTANCES = [  # nvidia-smi MIG tables on an A100-SXM4-40GB: 3g.20gb, 2g.10gb, 1g.5gb
    FakeMig(_uuid(0x301, "MIG"), 19968, gpu_instance=2, compute_instance=0),
    FakeMig(_uuid(0x302, "MIG"), 9856, gpu_instance=3, compute_instance=0),
    FakeMig(_uuid(0x303, "MIG"), 4864, gpu_instance=9, compute_instance=0),
]


def a100_mig(second_gpu: bool = False) -> FakeDriver:
    """An A100-SXM4-40GB (40960 MiB, 518 MiB reserved; driver 570.148.08) in MIG mode with three instances,
    optionally beside a second A100 that is not in MIG mode."""
    first = FakeGpu(
        name="NVIDIA A100-SXM4-40GB",
        uuid=_uuid(0xA1000),
        bus_id="00000000:07:00.0",
        total_mib=40960,
        reserved_mib=518,
        cc=(8, 0),
        bus_width=5120,
        mem_clock_mhz=1215,
        nvlinks=12,
        mig=[FakeMig(m.uuid, m.total_mib, m.used_mib, m.gpu_instance, m.compute_instance) for m in A100_MIG_INSTANCES],
        mig_mode=(1, 1),
    )
    gpus = [first]
    if second_gpu:
        gpus.append(
            FakeGpu(
                name="NVIDIA A100-SXM4-40GB",
                uuid=_uuid(0xA1001),
                bus_id="00000000:0F:00.0",
                total_mib=40960,
                reserved_mib=518,
                cc=(8, 0),
                bus_width=5120,
                mem_clock_mhz=1215,
                nvlinks=12,
                mig=[],
            )
        )
    return FakeDriver(gpus, driver_version="570.148.08", cuda_version=12080)


#: DGX Spark /proc/meminfo (XuehaiPan/nvitop#208, driver 580.173.02).
GB10_MEMTOTAL_KB = 127600748
GB10_MEMAVAILABLE_KB = 118566368


def gb10() -> FakeDriver:
    """NVIDIA GB10 (DGX Spark): memory NotSupported on both calls; nvtop#426 saw PCIe reported as Gen1 x1."""
    return FakeDriver(
        [
            FakeGpu(
                name="NVIDIA GB10",
                uuid="GPU-2dee1e25-b3b5-007e-2b55-79f2d0f2ebe5",
                bus_id="0000000F:01:00.0",
                total_mib=None,
                cc=(12, 1),
                pcie=(1, 1),
            )
        ],
        driver_version="580.173.02",
        cuda_version=13000,
    )


def l40s(i: int, **changes: Any) -> FakeGpu:
    """NVIDIA L40S: 46068 MiB, 609 MiB reserved, 9001 MHz x 384 bits, PCIe Gen4 x16 (qx-l40s.xml)."""
    gpu = FakeGpu(
        name="NVIDIA L40S",
        uuid=_uuid(0x1405 + i),
        bus_id=f"00000000:{0x41 + i * 0x40:02X}:00.0",
        total_mib=46068,
        reserved_mib=609,
        cc=(8, 9),
        bus_width=384,
        mem_clock_mhz=9001,
        pcie=(4, 16),
    )
    return replace(gpu, **changes)


def lost_gpu(where: str = "after") -> FakeDriver:
    """Two L40S; the second fell off the bus (GPU is lost) at its handle or on every call after it."""
    return FakeDriver([l40s(0), l40s(1, lost=where)], driver_version="595.91.07", cuda_version=13020)
