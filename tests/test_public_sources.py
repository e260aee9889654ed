"""Every source the program and its docs cite is one a user can open: a URL, an ``owner/repo#N`` issue or PR, a
repository path, a paper or a vendor page. The project's private research notes (``shared/reference/*.md``, the
``shared/seed/`` copy of the source article) are not shipped, so no file under src/, profiles/ or docs/, no
README.md and no command's output may point at them: no ``shared/`` path, no ``<note>.md §N`` or bare ``§N``
reference, and none of the notes' file names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The five private notes, by file name (matched case-insensitively).
NOTE_NAMES = (
    "deepseek-v4-facts.md",
    "hardware-probing.md",
    "anchor-tools.md",
    "model-codebases.md",
    "measured-speeds.md",
)

#: What a citation of a private note looks like. ``shared/`` counts anywhere it starts a relative path, and always in
#: ``shared/reference`` or ``shared/seed``; an absolute example mount such as ``/shared/wheelhouse`` (docs/clusters.md)
#: is a user's own path, not a citation.
PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a shared/ path", re.compile(r"(?<![\w/.-])shared/|shared/(?:reference|seed)\b")),
    ("a .md § reference", re.compile(r"\.md`?\s*§")),
    ("a bare § reference", re.compile(r"§\s?\d")),
    ("a private note's name", re.compile("|".join(re.escape(name) for name in NOTE_NAMES), re.IGNORECASE)),
)

#: What users get: the package, the profiles, the docs site and the README.
SCANNED = (ROOT / "src", ROOT / "profiles", ROOT / "docs", ROOT / "README.md")
SKIPPED_PARTS = {"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}

#: Commands whose output (stdout and stderr together) is checked: the human and JSON views of check, models and
#: estimate, on what-if machines so the host's hardware does not matter.
COMMANDS = (
    ["check", "--details", "--gpus", "8xH100"],
    ["check", "--details", "--gpus", "1xRTX4090", "--ram", "64GB"],
    ["check", "--json", "--gpus", "2xH100"],
    ["models"],
    ["models", "--json"],
    ["estimate", "deepseek-v4-flash", "--quant", "q4", "--json"],
    ["estimate", "deepseek-v4-pro", "--quant", "fp8"],
)


def hits(text: str) -> list[tuple[int, str, str]]:
    """(line number, what was found, the text around it) for each line of ``text`` that cites a private note.
    JSON's ``\\u00a7`` counts as ``§``."""
    found = []
    for number, line in enumerate(text.replace("\\u00a7", "§").splitlines(), start=1):
        matches = [(what, match) for what, pattern in PATTERNS if (match := pattern.search(line))]
        if matches:
            start = min(match.start() for _, match in matches)
            excerpt = line[max(0, start - 60) : start + 60].strip()
            found.append((number, ", ".join(what for what, _ in matches), excerpt))
    return found


def scanned_files() -> list[Path]:
    files: list[Path] = []
    for top in SCANNED:
        candidates = [top] if top.is_file() else sorted(path for path in top.rglob("*") if path.is_file())
        files.extend(path for path in candidates if not SKIPPED_PARTS.intersection(path.parts))
    return files


def report(where: str, found: list[tuple[int, str, str]]) -> str:
    return "\n".join(f"{where}:{number}: {what}: ...{excerpt}..." for number, what, excerpt in found)


def test_the_patterns_catch_private_citations() -> None:
    cited = [
        "(shared/reference/deepseek-v4-facts.md §1.4)",
        "hardware-probing.md §8 (real NVML readings)",
        "the figure (facts §5)",
        "see §1.7",
        "shared/seed/deepseek-v4-vram-tables.md",
        "`deepseek-v4-facts.md` §1.6",
        "calibrated on Measured-Speeds.md",
        "anchor-tools.md and model-codebases.md",
        '{"note": "deepseek-v4 \\u00a76"}',
    ]
    for text in cited:
        assert hits(text), text
    public = [
        "ggml-org/llama.cpp ggml/src/ggml-common.h",
        "kvcache-ai/ktransformers#2001",
        "tests/fixtures/measured_speeds.json, a measured-speeds file",
        "pip wheel . -w /shared/wheelhouse",
        "https://www.knightli.com/en/2026/05/01/deepseek-v4-local-vram-quantization-table/",
    ]
    for text in public:
        assert not hits(text), text


def test_no_file_users_get_cites_a_private_note() -> None:
    files = scanned_files()
    assert any(path.suffix == ".py" for path in files) and any(path.suffix == ".md" for path in files)
    problems = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # not a text file
        found = hits(text)
        if found:
            problems.append(report(path.relative_to(ROOT).as_posix(), found))
    assert not problems, "private research notes cited (name a public source instead):\n" + "\n".join(problems)


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(args) for args in COMMANDS])
def test_no_command_output_cites_a_private_note(cli, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    result = cli(args)
    assert result.code in (0, 1), (result.code, result.err)
    assert "Traceback" not in result.err
    if "--json" in args:
        json.loads(result.out)  # the document parses: what the JSON check scans is the real output
    where = "vram-advisor " + " ".join(args)
    problems = [report(f"{where} (stdout)", hits(result.out)), report(f"{where} (stderr)", hits(result.err))]
    problems = [problem for problem in problems if problem]
    assert not problems, "private research notes cited in the output:\n" + "\n".join(problems)
