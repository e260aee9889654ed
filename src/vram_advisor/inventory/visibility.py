"""Which GPUs this process may use: CUDA_VISIBLE_DEVICES (and ROCm's variables) read the way the runtimes read them.

NVML ignores CUDA_VISIBLE_DEVICES (gpuopenanalytics/pynvml#28), so the probe lists every GPU and this module marks
each one ``visible`` or not; ``check`` plans on the visible ones (contract rule 2) and says what was applied.

CUDA's reading (CUDA Programming Guide, "CUDA Environment Variables"; PyTorch's ``torch/cuda/__init__.py``):

* unset: every GPU; empty (Ray sets it for tasks without GPUs): none;
* comma-separated entries, each an ordinal, a ``GPU-`` UUID or a unique prefix of one, or a ``MIG-`` UUID (also the
  legacy ``MIG-GPU-<uuid>/<gi>/<ci>``); the first invalid entry (not a number, no match, an ordinal past the end)
  ends the list: ``0,2,-1,1`` is devices 0 and 2; an ordinal is read like ``strtoul`` (``1gpu2`` is 1);
* a device named twice makes the whole list invalid: no device (PyTorch's ``_parse_visible_devices``);
* ordinals count in CUDA's order: ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` is NVML's (PCI) order; the default
  ``FASTEST_FIRST`` puts the fastest GPU first and leaves the rest unspecified; we read it as highest compute
  capability first, then PCI order, and say so where the GPUs differ.

MIG (the decision for planning; DataDog's agent ``pkg/gpu/cuda/env.go`` and nvitop model CUDA the same way):

* a GPU in MIG mode is never used whole: CUDA enumerates non-MIG GPUs first, then the first MIG instance of each
  MIG-enabled GPU; a MIG-enabled GPU without instances is not a CUDA device;
* a CUDA process sees at most one MIG device: once any MIG device is visible (named by its UUID, by its parent's
  UUID or ordinal, or because the variable is unset) it is the only device; the others are hidden;
* so the usable VRAM of a MIG machine is the memory of that one MIG instance: the chosen GPU's memory fields are
  replaced by its instance's (total, reserved, free), with a note naming the instance and the GPU's own total.
  ``--all-gpus`` ignores CUDA_VISIBLE_DEVICES but not MIG, which no setting of the variable can undo.

AMD GPUs follow ROCR_VISIBLE_DEVICES, then HIP_VISIBLE_DEVICES (CUDA_VISIBLE_DEVICES when HIP's is unset and
there is no NVIDIA GPU, as HIP does), as indices or UUIDs. Apple and Intel GPUs are always visible.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from vram_advisor.core import units
from vram_advisor.core.records import Record, dataclass
from vram_advisor.inventory.model import Gpu, Inventory, MigDevice

#: A device ordinal as CUDA reads it (strtoul); more than 30 digits read as their first 30, past any device as
#: strtoul's saturated value is, and never a number ``int()`` refuses.
_ORDINAL = re.compile(r"^\+?(\d{1,30})")
_MIG_PREFIX = "MIG: "
#: Every note ``apply`` writes begins with one of these (``is_visibility_note``).
NOTE_PREFIXES = (
    "CUDA_VISIBLE_DEVICES",
    "CUDA_DEVICE_ORDER",
    "ROCR_VISIBLE_DEVICES",
    "HIP_VISIBLE_DEVICES",
    "--all-gpus: ",
    _MIG_PREFIX,
)
_LEGACY_MIG = re.compile(r"^MIG-(GPU-[0-9a-fA-F-]+)/(\d{1,30})/(\d{1,30})$")


@dataclass(frozen=True, eq=False, repr=False)
class Device(Record):
    """One CUDA device: a GPU (its position in ``inventory.gpus``) or one MIG instance of it."""

    position: int
    mig: MigDevice | None = None


@dataclass(frozen=True, eq=False, repr=False)
class Selection(Record):
    """The CUDA devices this process sees, in CUDA's order, and what to tell the user about them."""

    devices: tuple[Device, ...]
    notes: tuple[str, ...] = ()

    @property
    def positions(self) -> tuple[int, ...]:
        return tuple(device.position for device in self.devices)


