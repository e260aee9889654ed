"""GPU memory in use now, per GPU, through NVML (``nvmlDeviceGetMemoryInfo``): what ``verify`` reads before and
during a local engine's run, to hold against the estimate's need. None where NVML cannot say (no driver, no GPU,
any error): a reading that cannot be made is no reading, never an error."""

from __future__ import annotations

import contextlib


def used_bytes() -> tuple[int, ...] | None:
    """Each NVIDIA GPU's memory in use, in device order; None where NVML cannot be read."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # no library, no driver, no GPU: nothing to read
        return None
    try:
        count = pynvml.nvmlDeviceGetCount()
        used = []
        for index in range(count):
            info = pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(index))
            used.append(int(info.used))
        return tuple(used) if used else None
    except Exception:
        return None
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()
