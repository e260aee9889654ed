"""docs/verify.md runs its examples: its ``engine`` blocks, against a real llama-server built from the
``llama-cpp-python`` sdist serving a tiny generated GGUF (as tests/test_verify_engine.py), with the server's own
address for ``http://127.0.0.1:8080``. Speeds and times differ run to run, so the output is compared as one text
with its numbers masked; ``engine, exit-only`` blocks (this machine's own answer) are checked by exit code."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from tests.docexamples import ROOT, Runner, commands, invocations
from tests.test_verify_engine import engine_url  # noqa: F401  (the fixture: a real llama-server)

pytestmark = pytest.mark.engine
PAGE = ROOT / "docs" / "verify.md"
SHOWN_URL = "http://127.0.0.1:8080"
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def _shape(lines: list[str]) -> str:
    """The output as one text, numbers masked: a speed of another width wraps the lines elsewhere."""
    return " ".join(NUMBER.sub("N", " ".join(lines)).split())


@pytest.fixture
def runner() -> Iterator[Runner]:
    with Runner() as prepared:
        yield prepared


def test_the_page_has_engine_examples() -> None:
    shown = [command for command in commands(PAGE) if command.engine]
    assert len(shown) >= 3 and any(command.check_output for command in shown)
    assert any("verify" in command.text for command in shown)


def test_the_verify_page_runs_its_examples(runner: Runner, engine_url: str) -> None:  # noqa: F811
    for command in [c for c in commands(PAGE) if c.engine]:
        for invocation in invocations(command.text):
            invocation.argv = [arg.replace(SHOWN_URL, engine_url) for arg in invocation.argv]
            ran = runner.invoke(invocation)
        assert ran.exit_code in command.allowed_exit_codes, f"{command.where}: {ran.output}"
        if command.check_output:
            output = [line.replace(engine_url, SHOWN_URL) for line in ran.output]
            assert _shape(output) == _shape(command.output), f"{command.where}: drifted: {output}"