def is_nvidia(gpu: Gpu) -> bool:
    """NVIDIA, or an inventory GPU without a vendor (the contract's minimal inventories, what-if sizes)."""
    return gpu.vendor in (None, "nvidia")


def _label(gpus: Sequence[Gpu], position: int) -> str:
    index = gpus[position].index
    return f"GPU {index if index is not None else position}"


def _pci_order(gpus: Sequence[Gpu], positions: Sequence[int]) -> list[int]:
    return sorted(positions, key=lambda p: (gpus[p].index if gpus[p].index is not None else p, p))


def _capability(gpu: Gpu) -> tuple[int, int] | None:
    major, _, minor = (gpu.compute_capability or "").partition(".")
    if not major.isdigit():
        return None
    return int(major), int(minor) if minor.isdigit() else 0


def cuda_order(gpus: Sequence[Gpu], positions: Sequence[int], device_order: str | None) -> tuple[list[int], str | None]:
    """``positions`` in CUDA's order, and a note when that order is a guess."""
    pci = _pci_order(gpus, positions)
    if (device_order or "").strip().upper() == "PCI_BUS_ID" or len({gpus[p].name for p in pci}) <= 1:
        return pci, None
    capabilities = [_capability(gpus[p]) for p in pci]
    if any(cc is None for cc in capabilities):
        return pci, (
            "CUDA_DEVICE_ORDER is not PCI_BUS_ID and the GPUs differ: ordinals were read in PCI order, which may not "
            "be CUDA's; set CUDA_DEVICE_ORDER=PCI_BUS_ID or name GPUs by UUID"
        )
    fastest = sorted(pci, key=lambda p: tuple(-part for part in (_capability(gpus[p]) or (0, 0))))
    return fastest, (
        "CUDA_DEVICE_ORDER is not PCI_BUS_ID and the GPUs differ: CUDA numbers the fastest GPU 0 and leaves the "
        "rest unspecified; ordinals were read as highest compute capability first ("
        + ", ".join(f"{i}={_label(gpus, p)}" for i, p in enumerate(fastest))
        + "); set CUDA_DEVICE_ORDER=PCI_BUS_ID or name GPUs by UUID to be sure"
    )


def enumeration(
    gpus: Sequence[Gpu], positions: Sequence[int], device_order: str | None
) -> tuple[list[Device], list[str], str | None]:
    """CUDA's devices: non-MIG GPUs in CUDA order, then the first MIG instance of each MIG-enabled GPU."""
    ordered, order_note = cuda_order(gpus, positions, device_order)
    whole = [Device(p) for p in ordered if gpus[p].mig_enabled is not True]
    migs: list[Device] = []
    notes: list[str] = []
    for position in ordered:
        gpu = gpus[position]
        if gpu.mig_enabled is not True:
            continue
        if gpu.mig_devices:
            migs.append(Device(position, gpu.mig_devices[0]))
        else:
            notes.append(
                f"{_MIG_PREFIX}{_label(gpus, position)} is in MIG mode without MIG instances: CUDA cannot use it"
            )
    return whole + migs, notes, order_note


def _strtoul(entry: str) -> int | None:
    match = _ORDINAL.match(entry)
    return int(match.group(1)) if match else None


def _match_gpu(gpus: Sequence[Gpu], positions: Sequence[int], entry: str) -> tuple[Device | None, str | None]:
    wanted = entry.lower()
    matches = [p for p in positions if (gpus[p].uuid or "").lower().startswith(wanted)]
    if len(matches) != 1:
        return None, f"{entry!r} matches {'no' if not matches else 'more than one'} GPU"
    position = matches[0]
    gpu = gpus[position]
    if gpu.mig_enabled is True:
        if not gpu.mig_devices:
            return None, f"{entry!r} is a GPU in MIG mode without MIG instances"
        return Device(position, gpu.mig_devices[0]), None
    return Device(position), None


def _match_mig(gpus: Sequence[Gpu], positions: Sequence[int], entry: str) -> tuple[Device | None, str | None]:
    legacy = _LEGACY_MIG.match(entry)
    found: list[Device] = []
    for position in positions:
        gpu = gpus[position]
        for mig in gpu.mig_devices:
            if legacy:
                parent = (gpu.uuid or "").lower().startswith(legacy.group(1).lower())
                if parent and (mig.gpu_instance_id, mig.compute_instance_id) == (
                    int(legacy.group(2)),
                    int(legacy.group(3)),
                ):
                    found.append(Device(position, mig))
            elif (mig.uuid or "").lower().startswith(entry.lower()):
                found.append(Device(position, mig))
    if len(found) != 1:
        return None, f"{entry!r} matches {'no' if not found else 'more than one'} MIG instance"
    return found[0], None


