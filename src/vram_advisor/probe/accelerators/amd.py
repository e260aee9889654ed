"""AMD GPUs: through ``amdsmi`` (ROCm's Python bindings) when it imports cleanly, else from amdgpu's sysfs.

``amdsmi`` prints to stdout and raises ``KeyError`` when ``libamd_smi.so`` is missing (amdsmi 7.0.2 on PyPI,
``amdsmi_wrapper.py``), so it is imported with stdout captured and any exception caught, and only on a Linux
machine where sysfs or ``/dev/kfd`` shows an AMD GPU (so other machines never pay for the import). Without it, amdgpu's
``/sys/class/drm/cardN/device/mem_info_vram_total`` and ``mem_info_vram_used`` give the memory in bytes (an MI300X
reads 206141652992, as ``rocm-smi`` does). HIP_VISIBLE_DEVICES / ROCR_VISIBLE_DEVICES are applied by ``visibility``.

APUs (Strix Halo, MI300A, the Ryzen iGPUs) share system memory: their ``mem_info_vram_total`` is only a carve-out
(0.5 GiB on a 128 GB Ryzen AI Max+ 395), and what the GPU may use is the GTT (``mem_info_gtt_total``; amdsmi's
``AmdSmiMemoryType.GTT``). ``inventory.apu`` says how an APU is told from a discrete card and what its budget is
(the larger pool, the GTT capped at the RAM less the OS reserve); such a GPU is marked ``unified``, so the planner
counts no RAM again for offload. An APU beside a discrete GPU (any NVIDIA, Intel or discrete AMD display device on
the PCI bus) is a display iGPU and is not counted, as Intel's are. A card with neither VRAM nor GTT figures is
reported and not counted.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

from vram_advisor.core import units
from vram_advisor.core.policy import os_reserve_bytes
from vram_advisor.core.records import Record, dataclass
from vram_advisor.inventory import apu
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
        cards = {card.pci_bus_id.lower(): card for card in drm.cards(context, SOURCE, VENDOR_ID) if card.pci_bus_id}
        gtt_type = getattr(amdsmi.AmdSmiMemoryType, "GTT", None)
        seen = []
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
            card = cards.get(str(bdf).lower()) if bdf else None
            gtt = None
            if gtt_type is not None:
                gtt = ask("GTT", "amdsmi_get_gpu_memory_total(GTT)", amdsmi.amdsmi_get_gpu_memory_total, gtt_type)
            if gtt is None and card is not None:
                gtt = drm.read_int(context, card.device_dir / "mem_info_gtt_total", SOURCE)
            name = asic.get("market_name") if isinstance(asic, dict) else None
            seen.append(
                _Seen(
                    index=index,
                    name=str(name) if name else None,
                    vram=int(total) if total is not None else None,
                    vram_used=int(used) if used is not None else None,
                    gtt=int(gtt) if gtt else None,
                    card=card,
                    uuid=str(uuid) if uuid else None,
                    pci_bus_id=str(bdf) if bdf else None,
                    notes=tuple(notes),
                )
            )
        gpus, classified = _classify(context, seen)
        return AcceleratorReading("amd", OK if gpus else ABSENT, gpus, classified)
    finally:
        with contextlib.suppress(Exception):
            call("amdsmi_shut_down()", amdsmi.amdsmi_shut_down)


def _read_sysfs(context: ProbeContext, cards: list[drm.Card], problem: str | None) -> AcceleratorReading:
    seen = []
    for index, card in enumerate(cards):
        total = drm.read_int(context, card.device_dir / "mem_info_vram_total", SOURCE)
        used = drm.read_int(context, card.device_dir / "mem_info_vram_used", SOURCE)
        gtt = drm.read_int(context, card.device_dir / "mem_info_gtt_total", SOURCE)
        product = context.read_text(card.device_dir / "product_name", SOURCE, quiet_missing=True)
        how = "read from sysfs (mem_info_vram_total)" + (f"; {problem}" if problem else "")
        seen.append(
            _Seen(
                index=index,
                name=product,
                vram=total,
                vram_used=used,
                gtt=gtt,
                card=card,
                uuid=None,
                pci_bus_id=card.pci_bus_id,
                notes=(how,),
            )
        )
    gpus, notes = _classify(context, seen)
    return AcceleratorReading("amd", OK if gpus else ABSENT, gpus, notes)


@dataclass(frozen=True, repr=False)
class _Seen(Record):
    """One AMD GPU as amdsmi or sysfs reported it, before it is judged an APU or a discrete card."""

    index: int
    name: str | None
    vram: int | None
    vram_used: int | None
    gtt: int | None
    card: drm.Card | None
    uuid: str | None
    pci_bus_id: str | None
    notes: tuple[str, ...]


def _classify(context: ProbeContext, seen: list[_Seen]) -> tuple[tuple[Gpu, ...], tuple[str, ...]]:
    """The GPUs to count and the notes on those not counted: discrete cards by their VRAM, a lone APU (or APUs
    only, as on an MI300A node) as unified memory with the driver's budget, an APU beside a discrete GPU not at all."""
    reasons = {}
    for item in seen:
        gc = drm.gc_version(context, item.card, SOURCE) if item.card is not None else None
        device = item.card.device if item.card is not None else None
        reasons[item.index] = (apu.apu_reason(gc, device, item.vram, item.gtt), gc, device)
    discrete = [item for item in seen if reasons[item.index][0] is None and item.vram is not None]
    ours = {(item.pci_bus_id or "").lower() for item in seen}
    others = [bus for bus, vendor, _ in drm.display_devices(context, SOURCE) if vendor != VENDOR_ID and bus not in ours]
    beside = bool(discrete or others)
    gpus: list[Gpu] = []
    notes: list[str] = []
    for item in seen:
        reason, gc, device = reasons[item.index]
        where = item.pci_bus_id or (item.card.name if item.card is not None else f"index {item.index}")
        fallback = f"AMD GPU [{VENDOR_ID[2:]}:{(device or '????').removeprefix('0x')}]"
        if item.vram is None and not item.gtt:
            notes.append(
                f"AMD GPU at {where} reports no VRAM size and no GTT (not the amdgpu driver, or an APU such as the "
                "MI300A on an older kernel): not counted"
            )
            continue
        if reason is not None and beside:
            notes.append(
                f"AMD integrated GPU at {where} ({reason}) beside a discrete GPU: not counted (its memory is system "
                "RAM, and runtimes use the discrete card)"
            )
            continue
        if reason is not None:
            gpus.append(_unified(context, item, reason, apu.probe_name(gc, device) or fallback))
            continue
        if item.vram is None:
            notes.append(f"AMD GPU at {where} reports no VRAM size, only GTT, and is not an APU: not counted")
            continue
        gpus.append(
            Gpu(
                name=item.name or fallback,
                memory_total_bytes=item.vram,
                index=item.index,
                vendor="amd",
                uuid=item.uuid,
                memory_free_bytes=item.vram - item.vram_used if item.vram_used is not None else None,
                pci_bus_id=item.pci_bus_id,
                notes=item.notes,
            )
        )
    return tuple(gpus), tuple(notes)


