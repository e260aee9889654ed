"""AMD GPUs: through ``amdsmi`` (ROCm's Python bindings) when it imports cleanly, else from amdgpu's sysfs.

``amdsmi`` prints to stdout and raises ``KeyError`` when ``libamd_smi.so`` is missing (amdsmi 7.0.2 on PyPI,
``amdsmi_wrapper.py``), so it is imported with stdout captured and any exception caught, and only on a Linux
machine where sysfs or ``/dev/kfd`` shows an AMD GPU (so other machines never pay for the import). Without it, amdgpu's
``/sys/class/drm/cardN/device/mem_info_vram_total`` and ``mem_info_vram_used`` give the memory in bytes (an MI300X
reads 206141652992, as ``rocm-smi`` does). A card without ``mem_info_vram_total`` (an APU such as the MI300A,
which shares system memory) is reported and not counted. HIP_VISIBLE_DEVICES / ROCR_VISIBLE_DEVICES are applied
by ``visibility``.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

from vram_advisor.inventory.model import Gpu
from vram_advisor.probe.accelerators import drm
from vram_advisor.probe.backend import ABSENT, OK, AcceleratorReading
from vram_advisor.probe.context import ProbeContext
from vram_advisor.probe.trace import describe_error

SOURCE = "amd"
VENDOR_ID = "0x1002"


class AmdBackend:
    name = "amd"

    def read(self, context: ProbeContext) -> AcceleratorReading:
        if not context.platform.startswith("linux"):
            return AcceleratorReading("amd", ABSENT)
        cards = drm.cards(context, SOURCE, VENDOR_ID)
        if not cards and not context.path("/dev/kfd").exists():
            return AcceleratorReading("amd", ABSENT)
        module, problem = _import_amdsmi(context)
        if module is not None:
            reading = _read_amdsmi(module, context)
            if reading is not None:
                return reading
            problem = "amdsmi failed (see vram-advisor doctor)"
        return _read_sysfs(context, cards, problem)


def _import_amdsmi(context: ProbeContext) -> tuple[Any, str | None]:
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            import amdsmi
    except Exception as exc:  # amdsmi raises KeyError (not ImportError) without libamd_smi.so
        context.trace.record(SOURCE, "import amdsmi", error=exc)
        return None, f"amdsmi not usable ({describe_error(exc)})"
    context.trace.record(SOURCE, "import amdsmi", captured.getvalue().strip() or "ok")
    return amdsmi, None


def _read_amdsmi(amdsmi: Any, context: ProbeContext) -> AcceleratorReading | None:
    trace = context.trace

    def call(label: str, function: Any, *args: Any) -> Any:
        try:
            value = function(*args)
        except Exception as exc:
            trace.record(SOURCE, label, error=exc)
            raise
        trace.record(SOURCE, label, value)
        return value

    try:
        call("amdsmi_init(INIT_AMD_GPUS)", amdsmi.amdsmi_init, amdsmi.AmdSmiInitFlags.INIT_AMD_GPUS)
    except Exception:
        return None
    try:
        try:
            handles = call("amdsmi_get_processor_handles()", amdsmi.amdsmi_get_processor_handles)
        except Exception:
            return None
        gpus = []
        for index, handle in enumerate(handles):
            notes: list[str] = ["read through amdsmi"]

            def ask(what: str, label: str, function: Any, *args: Any) -> Any:
                try:
                    return call(f"{label}(gpu {index})", function, handle, *args)  # noqa: B023
                except Exception as exc:
                    notes.append(f"{what}: unknown ({describe_error(exc)})")  # noqa: B023
                    return None

            vram = amdsmi.AmdSmiMemoryType.VRAM
            total = ask("memory", "amdsmi_get_gpu_memory_total", amdsmi.amdsmi_get_gpu_memory_total, vram)
            used = ask("memory used", "amdsmi_get_gpu_memory_usage", amdsmi.amdsmi_get_gpu_memory_usage, vram)
            asic = ask("name", "amdsmi_get_gpu_asic_info", amdsmi.amdsmi_get_gpu_asic_info) or {}
            bdf = ask("PCI bus id", "amdsmi_get_gpu_device_bdf", amdsmi.amdsmi_get_gpu_device_bdf)
            uuid = ask("UUID", "amdsmi_get_gpu_device_uuid", amdsmi.amdsmi_get_gpu_device_uuid)
            name = asic.get("market_name") if isinstance(asic, dict) else None
            if total is None:
                notes.append("not counted")
            gpus.append(
                Gpu(
                    name=str(name or f"AMD GPU {index}"),
                    memory_total_bytes=int(total or 0),
                    index=index,
                    vendor="amd",
                    uuid=str(uuid) if uuid else None,
                    memory_free_bytes=int(total) - int(used) if total is not None and used is not None else None,
                    pci_bus_id=str(bdf) if bdf else None,
                    notes=tuple(notes),
                )
            )
        return AcceleratorReading("amd", OK, tuple(gpus))
    finally:
        with contextlib.suppress(Exception):
            call("amdsmi_shut_down()", amdsmi.amdsmi_shut_down)


def _read_sysfs(context: ProbeContext, cards: list[drm.Card], problem: str | None) -> AcceleratorReading:
    gpus = []
    notes = []
    for index, card in enumerate(cards):
        total = drm.read_int(context, card.device_dir / "mem_info_vram_total", SOURCE)
        used = drm.read_int(context, card.device_dir / "mem_info_vram_used", SOURCE)
        where = card.pci_bus_id or card.name
        if total is None:
            notes.append(
                f"AMD GPU at {where} reports no VRAM size (an APU that shares system memory, or not the amdgpu "
                "driver): not counted"
            )
            continue
        product = context.read_text(card.device_dir / "product_name", SOURCE, quiet_missing=True)
        how = "read from sysfs (mem_info_vram_total)" + (f"; {problem}" if problem else "")
        gpus.append(
            Gpu(
                name=product or f"AMD GPU [{VENDOR_ID[2:]}:{(card.device or '????').removeprefix('0x')}]",
                memory_total_bytes=total,
                index=index,
                vendor="amd",
                memory_free_bytes=total - used if used is not None else None,
                pci_bus_id=card.pci_bus_id,
                notes=(how,),
            )
        )
    return AcceleratorReading("amd", OK if gpus else ABSENT, tuple(gpus), tuple(notes))