def select(gpus: Sequence[Gpu], value: str | None, device_order: str | None = None) -> Selection:
    """The CUDA devices CUDA_VISIBLE_DEVICES (``value``) leaves visible among the NVIDIA GPUs of ``gpus``."""
    positions = [p for p, gpu in enumerate(gpus) if is_nvidia(gpu)]
    devices, notes, order_note = enumeration(gpus, positions, device_order)
    if value is None:
        return _one_mig(gpus, devices, notes, None)
    if not value.strip():
        return Selection((), ("CUDA_VISIBLE_DEVICES is set but empty: CUDA sees no GPU",))
    chosen: list[Device] = []
    stop: str | None = None
    used_ordinals = False
    for raw in value.split(","):
        entry = raw.strip()
        device: Device | None
        if entry.upper().startswith("MIG-"):
            device, stop = _match_mig(gpus, positions, entry)
        elif entry.upper().startswith("GPU-"):
            device, stop = _match_gpu(gpus, positions, entry)
        else:
            number = _strtoul(entry)
            used_ordinals = True
            if number is None:
                device, stop = None, f"{entry!r} is not a device ordinal"
            elif number >= len(devices):
                device, stop = None, f"ordinal {number} is past the last CUDA device ({len(devices) - 1})"
            else:
                device = devices[number]
        if device is None:
            break
        if any(d.position == device.position and d.mig == device.mig for d in chosen):
            return Selection((), (f"CUDA_VISIBLE_DEVICES={value} names a device twice: CUDA sees no GPU",))
        chosen.append(device)
    head = f"CUDA_VISIBLE_DEVICES={value}"
    if stop:
        notes.append(f"{head}: the list ends at the first invalid entry ({stop})")
    if used_ordinals and order_note:
        notes.append(order_note)
    return _one_mig(gpus, chosen, notes, head)


def _one_mig(gpus: Sequence[Gpu], devices: Sequence[Device], notes: list[str], head: str | None) -> Selection:
    """CUDA shows at most one MIG device, and then nothing else."""
    first_mig = next((d for d in devices if d.mig is not None), None)
    if first_mig is not None and first_mig.mig is not None:
        others = [d for d in devices if d is not first_mig]
        mig = first_mig.mig
        gpu = gpus[first_mig.position]
        whole = units.format_gib(_whole_gpu_total(gpu))
        if mig.memory_total_bytes is None:
            size = f"unknown memory, so nothing is counted; the GPU has {whole}"
        else:
            size = f"{units.format_gib(mig.memory_total_bytes)} of the GPU's {whole}"
        text = (
            f"{_MIG_PREFIX}{_label(gpus, first_mig.position)} is in MIG mode: a CUDA process sees one MIG device, so "
            f"planning on MIG instance {mig.uuid or '?'} ({size}) alone"
        )
        if others:
            hidden = sorted({_label(gpus, d.position) for d in others})
            text += f"; {', '.join(hidden)} {'is' if len(hidden) == 1 else 'are'} not visible beside it"
        if head is None:
            text += "; name another instance with CUDA_VISIBLE_DEVICES=MIG-..."
        notes.append(text)
        devices = [first_mig]
    elif head is not None:
        total = sum(1 for gpu in gpus if is_nvidia(gpu))
        labels = ", ".join(_label(gpus, d.position) for d in devices) or "none"
        notes.insert(0, f"{head}: planning on {len(devices)} of {total} NVIDIA GPUs ({labels})")
    return Selection(tuple(devices), tuple(notes))


