"""The decode-speed table of docs/speeds.md: every measured run in tests/fixtures/measured_speeds.json (read from
public issues, each with its source) beside the estimate ``vram-advisor`` prints for the same machine, option and
placement.

    python bench/speeds_table.py            # print the table (Markdown)
    python bench/speeds_table.py --write    # regenerate docs/speeds.md

Two estimates per run: with the RAM bandwidth the source states (``--ram-bw``), and with the one ``vram-advisor``
assumes for the machine's class when none is given. "held out" marks the runs that were not used to choose the
constants in plan/estimate/speed.py. The test tests/test_speeds.py fails when any run leaves the 2x band.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
if (SRC / "vram_advisor").is_dir() and not os.environ.get("BENCH_INSTALLED"):
    sys.path.insert(0, str(SRC))
sys.path.insert(0, str(ROOT / "tests"))  # tests/calibration.py: the measured runs and their estimates

from calibration import PointEstimate, estimate_point, load_points  # noqa: E402
from vram_advisor.plan.estimate.speed import format_rate, model_words  # noqa: E402

POINTS = ROOT / "tests" / "fixtures" / "measured_speeds.json"
DOC = ROOT / "docs" / "speeds.md"

INTRO = """# Decode speeds: estimate vs measured

`vram-advisor` prints single-stream decode speed as a range ("≈ 26 tok/s (17-39)"), never one figure. The estimate
is bandwidth arithmetic beside a per-token latency floor per layer and engine (multi-GPU splits add latency); see
`src/vram_advisor/plan/estimate/speed.py`. Where `--ram-bw` is not given, system RAM bandwidth is assumed from the
machine's class (its RAM size), and every view says which was assumed.

Every run below is a public measurement, read from the issue named in its source column (the points with their
sources are in `tests/fixtures/measured_speeds.json`). `tests/test_speeds.py` fails if any estimate leaves the 2x
band around its measurement. Rows marked *held out* were not used to choose the constants.

Regenerate this file with `python bench/speeds_table.py --write`.
"""


def _ratio(item: PointEstimate) -> str:
    ratio = item.ratio
    return "-" if ratio is None else f"{ratio:.2f}x"


def _estimate(item: PointEstimate) -> str:
    return item.speed.text() if item.speed is not None else "no estimate"


def table() -> str:
    tolerance, points = load_points(POINTS)
    lines = [
        "| # | machine | model, file | engine, placement | measured | estimate (stated RAM bw) | ratio | "
        "estimate (assumed RAM bw) | ratio | fit or held out | source |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for point in points:
        stated = estimate_point(point)
        assumed = estimate_point(point, use_ram_bw=False)
        lines.append(
            f"| {point.row} | {point.machine} | {point.model}, {point.file} | {point.engine}, {point.placement} | "
            f"{point.measured_text} | {_estimate(stated)} | {_ratio(stated)} | {_estimate(assumed)} "
            f"({assumed.ram_bw_used}) | {_ratio(assumed)} | {'held out' if point.held_out else 'fit'} | "
            f"{point.source} |"
        )
    lines.append("")
    lines.append(f"Tolerance: each estimate within {format_rate(tolerance)}x of its measurement, both ways.")
    lines.append("")
    lines.append(f"The model: {model_words()}.")
    return "\n".join(lines)


README = ROOT / "README.md"
README_START = "<!-- speeds:start (bench/speeds_table.py --write) -->"
README_END = "<!-- speeds:end -->"


def readme_table() -> str:
    """The short table the README shows: each measured run beside the estimate (with the stated RAM bandwidth)."""
    _tolerance, points = load_points(POINTS)
    lines = ["| run | measured | estimate | ratio |", "|---|---|---|---|"]
    for point in points:
        stated = estimate_point(point)
        held = " (held out)" if point.held_out else ""
        lines.append(
            f"| {point.model}, {point.engine} {point.placement}{held} | {point.measured_text} | "
            f"{_estimate(stated)} | {_ratio(stated)} |"
        )
    return "\n".join(lines)


def readme_with_table(text: str) -> str:
    """``text`` (the README) with the block between the markers replaced by ``readme_table()``."""
    start, end = text.index(README_START) + len(README_START), text.index(README_END)
    return text[:start] + "\n" + readme_table() + "\n" + text[end:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {DOC.relative_to(ROOT)}")
    args = parser.parse_args()
    text = INTRO + "\n" + table() + "\n"
    if args.write:
        DOC.parent.mkdir(parents=True, exist_ok=True)
        DOC.write_text(text, encoding="utf-8")
        README.write_text(readme_with_table(README.read_text(encoding="utf-8")), encoding="utf-8")
        print(f"wrote {DOC.relative_to(ROOT)} and the table in {README.relative_to(ROOT)}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
