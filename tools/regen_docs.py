"""Rewrite the output shown under every command in README.md and docs/ with what the command really prints.

Run from anywhere: ``python tools/regen_docs.py [FILE.md ...]``. It prints the places that changed. The commands run
as tests/docexamples.py describes (in-process, 80 columns, the saved inventories of examples/, a fake Hub);
tests/test_docs.py fails when an output here and the program disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from docexamples import regenerate  # noqa: E402


def main(argv: list[str]) -> int:
    paths = [Path(arg).resolve() for arg in argv] or None
    for place in regenerate(paths):
        print(f"updated {place}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
