"""The human views answer first and fit the terminal (issue 14 part 3): the verdict on the first line after the
title, one screen by default, no line wider than the console, no table cut (a narrow layout instead), and every
printed command whole (continued with `` \\`` between words, never inside one)."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import gpu, inventory_dict
from vram_advisor.render.layout import command_lines

H100 = ("NVIDIA H100 80GB HBM3", 81559, 480)
WHAT_IFS = [["--gpus", "1xH100", "--ram", "256GB"], ["--gpus", "8xH200", "--ram", "2TB"]]


@pytest.fixture
def node(write_inventory):
    return write_inventory(inventory_dict([gpu(*H100)] * 8, ram_gib=2048))


def printed_commands(lines: list[str]) -> list[str]:
    """The commands under "Run it", continuation lines joined back into one."""
    commands: list[str] = []
    pending = ""
    for line in lines:
        text = line.strip()
        if pending:
            pending += " " + text.removesuffix("\\").strip()
            if not text.endswith("\\"):
                commands.append(pending)
                pending = ""
        elif text.startswith(("llama-server ", "vllm serve ", "hf download ")):
            if text.endswith("\\"):
                pending = text.removesuffix("\\").strip()
            else:
                commands.append(text)
    return commands


@pytest.mark.parametrize("what_if", WHAT_IFS, ids=["1xH100", "8xH200"])
@pytest.mark.parametrize("machine", ["probed", "inventory"])
def test_the_default_view_answers_first_in_one_screen(cli, node, what_if, machine):
    args = ["check", *what_if] + (["--inventory", node] if machine == "inventory" else [])
    result = cli(args, env={"COLUMNS": "80"})
    assert result.code == 0, result.err
    lines = result.out.rstrip("\n").split("\n")
    assert lines[0].startswith("vram-advisor ") and lines[1].startswith("Verdict  ")
    assert len(lines) <= 30, result.out
    assert max(len(line) for line in lines) <= 80
    run = cli([*args, "--json"]).json()["run"]
    recommendation = cli([*args, "--json"]).json()["recommendation"]
    verdict = " ".join(lines[1:3])
    assert recommendation["quant"].upper() in verdict and "tok/s" in verdict
    assert f"run it with {run['command'].split()[0]}" in verdict
    assert run["command"] in printed_commands(lines)
    for hidden in ("Tier", "Advice", "note:", "warning:"):
        assert not any(line.startswith(hidden) for line in lines)


def test_details_shows_everything(cli, node):
    out = cli(["check", "--inventory", node, "--details"], env={"COLUMNS": "80"}).out
    for label in ("GPUs", "VRAM", "Verdict", "Tier", "Advice", "Context", "Need", "Run it"):
        assert any(line.startswith(label) for line in out.split("\n")), label
    assert max(len(line) for line in out.split("\n")) <= 80


def one_word(line: str) -> bool:
    """A command line that holds a single word (a path longer than the terminal: printed whole, never cut)."""
    return len(line.strip().removesuffix("\\").split()) == 1


def test_a_narrow_terminal_gets_the_grid_turned_not_cut(cli, node):
    result = cli(["check", "--inventory", node, "--sizes", "table"], env={"COLUMNS": "60"})
    lines = result.out.rstrip("\n").split("\n")
    assert max(len(line) for line in lines if not one_word(line)) <= 60
    assert any(line.startswith("Quant  V4-Pro") for line in lines)
    assert any(line.startswith("Q4 ") and "512.0 GiB" in line for line in lines)
    assert "…" not in result.out


@pytest.mark.parametrize("columns", ["80", "60"])
def test_the_estimate_placements_switch_to_two_lines_rather_than_being_cut(cli, node, columns):
    args = ["estimate", "deepseek-v4-pro", "--quant", "fp8", "--inventory", node, "--context", "200000"]
    result = cli([*args, "--kv-dtype", "fp8"], env={"COLUMNS": columns})
    assert result.code == 0, result.err
    lines = result.out.split("\n")
    assert max(len(line) for line in lines) <= int(columns)
    assert "…" not in result.out
    assert any(line.startswith("GPUs + RAM") and "fits yes" in line for line in lines)
    run = cli([*args, "--kv-dtype", "fp8", "--json"]).json()["run"]
    assert run["command"] in printed_commands(lines)


def test_a_wide_terminal_keeps_the_placements_table(cli, node):
    out = cli(["estimate", "deepseek-v4-flash", "--quant", "q4", "--inventory", node], env={"COLUMNS": "120"}).out
    assert any(line.startswith("placement") and "bottleneck" in line for line in out.split("\n"))


words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-=./:0123456789", min_size=1, max_size=30)


@given(st.lists(words, min_size=1, max_size=25), st.integers(min_value=20, max_value=120))
def test_command_lines_break_only_between_words(tokens, width):
    command = " ".join(tokens)
    lines = command_lines(command, width, indent=2)
    joined = " ".join(line.removesuffix(" \\").strip() for line in lines)
    assert shlex.split(joined) == tokens  # nothing split inside a word, nothing lost
    for line in lines[:-1]:
        assert line.endswith(" \\")
    for line in lines:
        if 2 + len(line) > width:  # over the width only when one word (or an option and its value) is too long
            assert len(line.removesuffix(" \\").split()) <= 2, lines


def test_an_option_stays_with_its_value():
    command = "llama-server -m models/deepseek-v4-gguf/FILE.gguf -c 32768 -ngl 99 -ot exps=CPU"
    assert command_lines(command, 64, indent=2) == [
        "llama-server -m models/deepseek-v4-gguf/FILE.gguf -c 32768 \\",
        "    -ngl 99 -ot exps=CPU",
    ]
