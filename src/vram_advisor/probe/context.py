"""What every probe reader is given: where the machine's files are, its environment, the platform and the trace.

``root`` is ``/`` on a real machine; tests pass a folder that holds a fake ``proc/`` and ``sys/`` tree, so every
reader of /proc and /sys goes through ``ProbeContext.path`` and ``ProbeContext.read_text``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import field
from pathlib import Path

from vram_advisor.core.records import Record, dataclass
from vram_advisor.probe.trace import Trace

#: Files under /proc and /sys are small; anything longer than this is not what we are looking for.
MAX_FILE_BYTES = 1024 * 1024


@dataclass(frozen=True, repr=False)
class ProbeContext(Record):
    """The machine as the probe sees it."""

    root: Path = Path("/")
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    platform: str = sys.platform
    trace: Trace = field(default_factory=Trace)
    #: RAM this process may use (host RAM, or the container limit when smaller); set once RAM has been read.
    ram_effective_bytes: int | None = None
    ram_available_bytes: int | None = None
    #: Files already read (mountinfo is wanted by the cgroup and the disk readers): path -> text.
    cache: dict[str, str | None] = field(default_factory=dict, compare=False, repr=False)

    def path(self, absolute: str) -> Path:
        """``absolute`` (``/sys/...``) under the probe's root."""
        return self.root / absolute.lstrip("/")

    def read_text(
        self,
        absolute: str | Path,
        source: str,
        *,
        quiet_missing: bool = False,
        shown_lines: Callable[[str], bool] | None = None,
    ) -> str | None:
        """The content of ``absolute`` under the root (stripped), or None when it cannot be read.

        The read goes into the trace (only the lines ``shown_lines`` keeps, when given); a file read twice is read
        once.
        """
        path = absolute if isinstance(absolute, Path) else self.path(absolute)
        key = str(path)
        if key in self.cache:
            return self.cache[key]
        shown = self.show(path)
        try:
            with path.open("rb") as handle:
                raw = handle.read(MAX_FILE_BYTES)
        except FileNotFoundError as exc:
            if not quiet_missing:
                self.trace.file(source, shown, None, exc)
            self.cache[key] = None
            return None
        except OSError as exc:
            self.trace.file(source, shown, None, exc)
            self.cache[key] = None
            return None
        text = raw.decode("utf-8", "replace").strip()
        if self.trace.enabled:
            kept = text if shown_lines is None else "\n".join(x for x in text.splitlines() if shown_lines(x))
            self.trace.file(source, shown, kept)
        self.cache[key] = text
        return text

    def show(self, path: Path) -> str:
        """``path`` as it would be written on the machine (without the test root)."""
        try:
            relative = str(path.relative_to(self.root))
        except ValueError:
            return str(path)
        return "/" if relative == "." else "/" + relative

    def with_ram(self, effective_bytes: int | None, available_bytes: int | None) -> ProbeContext:
        from dataclasses import replace

        return replace(self, ram_effective_bytes=effective_bytes, ram_available_bytes=available_bytes, cache=self.cache)
