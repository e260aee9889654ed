"""NVIDIA GPUs through NVML (the ``pynvml`` module of nvidia-ml-py): the NVIDIA accelerator backend.

One ``nvmlInit`` per run, always followed by ``nvmlShutdown``. Per GPU: index, name, UUID, PCI bus id, memory
total / reserved / free (``nvmlDeviceGetMemoryInfo_v2``, falling back to v1 on drivers before R510 that lack it),
compute capability, memory bandwidth (bus width x max memory clock x 2), max PCIe generation and width, NVLink
(any link active), MIG mode and, when enabled, each MIG instance with its own memory.

Failures are facts, not crashes (the ``NVMLError_*`` classes of nvidia-ml-py's ``pynvml.py``; wookayin/gpustat#110,
XuehaiPan/nvitop#208):

* a start failure (no library, no kernel driver, library/driver mismatch, no permission, unknown) gives no GPUs,
  a status word and a note saying what happened and what to do;
* an optional field that answers ``NotSupported``, ``FunctionNotFound`` (old driver) or ``NoPermission`` is
  recorded as unknown (None) with a note on that GPU;
* ``GPU is lost`` on one device marks that device (memory 0, not counted, a note) and the others still report;
* memory ``NotSupported`` on both calls (GB10, Jetson) means unified memory: the GPU's budget comes from host RAM
  (``unified.shared_ram_budget``) and it is marked ``unified``.

On Linux the library is opened with ``dlopen`` before ``pynvml`` is imported, so a machine without the NVIDIA
driver does not pay for importing the bindings.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vram_advisor.core import units
from vram_advisor.inventory.bandwidth import memory_bandwidth_bytes_per_s
from vram_advisor.inventory.model import Gpu, MigDevice
from vram_advisor.probe import unified
from vram_advisor.probe.backend import ABSENT, OK, AcceleratorReading
from vram_advisor.probe.context import ProbeContext
from vram_advisor.probe.nvml_messages import LIBRARY, LOST_NOTE, REASONS, START_FAILURES, environment_notes
from vram_advisor.probe.trace import Trace, describe_error

SOURCE = "nvml"


class NvidiaBackend:
    """NVIDIA GPUs through NVML."""

    name = "nvidia"

    def read(self, context: ProbeContext) -> AcceleratorReading:
        return read(context)


def _error_name(exc: BaseException) -> str:
    return type(exc).__name__


def _reason(exc: BaseException) -> str:
    return REASONS.get(_error_name(exc), describe_error(exc))


def _dlopen_error() -> OSError | None:
    """Why the NVML library cannot be opened, or None when it can (Linux and other dlopen systems)."""
    import ctypes

    try:
        ctypes.CDLL(LIBRARY)
    except OSError as exc:
        return exc
    return None


def read(context: ProbeContext | None = None) -> AcceleratorReading:
    """Read every NVIDIA GPU NVML can see; never raises."""
    context = context or ProbeContext()
    trace = context.trace
    if context.platform == "darwin":
        return AcceleratorReading("nvidia", ABSENT)
    if "pynvml" not in sys.modules and not context.platform.startswith("win"):
        error = _dlopen_error()
        if error is not None:
            trace.record(SOURCE, f'dlopen("{LIBRARY}")', error=error)
            return _start_failure("NVMLError_LibraryNotFound", context)
        trace.record(SOURCE, f'dlopen("{LIBRARY}")', "ok")
    try:
        import pynvml
    except Exception as exc:  # a broken install must not sink the probe
        trace.record(SOURCE, "import pynvml", error=exc)
        return AcceleratorReading(
            "nvidia",
            "bindings_broken",
            notes=(
                f"NVML: the nvidia-ml-py bindings could not be imported ({describe_error(exc)}), so no NVIDIA GPU "
                "is counted: reinstall vram-advisor (pip install --force-reinstall nvidia-ml-py)",
            ),
        )
    notes: list[str] = []
    if not hasattr(pynvml, "_nvmlGetFunctionPointer") or Path(getattr(pynvml, "__file__", "")).name != "pynvml.py":
        notes.append(
            "NVML: an old 'pynvml' package shadows nvidia-ml-py's bindings; readings may be incomplete "
            "(pip uninstall pynvml; pip install --force-reinstall nvidia-ml-py)"
        )
    calls = _Calls(pynvml, trace)
    try:
        calls("nvmlInit()", pynvml.nvmlInit)
    except pynvml.NVMLError as exc:
        return _start_failure(_error_name(exc), context, exc, notes)
    except Exception as exc:
        return AcceleratorReading(
            "nvidia", "error", notes=(*notes, f"NVML failed to start ({describe_error(exc)}): no NVIDIA GPU is counted")
        )
    try:
        return _read_devices(pynvml, calls, context, notes)
    finally:
        with contextlib.suppress(Exception):  # shutting down cannot make the reading wrong
            calls("nvmlShutdown()", pynvml.nvmlShutdown)


def _start_failure(
    name: str, context: ProbeContext, exc: BaseException | None = None, notes: list[str] | None = None
) -> AcceleratorReading:
    status, advice = START_FAILURES.get(
        name,
        ("error", f"NVML failed to start ({describe_error(exc) if exc else name}), so no NVIDIA GPU is counted"),
    )
    if status == "library_not_found":
        advice = _library_not_found_advice(context) or advice
    return AcceleratorReading("nvidia", status, notes=(*(notes or []), f"NVML: {advice}"))


def _library_not_found_advice(context: ProbeContext) -> str | None:
    """A sharper hint when this looks like a container started without the NVIDIA runtime."""
    requested = context.environ.get("NVIDIA_VISIBLE_DEVICES", "").strip()
    device_node = context.path("/dev/nvidia0").exists() or context.path("/dev/nvidiactl").exists()
    if (requested and requested not in ("void", "none")) or device_node:
        return (
            f"no NVIDIA driver library ({LIBRARY}) was found although "
            + ("NVIDIA_VISIBLE_DEVICES is set" if requested else "/dev/nvidia* exists")
            + ", so no NVIDIA GPU is counted: start the container with the NVIDIA runtime (docker run --gpus all, "
            "or runtimeClassName: nvidia) or install the driver's user-space libraries"
        )
    return None


class _Calls:
    """Runs NVML calls and records each call with its answer or error in the trace."""

    def __init__(self, pynvml: Any, trace: Trace) -> None:
        self.pynvml = pynvml
        self.trace = trace

    def __call__(self, label: str, function: Callable[..., Any], *args: Any) -> Any:
        try:
            value = function(*args)
        except UnicodeDecodeError as exc:  # a driver answering bytes that are not UTF-8 (nvitop maps this too)
            self.trace.record(SOURCE, label, error=exc)
            raise self.pynvml.NVMLError(self.pynvml.NVML_ERROR_UNKNOWN) from exc
        except Exception as exc:
            self.trace.record(SOURCE, label, error=exc)
            raise
        self.trace.record(SOURCE, label, value)
        return value


def _read_devices(pynvml: Any, calls: _Calls, context: ProbeContext, notes: list[str]) -> AcceleratorReading:
    def system(label: str, function: Callable[[], Any]) -> Any:
        try:
            return calls(label, function)
        except Exception as exc:
            notes.append(f"NVML: {label.removesuffix('()')} unknown ({_reason(exc)})")
            return None

    driver = system("nvmlSystemGetDriverVersion()", pynvml.nvmlSystemGetDriverVersion)
    cuda = system("nvmlSystemGetCudaDriverVersion()", pynvml.nvmlSystemGetCudaDriverVersion)
    cuda_text = f"{cuda // 1000}.{(cuda % 1000) // 10}" if isinstance(cuda, int) and cuda > 0 else None
    driver_text = _text(driver)
    count = system("nvmlDeviceGetCount()", pynvml.nvmlDeviceGetCount)
    if not isinstance(count, int):
        notes.append("NVML: the GPUs could not be counted, so no NVIDIA GPU is counted")
        return AcceleratorReading("nvidia", "error", (), tuple(notes), driver_text, cuda_text)
    gpus = [_DeviceReader(pynvml, calls, context, index).read() for index in range(count)]
    notes.extend(environment_notes(context.environ, count))
    return AcceleratorReading("nvidia", OK, tuple(gpus), tuple(notes), driver_text, cuda_text)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class _DeviceReader:
    """Reads one GPU; every failure becomes None plus a note on this GPU, and a lost GPU stops being asked."""

    def __init__(self, pynvml: Any, calls: _Calls, context: ProbeContext, index: int) -> None:
        self.nvml = pynvml
        self.calls = calls
        self.context = context
        self.index = index
        self.notes: list[str] = []
        self.lost = False
        self.last_error: str | None = None
        self.handle: Any = None

    # -------------------------------------------------------------------------------------------- helpers

    def ask(
        self,
        what: str,
        name: str,
        *args: Any,
        quiet: tuple[str, ...] = (),
        handle: Any = None,
        who: str = "",
        shown: str | None = None,
    ) -> Any:
        """``pynvml.<name>(handle, *args)``; None and a note (unless its error is in ``quiet``) on failure."""
        self.last_error = None
        if self.lost:
            return None
        target = self.handle if handle is None else handle
        label = f"{shown or name}(gpu {self.index}{who}{'' if shown else ''.join(f', {a}' for a in args)})"
        function = getattr(self.nvml, name, None)
        if function is None:
            self.last_error = "NVMLError_FunctionNotFound"
            self.notes.append(f"{what}: unknown (these nvidia-ml-py bindings lack {name})")
            return None
        try:
            return self.calls(label, function, target, *args)
        except self.nvml.NVMLError as exc:
            self.last_error = _error_name(exc)
            if self.last_error == "NVMLError_GpuIsLost":
                self.lost = True
                self.notes.append(LOST_NOTE)
            elif self.last_error not in quiet:
                self.notes.append(f"{what}: unknown ({_reason(exc)})")
            return None
        except Exception as exc:
            self.last_error = _error_name(exc)
            self.notes.append(f"{what}: unknown ({describe_error(exc)})")
            return None

    # ----------------------------------------------------------------------------------------------- read

    def read(self) -> Gpu:
        try:
            self.handle = self.calls(
                f"nvmlDeviceGetHandleByIndex({self.index})", self.nvml.nvmlDeviceGetHandleByIndex, self.index
            )
        except Exception as exc:
            lost = _error_name(exc) == "NVMLError_GpuIsLost"
            note = LOST_NOTE if lost else f"not readable ({_reason(exc)}): its memory is not counted"
            return Gpu(
                name=f"NVIDIA GPU {self.index} (unreadable)",
                memory_total_bytes=0,
                index=self.index,
                vendor="nvidia",
                notes=(note,),
            )
        name = _text(self.ask("name", "nvmlDeviceGetName"))
        uuid = _text(self.ask("UUID", "nvmlDeviceGetUUID"))
        pci = self.ask("PCI bus id", "nvmlDeviceGetPciInfo")
        bus_id = _text(getattr(pci, "busId", None)) if pci is not None else None
        total, reserved, free, is_unified = self.memory()
        cc = self.ask("compute capability", "nvmlDeviceGetCudaComputeCapability")
        capability = f"{cc[0]}.{cc[1]}" if isinstance(cc, tuple | list) and len(cc) == 2 else None
        width = self.ask("memory bus width", "nvmlDeviceGetMemoryBusWidth")
        clock = self.ask(
            "max memory clock",
            "nvmlDeviceGetMaxClockInfo",
            int(self.nvml.NVML_CLOCK_MEM),
            shown="nvmlDeviceGetMaxClockInfo",
            who=", NVML_CLOCK_MEM",
        )
        bandwidth = memory_bandwidth_bytes_per_s(width, clock)
        generation = self.ask("PCIe generation", "nvmlDeviceGetMaxPcieLinkGeneration")
        lanes = self.ask("PCIe width", "nvmlDeviceGetMaxPcieLinkWidth")
        if is_unified and (generation is not None or lanes is not None):
            generation = lanes = None
            self.notes.append("PCIe: not reported (the GPU sits beside the CPU on a chip-to-chip link)")
        nvlink = self.nvlink()
        mig_enabled, migs = self.mig()
        return Gpu(
            name=name or f"NVIDIA GPU {self.index}" + (" (lost)" if self.lost else ""),
            memory_total_bytes=0 if self.lost or total is None else total,
            index=self.index,
            vendor="nvidia",
            uuid=uuid,
            memory_reserved_bytes=reserved,
            memory_free_bytes=free,
            unified=is_unified,
            pci_bus_id=bus_id,
            compute_capability=capability,
            memory_bus_width_bits=width or None,
            memory_clock_max_mhz=clock or None,
            memory_bandwidth_bytes_per_s=bandwidth,
            pcie_generation=generation or None,
            pcie_width=lanes or None,
            nvlink=nvlink,
            mig_enabled=mig_enabled,
            mig_devices=migs,
            notes=tuple(dict.fromkeys(self.notes)),
        )

    def memory(self, handle: Any = None, who: str = "") -> tuple[int | None, int | None, int | None, bool]:
        """(total, reserved, free, unified) from the v2 call, else v1; unified when NVML supports neither."""
        version = getattr(self.nvml, "nvmlMemory_v2", None)
        errors: list[str] = []
        if version is not None:
            memory = self.ask(
                "memory",
                "nvmlDeviceGetMemoryInfo",
                version,
                handle=handle,
                who=who,
                quiet=_ALL_ERRORS,
                shown="nvmlDeviceGetMemoryInfo_v2",
            )
            if memory is not None:
                total, reserved, free = int(memory.total), int(memory.reserved), int(memory.free)
                if total == 0 and handle is None:
                    return self.shared_memory()
                return total, reserved, free, False
            if self.lost:
                return None, None, None, False
            errors.append(self.last_error or "")
        memory = self.ask("memory", "nvmlDeviceGetMemoryInfo", handle=handle, who=who, quiet=_ALL_ERRORS)
        if memory is not None:
            total, free = int(memory.total), int(memory.free)
            if total == 0 and handle is None:
                return self.shared_memory()
            if handle is None:
                missing = not errors or errors[0] in ("NVMLError_FunctionNotFound", "NVMLError_ArgumentVersionMismatch")
                why = (
                    "this driver lacks nvmlDeviceGetMemoryInfo_v2 (drivers before R510)"
                    if missing
                    else f"nvmlDeviceGetMemoryInfo_v2 failed ({REASONS.get(errors[0], errors[0])})"
                )
                self.notes.append(
                    f"reserved memory unknown: {why}, so the v1 total is counted whole and usable VRAM may be "
                    "overstated by a few hundred MiB"
                )
            return total, None, free, False
        if self.lost:
            return None, None, None, False
        errors.append(self.last_error or "")
        if handle is None and all(e == "NVMLError_NotSupported" for e in errors):
            return self.shared_memory()
        if handle is None:
            reason = REASONS.get(errors[-1], errors[-1] or "unknown error")
            hint = (
                " (a GPU in MIG mode shows its total only to root; its MIG instances are read below)"
                if errors[-1] == "NVMLError_NoPermission"
                else ""
            )
            self.notes.append(f"memory: unknown ({reason}){hint}: not counted")
        return None, None, None, False

    def shared_memory(self) -> tuple[int | None, int | None, int | None, bool]:
        ram = self.context.ram_effective_bytes
        if not ram:
            self.notes.append("unified memory: NVML reports no memory of its own and host RAM is unknown: not counted")
            return None, None, None, True
        budget, note = unified.shared_ram_budget(ram)
        self.notes.append(note)
        available = self.context.ram_available_bytes
        free = min(budget, available) if available is not None else None
        return budget, 0, free, True

    def nvlink(self) -> bool | None:
        """True when any NVLink is active, False when none is (or the GPU has none), None when unknown."""
        active = 0
        known = False
        limit = int(getattr(self.nvml, "NVML_NVLINK_MAX_LINKS", 18))
        for link in range(limit):
            state = self.ask("NVLink", "nvmlDeviceGetNvLinkState", link, quiet=_ALL_ERRORS)
            if state is None:
                if link == 0 and self.last_error in ("NVMLError_NotSupported", "NVMLError_InvalidArgument"):
                    known = True  # no NVLink on this GPU
                elif link == 0 and not self.lost:
                    self.notes.append(f"NVLink: unknown ({REASONS.get(self.last_error or '', self.last_error)})")
                break
            known = True
            if int(state) == int(getattr(self.nvml, "NVML_FEATURE_ENABLED", 1)):
                active += 1
        return active > 0 if known else None

    def mig(self) -> tuple[bool | None, tuple[MigDevice, ...]]:
        mode = self.ask("MIG mode", "nvmlDeviceGetMigMode", quiet=("NVMLError_NotSupported",))
        if mode is None:
            return (False if self.last_error == "NVMLError_NotSupported" else None), ()
        enabled_value = int(getattr(self.nvml, "NVML_DEVICE_MIG_ENABLE", 1))
        current, pending = int(mode[0]), int(mode[1])
        if current != pending:
            self.notes.append(
                f"MIG mode is {'on' if current == enabled_value else 'off'} with a change pending: it takes effect "
                "after a GPU reset"
            )
        if current != enabled_value:
            return False, ()
        count = self.ask("MIG instances", "nvmlDeviceGetMaxMigDeviceCount") or 0
        migs = []
        for slot in range(int(count)):
            handle = self.ask(
                f"MIG instance {slot}",
                "nvmlDeviceGetMigDeviceHandleByIndex",
                slot,
                quiet=("NVMLError_NotFound", "NVMLError_InvalidArgument"),
            )
            if handle is not None:
                migs.append(self.mig_device(handle, slot))
        if not migs and not self.lost:
            self.notes.append(
                "MIG mode is on but no MIG instance exists: CUDA cannot use this GPU until one is created"
            )
        return True, tuple(migs)

    def mig_device(self, handle: Any, slot: int) -> MigDevice:
        what = f"MIG instance {slot}"
        who = f" MIG {slot}"
        uuid = _text(self.ask(f"{what} UUID", "nvmlDeviceGetUUID", handle=handle, who=who))
        total, reserved, free, _ = self.memory(handle, who)
        if total is None and not self.lost:
            attributes = self.ask(f"{what} attributes", "nvmlDeviceGetAttributes", handle=handle, who=who)
            size_mb = getattr(attributes, "memorySizeMB", None)
            if size_mb:
                total = int(size_mb) * units.MIB
                self.notes.append(f"{what}: memory taken from its profile ({size_mb} MiB); free memory unknown")
            else:
                self.notes.append(f"{what}: memory unknown: not counted")
        gi = self.ask(f"{what} GPU instance id", "nvmlDeviceGetGpuInstanceId", handle=handle, who=who)
        ci = self.ask(f"{what} compute instance id", "nvmlDeviceGetComputeInstanceId", handle=handle, who=who)
        return MigDevice(
            uuid=uuid,
            memory_total_bytes=total,
            memory_reserved_bytes=reserved,
            memory_free_bytes=free,
            gpu_instance_id=gi,
            compute_instance_id=ci,
        )


#: Errors the memory reader handles itself (it falls back, or concludes unified memory) instead of noting each.
_ALL_ERRORS = (
    "NVMLError_NotSupported",
    "NVMLError_FunctionNotFound",
    "NVMLError_ArgumentVersionMismatch",
    "NVMLError_NoPermission",
    "NVMLError_InvalidArgument",
    "NVMLError_Unknown",
    "NVMLError_NotFound",
    "NVMLError_Uninitialized",
)
