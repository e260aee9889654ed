"""The small interface every accelerator backend implements (NVIDIA through NVML, AMD, Apple, Intel).

A backend reads one vendor's accelerators and returns an ``AcceleratorReading``: the GPUs it found, a status word
and notes saying how each figure was obtained or why it is missing. A backend never raises for missing hardware;
``read_all`` still guards each one, so that a bug in one backend becomes a note and the others report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from vram_advisor.core.records import Record, dataclass
from vram_advisor.inventory.model import Gpu
from vram_advisor.probe.context import ProbeContext
from vram_advisor.probe.trace import describe_error

#: Status words: ``ok`` (read), ``absent`` (no such hardware or library here), anything else is a failure.
OK = "ok"
ABSENT = "absent"


@dataclass(frozen=True, repr=False)
class AcceleratorReading(Record):
    """What one backend saw."""

    backend: str
    status: str
    gpus: tuple[Gpu, ...] = ()
    notes: tuple[str, ...] = ()
    driver_version: str | None = None
    cuda_driver_version: str | None = None


class Backend(Protocol):
    """One vendor's accelerators."""

    name: str

    def read(self, context: ProbeContext) -> AcceleratorReading:
        """Read this vendor's accelerators; never raises for missing hardware, drivers or permissions."""
        ...


def read_all(backends: Sequence[Backend], context: ProbeContext) -> list[AcceleratorReading]:
    """Every backend's reading; a backend that raises anyway is reported as an error, the others still run."""
    readings = []
    for backend in backends:
        try:
            readings.append(backend.read(context))
        except Exception as exc:  # a bug in one backend must not sink the probe
            context.trace.record(backend.name, "read", error=exc)
            readings.append(
                AcceleratorReading(
                    backend.name,
                    "error",
                    notes=(f"{backend.name}: the probe failed ({describe_error(exc)}); its GPUs are not counted",),
                )
            )
    return readings
