"""What the NVIDIA backend tells people: NVML start failures with what to do, per-call reasons, and the notes the
environment calls for (container allocations, MPS and HAMi memory caps) that NVML itself cannot see."""

from __future__ import annotations

from collections.abc import Mapping

LIBRARY = "libnvidia-ml.so.1"

#: NVML start failures: error class -> (status word, what happened and what to do).
START_FAILURES: dict[str, tuple[str, str]] = {
    "NVMLError_LibraryNotFound": (
        "library_not_found",
        f"no NVIDIA driver library ({LIBRARY}) was found, so no NVIDIA GPU is counted; if this machine has one, "
        "install the NVIDIA driver",
    ),
    "NVMLError_DriverNotLoaded": (
        "driver_not_loaded",
        "the NVIDIA kernel driver is not loaded, so no NVIDIA GPU is counted: load it (sudo modprobe nvidia) or "
        "reinstall the driver for the running kernel (DKMS may not have built it after a kernel upgrade)",
    ),
    "NVMLError_LibRmVersionMismatch": (
        "rm_version_mismatch",
        "the NVIDIA library and the loaded kernel driver are different versions (the driver was upgraded "
        "without a reboot), so no NVIDIA GPU is counted: reboot, or reload the nvidia kernel modules",
    ),
    "NVMLError_NoPermission": (
        "no_permission",
        "no permission to talk to the NVIDIA driver, so no NVIDIA GPU is counted: check access to /dev/nvidia* "
        "(group membership, or the container's device list)",
    ),
    "NVMLError_Unknown": (
        "unknown_error",
        "NVML failed to start with an unknown error, so no NVIDIA GPU is counted: run nvidia-smi to see whether "
        "the driver works, and check dmesg for Xid errors",
    ),
}

REASONS = {
    "NVMLError_NotSupported": "not supported by this GPU or driver",
    "NVMLError_FunctionNotFound": "this driver is too old for the call",
    "NVMLError_NoPermission": "no permission",
    "NVMLError_GpuIsLost": "GPU is lost",
    "NVMLError_Uninitialized": "NVML is not initialised",
}

LOST_NOTE = (
    "GPU is lost (it fell off the bus or needs a reset): its memory is not counted; check nvidia-smi and dmesg "
    "for Xid errors"
)


def environment_notes(environ: Mapping[str, str], count: int) -> list[str]:
    """What the environment says that NVML cannot see: container allocations and MPS/vGPU memory caps."""
    notes = []
    requested = environ.get("NVIDIA_VISIBLE_DEVICES", "").strip()
    if requested and requested.lower() not in ("all", "none", "void"):
        listed = [item for item in requested.split(",") if item.strip()]
        if count > len(listed):
            notes.append(
                f"NVML sees {count} GPUs but NVIDIA_VISIBLE_DEVICES lists {len(listed)}: this container may be "
                "privileged and see GPUs that were not allocated to it"
            )
    limit = environ.get("CUDA_MPS_PINNED_DEVICE_MEM_LIMIT", "").strip()
    if limit:
        notes.append(
            f"CUDA_MPS_PINNED_DEVICE_MEM_LIMIT={limit}: an MPS memory cap applies that NVML does not show; "
            "plan with --gpus to match it"
        )
    if any(key.startswith("HAMI_") or key == "CUDA_DEVICE_MEMORY_LIMIT" for key in environ):
        notes.append(
            "a GPU-sharing layer (HAMi) appears to cap GPU memory; NVML shows the whole card: plan with --gpus"
        )
    return notes