def _unified(context: ProbeContext, item: _Seen, reason: str, name: str) -> Gpu:
    """An APU's GPU: unified memory, the larger of its carve-out and its GTT as the budget, the GTT capped at this
    machine's RAM less the OS reserve (the GTT is that RAM: it is counted once, here)."""
    ram = context.ram_effective_bytes
    cap = ram - os_reserve_bytes(ram) if ram else None
    budget = apu.driver_budget(item.vram, item.gtt, cap)
    vram = units.format_gib(item.vram) if item.vram is not None else "no"
    gtt = units.format_gib(item.gtt) if item.gtt is not None else "unknown"
    capped = (
        f", capped at this machine's RAM less the OS reserve ({units.format_gib(cap)})"
        if cap is not None and item.gtt is not None and item.gtt > cap
        else ""
    )
    note = (
        f"unified memory (an APU: {reason}): {vram} VRAM carve-out, {gtt} GTT (mem_info_gtt_total){capped}; "
        f"GPU budget {units.format_gib(budget)}, the larger pool; that RAM is not counted again for offload"
    )
    return Gpu(
        name=item.name or name,
        memory_total_bytes=budget,
        index=item.index,
        vendor="amd",
        uuid=item.uuid,
        unified=True,
        pci_bus_id=item.pci_bus_id,
        notes=(*item.notes, note),
    )
