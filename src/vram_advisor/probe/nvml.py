"""NVIDIA GPUs through NVML (the ``pynvml`` module of nvidia-ml-py).

One ``nvmlInit`` per run, always shut down. A start failure (no library, no driver, a library/driver mismatch,
no permission) gives no GPUs and a note saying what happened and what to do; a failure on one device or one
field is recorded on that device (``None`` plus a note) and the other devices still report.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from vram_advisor.inventory import Gpu

T = TypeVar("T")

#: What to tell the user for each NVML start failure (error class name -> advice).
START_FAILURES: dict[str, str] = {
    "NVMLError_LibraryNotFound": "no NVIDIA driver library (libnvidia-ml) was found: no NVIDIA GPUs are counted",
    "NVMLError_DriverNotLoaded": "the NVIDIA kernel driver is not loaded: load it (modprobe nvidia) or reinstall "
    "the driver for this kernel",
    "NVMLError_LibRmVersionMismatch": "the NVIDIA library and kernel driver versions differ (driver upgraded "
    "without a reboot): reboot, or reload the nvidia kernel modules",
    "NVMLError_NoPermission": "no permission to query the NVIDIA driver: check access to /dev/nvidia*",
    "NVMLError_Unknown": "NVML failed to start with an unknown error",
}


@dataclass(frozen=True)
class NvmlReading:
    """What NVML said: the GPUs, the driver versions, a status word and notes."""

    gpus: tuple[Gpu, ...]
    status: str
    driver_version: str | None = None
    cuda_driver_version: str | None = None
    notes: tuple[str, ...] = ()


def _error_name(exc: BaseException) -> str:
    return type(exc).__name__


def read() -> NvmlReading:
    """Read every NVIDIA GPU NVML can see; never raises."""
    try:
        import pynvml
    except Exception as exc:  # a broken or shadowed install (old pynvml package) must not sink the probe
        return NvmlReading((), "unavailable", notes=(f"NVML bindings could not be imported ({exc})",))
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        name = _error_name(exc)
        advice = START_FAILURES.get(name, f"NVML failed to start ({exc})")
        status = {
            "NVMLError_LibraryNotFound": "library_not_found",
            "NVMLError_DriverNotLoaded": "driver_not_loaded",
            "NVMLError_LibRmVersionMismatch": "rm_version_mismatch",
            "NVMLError_NoPermission": "no_permission",
        }.get(name, "error")
        return NvmlReading((), status, notes=(f"NVML: {advice}",))
    except Exception as exc:
        return NvmlReading((), "error", notes=(f"NVML: failed to start ({exc.__class__.__name__}: {exc})",))
    try:
        return _read_devices(pynvml)
    finally:
        with contextlib.suppress(Exception):  # shutting down cannot make the reading wrong
            pynvml.nvmlShutdown()


def _read_devices(pynvml: Any) -> NvmlReading:
    notes: list[str] = []

    def query(call: Callable[[], T], what: str, owner: list[str]) -> T | None:
        try:
            return call()
        except pynvml.NVMLError as exc:
            if _error_name(exc) not in ("NVMLError_NotSupported",):
                owner.append(f"{what}: {exc}")
            return None

    driver = query(pynvml.nvmlSystemGetDriverVersion, "driver version", notes)
    cuda = query(pynvml.nvmlSystemGetCudaDriverVersion, "CUDA driver version", notes)
    cuda_text = f"{cuda // 1000}.{(cuda % 1000) // 10}" if isinstance(cuda, int) else None
    count = query(pynvml.nvmlDeviceGetCount, "device count", notes)
    if count is None:
        return NvmlReading((), "error", _str(driver), cuda_text, (*notes, "NVML: could not count the GPUs"))
    gpus = []
    for index in range(count):
        gpu = _read_device(pynvml, index)
        if gpu is not None:
            gpus.append(gpu)
        else:
            notes.append(f"GPU {index}: not readable, skipped")
    return NvmlReading(tuple(gpus), "ok", _str(driver), cuda_text, tuple(notes))


def _str(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _read_device(pynvml: Any, index: int) -> Gpu | None:
    notes: list[str] = []
    try:
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    except pynvml.NVMLError as exc:
        notes.append(f"handle: {exc}")
        return Gpu(name="unreadable GPU", memory_total_bytes=0, index=index, vendor="nvidia", notes=tuple(notes))

    def query(call: Callable[..., T], *args: Any, what: str) -> T | None:
        try:
            return call(handle, *args)
        except pynvml.NVMLError as exc:
            notes.append(f"{what}: {exc}")
            return None

    name = _str(query(pynvml.nvmlDeviceGetName, what="name")) or "unknown NVIDIA GPU"
    uuid = _str(query(pynvml.nvmlDeviceGetUUID, what="uuid"))
    total = reserved = free = None
    unified = False
    try:
        memory = pynvml.nvmlDeviceGetMemoryInfo(handle, version=pynvml.nvmlMemory_v2)
        total, reserved, free = int(memory.total), int(memory.reserved), int(memory.free)
    except pynvml.NVMLError as exc:
        if _error_name(exc) == "NVMLError_FunctionNotFound":
            memory_v1 = query(pynvml.nvmlDeviceGetMemoryInfo, what="memory")
            if memory_v1 is not None:
                total, free = int(memory_v1.total), int(memory_v1.free)
                notes.append("driver lacks the v2 memory call: reserved memory unknown (counted as 0)")
        elif _error_name(exc) == "NVMLError_NotSupported":
            unified = True
            notes.append("memory: not supported by NVML (unified memory part): budget from host RAM")
        else:
            notes.append(f"memory: {exc}")
    return Gpu(
        name=name,
        memory_total_bytes=total or 0,
        index=index,
        vendor="nvidia",
        uuid=uuid,
        memory_reserved_bytes=reserved,
        memory_free_bytes=free,
        unified=unified,
        notes=tuple(notes),
    )
