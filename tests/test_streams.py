"""The standard streams as scripts and unlucky operators leave them: full (/dev/full), closed (``>&-``, ``2>&-``,
``<&-``), a reader gone (``| head``), an encoding that cannot carry the view (``PYTHONIOENCODING=ascii``), and a
COLUMNS nobody could mean. Each is a real ``python -m vram_advisor`` with the redirection made by ``sh``, so what
is tested is what a shell does; the machine is always a fixture inventory, never this one."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path
from typing import Any

import pytest

from conftest import gpu, inventory_dict
from vram_advisor.cli import common

H100 = ("NVIDIA H100 80GB HBM3", 81559, 480)
FULL = Path("/dev/full")
needs_dev_full = pytest.mark.skipif(not FULL.exists(), reason="no /dev/full here")
TIMEOUT = 120  # a safety net against a hung child, not a measurement


@pytest.fixture
def node(write_inventory: Any) -> str:
    """Eight H100s: Flash Q4 fits, Pro FP8 does not."""
    return str(write_inventory(inventory_dict([gpu(*H100)] * 8, ram_gib=512)))


def shell(
    args: list[str], redirections: str = "", env: dict[str, str] | None = None, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """``python -m vram_advisor ARGS REDIRECTIONS`` as sh runs it; stdout and stderr captured where not
    redirected; stdin is ``stdin`` (else /dev/null)."""
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p), **(env or {})}
    environ.pop("VRAM_ADVISOR_DEBUG", None)
    return subprocess.run(
        ["sh", "-c", f'exec "$@" {redirections}', "sh", sys.executable, "-m", "vram_advisor", *args],
        capture_output=True,
        input=stdin if stdin is not None else b"",
        env=environ,
        timeout=TIMEOUT,
        check=False,
    )


def into_a_gone_reader(args: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """``python -m vram_advisor ARGS`` with stdout a pipe whose reader has already closed it (``cmd | head``
    after head left); stderr captured."""
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "vram_advisor", *args],
            input=stdin,
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=environ,
            timeout=TIMEOUT,
            check=False,
        )
    finally:
        os.close(write_end)


def assert_one_error_line(result: subprocess.CompletedProcess[bytes], *fragments: str) -> None:
    err = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vram-advisor: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def commands(node: str) -> list[tuple[list[str], int]]:
    """Commands with the exit code each must end with: success, --require that does not fit, bad input, bad
    usage."""
    return [
        (["check", "--inventory", node], 0),
        (["check", "--json", "--inventory", node, "--require", "deepseek-v4-flash:q4"], 0),
        (["check", "--inventory", node, "--require", "deepseek-v4-pro:fp8"], 1),
        (["check", "--json", "--gpus", "1xRTX4090", "--ram", "64GB", "--require", "deepseek-v4-pro:q4"], 1),
        (["check", "--inventory", node + ".missing"], 2),
        (["check", "--inventory", node, "--require", "deepseek-v4-pro:q9"], 2),
        (["check", "--no-such-option"], 2),
    ]


@pytest.mark.parametrize("stderr", ["2>/dev/full", "2>&-"], ids=["stderr full", "stderr closed"])
def test_a_full_or_closed_stderr_never_changes_an_exit_code(node: str, stderr: str) -> None:
    if "full" in stderr and not FULL.exists():
        pytest.skip("no /dev/full here")
    for args, code in commands(node):
        plain = shell(args)
        assert plain.returncode == code, (args, plain.stderr)
        assert shell(args, f">/dev/null {stderr}").returncode == code, args


@needs_dev_full
@pytest.mark.parametrize(
    "args",
    [
        ["check"],
        ["check", "--json"],
        ["check", "--details"],
        ["models"],
        ["--version"],
        ["--help"],
        ["check", "--help"],
    ],
)
def test_a_full_stdout_is_exit_2_with_one_line_and_nothing_at_exit(node: str, args: list[str]) -> None:
    if args[0] == "check" and "--help" not in args:
        args = [*args, "--inventory", node]
    result = shell(args, ">/dev/full")
    assert_one_error_line(result, "cannot write the output to stdout", "No space left on device")
    assert b"Exception ignored" not in result.stderr and b"Traceback" not in result.stderr


@needs_dev_full
def test_a_full_stdout_and_a_full_stderr_are_still_exit_2(node: str) -> None:
    assert shell(["check", "--inventory", node], ">/dev/full 2>/dev/full").returncode == 2
    assert shell(["check", "--inventory", node], ">/dev/full 2>&-").returncode == 2


@pytest.mark.parametrize("args", [["check"], ["check", "--json"], ["models", "--json"]])
def test_a_closed_stdout_is_exit_2_with_one_line(node: str, args: list[str]) -> None:
    if args[0] == "check":
        args = [*args, "--inventory", node]
    result = shell(args, ">&-")
    assert_one_error_line(result, "cannot write the output to stdout", "closed")
    assert shell(args, ">&- 2>&-").returncode == 2


def test_a_reader_that_went_away_is_a_quiet_exit_0(node: str) -> None:
    """A pipe whose reader is gone before the first write (``| head`` that already ended): EPIPE, exit 0, nothing
    on stderr (click would have said exit 1, which means "does not fit")."""
    for args in (["check", "--inventory", node], ["check", "--json", "--inventory", node], ["models"]):
        result = into_a_gone_reader(args)
        assert result.returncode == 0, result.stderr
        assert result.stderr == b""


def test_head_reads_the_first_line_quietly(node: str) -> None:
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    result = subprocess.run(
        f'"{sys.executable}" -m vram_advisor check --details --inventory "{node}" | head -n 1; '
        'echo "status ${PIPESTATUS:-0}"',
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        env=environ,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.stdout.decode().splitlines()[-1] == "status 0"
    assert result.stderr == b""


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_an_output_encoding_that_cannot_carry_the_view_gets_escapes(node: str, encoding: str) -> None:
    env = {"PYTHONIOENCODING": encoding, "COLUMNS": "100"}
    human = shell(["check", "--details", "--inventory", node], env=env)
    assert human.returncode == 0, human.stderr
    assert human.stderr == b""
    human.stdout.decode(encoding)  # all of it is in the encoding
    if encoding == "ascii":
        assert b"\\u" in human.stdout  # what ascii cannot say is shown as its escape
    assert b"DeepSeek-V4" in human.stdout
    machine = shell(["check", "--json", "--inventory", node], env=env)
    assert machine.returncode == 0, machine.stderr
    assert json.loads(machine.stdout)["schema"] == "vram-advisor/check/v1"
    bad = shell(["check", "--inventory", node + "-\u00e9\u2265.json"], env=env)
    assert_one_error_line(bad, "no such file")


def test_a_closed_stdin_is_exit_2_for_commands_that_read_it_and_ignored_by_the_others(node: str) -> None:
    assert_one_error_line(shell(["check", "--inventory", "-"], "<&-"), "<stdin>", "closed")
    assert_one_error_line(shell(["cluster", "--json", "-"], "<&-"), "<stdin>", "closed")
    fine = shell(["check", "--json", "--inventory", node], "<&-")
    assert fine.returncode == 0, fine.stderr
    assert json.loads(fine.stdout)["schema"] == "vram-advisor/check/v1"


MCP_INIT = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
    }
).encode()


@pytest.mark.parametrize("stdout", [">/dev/full", ">&-"], ids=["stdout full", "stdout closed"])
def test_mcp_with_a_stdout_it_cannot_write_is_exit_2_with_one_line(node: str, stdout: str) -> None:
    pytest.importorskip("mcp.server.mcpserver")
    if "full" in stdout and not FULL.exists():
        pytest.skip("no /dev/full here")
    result = shell(["mcp", "--inventory", node], stdout, stdin=MCP_INIT + b"\n")
    assert_one_error_line(result, "cannot write the output to stdout")
    assert b"Exception ignored" not in result.stderr


def test_mcp_whose_client_went_away_ends_quietly(node: str) -> None:
    pytest.importorskip("mcp.server.mcpserver")
    result = into_a_gone_reader(["mcp", "--inventory", node], stdin=MCP_INIT + b"\n")
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""


def test_bad_input_with_a_stderr_that_raises_is_still_exit_2(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process too (no guarded streams): writing the error line may fail, the exit code may not."""
    from vram_advisor.cli import main

    class Full:
        def write(self, text: str) -> int:
            raise OSError(28, "No space left on device")

        def flush(self) -> None:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(sys, "stderr", Full())
    assert main(["check", "--inventory", "/nonexistent/inventory.json"]) == 2
    assert main(["check", "--no-such-option"]) == 2


