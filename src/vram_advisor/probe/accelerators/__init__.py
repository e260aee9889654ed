"""The accelerator backends beside NVIDIA's (``probe.nvml``): AMD, Intel and Apple, each behind ``Backend``."""

from __future__ import annotations

from vram_advisor.probe.backend import Backend


def default_backends(platform: str) -> tuple[Backend, ...]:
    """The backends for ``platform`` (``sys.platform``), NVIDIA first; each answers ``absent`` quickly on a
    machine without its hardware. Apple's is macOS-only; AMD's and Intel's read Linux sysfs."""
    from vram_advisor.probe.nvml import NvidiaBackend

    if platform == "darwin":
        from vram_advisor.probe.accelerators.apple import AppleBackend

        return (NvidiaBackend(), AppleBackend())
    if platform.startswith("linux"):
        from vram_advisor.probe.accelerators.amd import AmdBackend
        from vram_advisor.probe.accelerators.intel import IntelBackend

        return (NvidiaBackend(), AmdBackend(), IntelBackend())
    return (NvidiaBackend(),)
