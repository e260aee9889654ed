"""README.md and docs/ as a newcomer meets them: a short README whose two commands CI runs, a site whose every page
is in its navigation, and every shown ``vram-advisor`` command run with the exit code and the output it shows
(tools/regen_docs.py rewrites the outputs; tests/docexamples.py says how the commands run)."""

from __future__ import annotations

import re
from itertools import groupby

import pytest

from docexamples import ROOT, Command, Runner, commands, doc_files, invocations

SHOWN = [
    command for path in doc_files() for command in commands(path) if not command.engine
]  # engine: test_docs_verify
BLOCKS = [list(group) for _, group in groupby(SHOWN, key=lambda command: (command.path, command.block))]


@pytest.fixture(scope="module")
def runner():  # type: ignore[no-untyped-def]
    with Runner() as prepared:
        yield prepared


def test_readme_is_short_and_starts_with_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme) <= 12_000
    section = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    setup, tests = re.findall(r"```sh\n(.+?)\n```", section)
    assert setup == "python3 -m venv .venv && . .venv/bin/activate && pip install . && vram-advisor check"
    assert 'pip install ".[test]"' in tests and "pytest" in tests and " -e " not in tests
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert f"\n{setup}\n" in ci and f"\n{tests}\n" in ci  # CI runs exactly the README's lines


def test_every_page_is_in_the_site() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = {path.relative_to(ROOT / "docs").as_posix() for path in (ROOT / "docs").rglob("*.md")}
    assert pages <= set(re.findall(r"([\w/.-]+\.md)", nav))


def test_prompted_commands_are_in_console_blocks() -> None:
    """A ``$ vram-advisor`` line outside a console block would be shown without being run."""
    every = [command for path in doc_files() for command in commands(path)]  # engine ones: test_docs_verify.py
    shown = {(command.path, command.line) for command in every}
    for path in doc_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
            if re.match(r"\s*\$ .*vram-advisor", line) and invocations(line.strip()[2:]):
                assert (path, number) in shown, f"{path.relative_to(ROOT)}:{number}: {line.strip()}"


def test_the_docs_show_commands_and_recipes() -> None:
    checked = [command for command in SHOWN if command.check_output]
    assert len(checked) >= 20 and any(command.recipe for command in SHOWN)
    assert any(command.path.name == "README.md" for command in checked)
    assert {command.exit_code for command in checked} >= {0, 1, 2}


@pytest.mark.parametrize("block", BLOCKS, ids=[f"{block[0].where}" for block in BLOCKS])
def test_shown_commands(runner: Runner, block: list[Command]) -> None:
    for command in block:  # in order: a block may import a profile, then use it
        results = runner.run(command)
        assert len(results) == len(invocations(command.text)) >= 1
        codes = [ran.exit_code for ran in results]
        assert codes[-1] in command.allowed_exit_codes, (
            f"{command.where}: {command.text!r} exits {codes[-1]}, the page shows {command.exit_code}: "
            f"{results[-1].output}"
        )
        assert all(code == 0 for code in codes[:-1]), f"{command.where}: {codes}"
        if command.check_output:
            assert results[-1].output == command.output, (
                f"{command.where}: the output shown for {command.text!r} drifted; run python tools/regen_docs.py"
            )