# ------------------------------------------------------------------------------------------------- COLUMNS


@pytest.mark.parametrize(
    ("columns", "width"),
    [
        ("80", 80),
        ("99999999", common.MAX_WIDTH),
        ("9" * 5000, common.DEFAULT_WIDTH),
        ("1000", 1000),
        ("1001", common.MAX_WIDTH),
        ("30", common.MIN_WIDTH),
        ("0", common.DEFAULT_WIDTH),
        ("-5", common.DEFAULT_WIDTH),
        ("wide", common.DEFAULT_WIDTH),
        ("\u0661\u0662\u0660", common.DEFAULT_WIDTH),  # digits, but not ASCII ones
        ("", common.DEFAULT_WIDTH),
        (None, common.DEFAULT_WIDTH),
    ],
)
def test_columns_is_clamped_and_nonsense_falls_back(columns: str | None, width: int) -> None:
    assert common.width_of(open(os.devnull, "w"), columns) == width  # noqa: SIM115


def test_a_terminal_wider_than_the_clamp_gets_the_clamp() -> None:
    controller, terminal = pty.openpty()
    try:
        fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 30000, 0, 0))
        with open(terminal, "w", closefd=False) as stream:
            assert stream.isatty()
            assert common.width_of(stream, None) == common.MAX_WIDTH
            fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 120, 0, 0))
            assert common.width_of(stream, None) == 120
            assert common.width_of(stream, "90") == 90
    finally:
        os.close(controller)
        os.close(terminal)


