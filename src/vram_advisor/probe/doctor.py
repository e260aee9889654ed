"""``vram-advisor doctor``: everything the probe saw, raw, as a report a user can paste into a bug report.

The report holds the environment that bears on the probe, every question the probe asked (each NVML call with its
answer or error, each cgroup, /proc and /sys file, each sysctl) in order, the inventory ``check`` would plan on
and its notes. It is scrubbed by ``core.redact`` before it is returned: it never holds a secret.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vram_advisor import __version__
from vram_advisor.core import redact
from vram_advisor.inventory import model as inv
from vram_advisor.probe.trace import Trace

SCHEMA = "vram-advisor/doctor/v1"
SECTIONS = (
    ("nvml", "NVML (NVIDIA)"),
    ("amd", "AMD"),
    ("intel", "Intel"),
    ("apple", "Apple"),
    ("host", "RAM and CPU"),
    ("cgroup", "cgroups (container limits)"),
    ("disks", "disks and mounts"),
    ("interconnect", "interconnect"),
)


def _package_versions() -> dict[str, str | None]:
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for name in ("nvidia-ml-py", "pynvml", "psutil", "amdsmi", "pyobjc-framework-Metal"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def collect(
    model_dir: str | None,
    environ: Mapping[str, str],
    *,
    all_gpus: bool = False,
    root: Path | None = None,
) -> dict[str, Any]:
    """Probe with the trace on and return the scrubbed report."""
    from vram_advisor.inventory import visibility
    from vram_advisor.probe import collect_inventory

    trace = Trace(enabled=True)
    started = time.perf_counter()
    inventory = collect_inventory(model_dir, root=root, environ=environ, trace=trace)
    seconds = time.perf_counter() - started
    judged = visibility.apply(inventory, environ, ignore=all_gpus)
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "vram_advisor": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": _package_versions(),
        "probe_seconds": round(seconds, 4),
        "environment": redact.relevant_environment(environ),
        "calls": trace.entries,
        "inventory": inv.to_dict(judged),
        "notes": list(inv.all_notes(judged)),
    }
    scrubbed: dict[str, Any] = redact.scrub(report, redact.secret_values(environ))
    return scrubbed


def _answer(entry: dict[str, Any]) -> str:
    if "error" in entry:
        return f"error {entry['error']}"
    result = entry.get("result")
    if result is None:
        return "ok"
    if isinstance(result, str):
        return result if result else '""'
    return json.dumps(result, ensure_ascii=False)


def _indent(text: str, prefix: str) -> str:
    lines = text.splitlines() or [""]
    return "\n".join([lines[0], *(prefix + line for line in lines[1:])])


def render_text(report: dict[str, Any]) -> str:
    """The report as plain text (no colour, no wrapping), sections in a fixed order."""
    out = [
        "vram-advisor doctor: paste this into a bug report (secrets are shown as <redacted>)",
        f"vram-advisor {report['vram_advisor']} · Python {report['python']} · {report['platform']} "
        f"({report['machine']}) · probe took {report['probe_seconds']:.3f} s",
        "packages: "
        + ", ".join(f"{name} {version or '(not installed)'}" for name, version in report["packages"].items()),
        "",
        "[environment]",
    ]
    for name, value in report["environment"].items():
        out.append(f"  {name}=" + ("(not set)" if value is None else value))
    calls = report["calls"]
    known = {source for source, _ in SECTIONS}
    for source, title in (*SECTIONS, *((s, s) for s in dict.fromkeys(e["source"] for e in calls) if s not in known)):
        entries = [entry for entry in calls if entry["source"] == source]
        if not entries:
            continue
        out += ["", f"[{title}]"]
        for entry in entries:
            line = f"  {entry['call']} -> "
            out.append(line + _indent(_answer(entry), "      "))
    out += ["", "[inventory: what check plans on]"]
    out.extend("  " + line for line in json.dumps(report["inventory"], indent=2, ensure_ascii=False).splitlines())
    out += ["", "[notes]"]
    out += [f"  - {note}" for note in report["notes"]] or ["  (none)"]
    return "\n".join(out) + "\n"