def _select_amd(gpus: Sequence[Gpu], environ: Mapping[str, str], has_nvidia: bool) -> tuple[set[int], list[str]]:
    positions = [p for p, gpu in enumerate(gpus) if gpu.vendor == "amd"]
    notes = []
    cuda = environ.get("CUDA_VISIBLE_DEVICES")
    if positions and not has_nvidia and cuda is not None and environ.get("HIP_VISIBLE_DEVICES") is not None:
        notes.append(
            f"CUDA_VISIBLE_DEVICES={cuda} is not applied: there is no NVIDIA GPU, and the AMD GPUs follow "
            "HIP_VISIBLE_DEVICES, which is set"
        )
    for name in ("ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES"):
        value = environ.get(name)
        shown = name
        if value is None and name == "HIP_VISIBLE_DEVICES" and not has_nvidia:
            value = cuda
            shown = "CUDA_VISIBLE_DEVICES"
        if value is None or not positions:
            continue
        kept: list[int] = []
        for raw in value.split(",") if value.strip() else []:
            entry = raw.strip()
            number = _strtoul(entry)
            if number is not None and number < len(positions):
                position = positions[number]
            else:
                matches = [p for p in positions if entry and (gpus[p].uuid or "").lower().startswith(entry.lower())]
                if len(matches) != 1:
                    break
                position = matches[0]
            if position in kept:
                kept = []
                break
            kept.append(position)
        how = " (HIP reads it when HIP_VISIBLE_DEVICES is unset and there is no NVIDIA GPU)" if shown != name else ""
        notes.append(f"{shown}={value}{how}: planning on {len(kept)} of {len(positions)} AMD GPUs")
        positions = kept
    return set(positions), notes


def _whole_gpu_total(gpu: Gpu) -> int:
    """The GPU's own total memory, also once an earlier ``apply`` put a MIG instance's in its place."""
    if gpu.memory_total_bytes_whole_gpu is not None:
        return gpu.memory_total_bytes_whole_gpu
    return gpu.memory_total_bytes


def _plan_on_mig(gpu: Gpu, mig: MigDevice) -> Gpu:
    """``gpu`` carrying its MIG instance's memory (applying it again, even with another instance, is safe)."""
    return gpu.replace(
        memory_total_bytes=mig.memory_total_bytes or 0,
        memory_reserved_bytes=mig.memory_reserved_bytes or 0,
        memory_free_bytes=mig.memory_free_bytes,
        memory_total_bytes_whole_gpu=_whole_gpu_total(gpu),
    )


def is_visibility_note(note: str) -> bool:
    """Whether ``note`` is one ``apply`` writes (each begins with one of ``NOTE_PREFIXES``), so that applying again,
    e.g. to a saved ``probe --json`` under another environment, replaces the earlier ones instead of adding to them."""
    return note.startswith(NOTE_PREFIXES)


def apply(inventory: Inventory, environ: Mapping[str, str], ignore: bool = False) -> Inventory:
    """The inventory with ``visible`` set on every GPU (``ignore``: CUDA_VISIBLE_DEVICES is not applied).

    A MIG-enabled GPU that CUDA would use carries its MIG instance's memory instead of its own (module docstring).
    """
    gpus = inventory.gpus
    has_nvidia = any(is_nvidia(gpu) for gpu in gpus)
    # without NVIDIA GPUs CUDA_VISIBLE_DEVICES selects nothing here (HIP may read it: _select_amd)
    cuda = None if ignore or not has_nvidia else environ.get("CUDA_VISIBLE_DEVICES")
    selection = select(gpus, cuda, environ.get("CUDA_DEVICE_ORDER"))
    chosen = {device.position: device for device in selection.devices}
    notes = list(selection.notes)
    amd_visible, amd_notes = _select_amd(gpus, {} if ignore else environ, has_nvidia)
    notes.extend(amd_notes)
    if ignore and "CUDA_VISIBLE_DEVICES" in environ:
        notes.append(f"--all-gpus: CUDA_VISIBLE_DEVICES={environ['CUDA_VISIBLE_DEVICES']} is ignored")
    marked = []
    for position, gpu in enumerate(gpus):
        if is_nvidia(gpu):
            device = chosen.get(position)
            visible = device is not None
            if device is not None and device.mig is not None:
                gpu = _plan_on_mig(gpu, device.mig)
        elif gpu.vendor == "amd":
            visible = position in amd_visible
        else:
            visible = True
        marked.append(gpu.replace(visible=visible))
    kept = [note for note in inventory.notes if not is_visibility_note(note)]  # from an earlier apply
    return inventory.replace(gpus=tuple(marked), notes=(*kept, *notes))