@pytest.mark.parametrize(
    "args", [["models"], ["check", "--details"], ["estimate", "deepseek-v4-flash", "--quant", "q4"], ["cluster"]]
)
def test_a_huge_columns_ends_with_lines_within_the_clamp(cli: Any, node: str, args: list[str]) -> None:
    """COLUMNS=99999999 made ``models`` take 48 s and 24 GB (rich laid its tables out that wide)."""
    if args[0] in ("check", "estimate"):
        args = [*args, "--inventory", node]
    elif args[0] == "cluster":
        args = [*args, node]
    result = cli(args, env={"COLUMNS": "99999999"})
    assert result.code == 0, result.err
    assert max(len(line) for line in result.out.splitlines()) <= common.MAX_WIDTH


@pytest.mark.parametrize("variable", ["COLUMNS", "LINES"])
def test_5000_digits_in_columns_or_lines_are_not_read_by_rich(cli: Any, node: str, variable: str) -> None:
    """rich's ``Console.size`` calls ``int()`` on any digits in COLUMNS and LINES unless it is given both a width and
    a height; 5000 digits made that an internal error (exit 3)."""
    result = cli(["check", "--details", "--inventory", node], env={variable: "9" * 5000})
    assert result.code == 0, result.err
    assert max(len(line) for line in result.out.splitlines()) <= common.DEFAULT_WIDTH + 5


@pytest.mark.parametrize(("lines", "height"), [("40", 40), ("9" * 5000, 25), ("0", 25), ("x", 25), (None, 25)])
def test_lines_is_read_once_here(lines: str | None, height: int) -> None:
    assert common.height_of(lines) == height
