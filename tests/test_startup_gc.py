"""Run as the program, ``main`` holds the cyclic garbage collector off while the command's modules load and freezes
what they built (``cli._loaded``): the command itself runs with the collector on, so a long ``serve`` or a large
``cluster`` is collected as usual. Called in-process with ``argv`` (tests, embedding), it leaves the collector alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import gpu, inventory_dict

# what the collector looks like once the command has run, with the command's output on stdout first
PROGRAM = """
import gc, json, sys
import vram_advisor.cli
vram_advisor.cli._leave = lambda code: None  # look at the collector after the command, before the process ends
from vram_advisor.cli import main
code = main()
print(json.dumps({"code": code, "enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}))
"""


def _run_as_program(args: list[str]) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, *args], capture_output=True, text=True, timeout=120, check=False
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_command_run_as_the_program_runs_with_the_collector_on_and_the_modules_frozen(tmp_path: Path) -> None:
    path = tmp_path / "node.json"
    path.write_text(json.dumps(inventory_dict([gpu("NVIDIA GeForce RTX 4090", 24564, 300)], ram_gib=64)))
    state = _run_as_program(["check", "--json", "--inventory", str(path)])
    assert state["code"] == 0
    assert state["enabled"] is True
    assert isinstance(state["frozen"], int) and state["frozen"] > 5000  # the loaded modules' objects


def test_bad_usage_run_as_the_program_still_ends_with_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vram_advisor", "check", "--no-such-option"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_main_called_with_argv_leaves_the_collector_as_it_was(tmp_path: Path) -> None:
    import gc

    from vram_advisor.cli import main

    path = tmp_path / "node.json"
    path.write_text(json.dumps(inventory_dict([gpu("NVIDIA GeForce RTX 4090", 24564, 300)], ram_gib=64)))
    before = gc.get_freeze_count()
    assert gc.isenabled()
    assert main(["check", "--json", "--inventory", str(path)]) == 0
    assert gc.isenabled() and gc.get_freeze_count() == before


def _program(args: list[str], before: str = "") -> subprocess.CompletedProcess[str]:
    script = f"import sys\n{before}\nfrom vram_advisor.cli import main\nsys.exit(main())\n"
    return subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_the_program_ends_at_once_with_its_exit_code_and_all_its_output(tmp_path: Path) -> None:
    path = tmp_path / "node.json"
    path.write_text(json.dumps(inventory_dict([gpu("NVIDIA GeForce RTX 4090", 24564, 300)], ram_gib=64)))
    args = ["check", "--json", "--inventory", str(path)]
    done = _program([*args, "--require", "deepseek-v4-pro:fp8"])
    assert done.returncode == 1 and done.stderr == ""
    assert json.loads(done.stdout)["required"]["fits"] is False  # the whole document, flushed before the end
    # nothing registered to run at exit: the process ends through os._exit (seen by wrapping it), not the usual exit
    spy = "import os\nreal_exit = os._exit\nos._exit = lambda code: (os.write(2, b'HARD'), real_exit(code))"
    quick = _program(args, before=spy)
    assert quick.returncode == 0 and quick.stderr == "HARD"
    slow = _program(args, before=spy + "\nimport atexit\natexit.register(int)")
    assert slow.returncode == 0 and slow.stderr == ""  # something waits for the exit: the usual one


def test_what_is_registered_to_run_at_exit_still_runs(tmp_path: Path) -> None:
    path = tmp_path / "node.json"
    path.write_text(json.dumps(inventory_dict([gpu("NVIDIA GeForce RTX 4090", 24564, 300)], ram_gib=64)))
    done = _program(
        ["check", "--json", "--inventory", str(path)], before="import atexit\natexit.register(print, 'AT-EXIT')"
    )
    assert done.returncode == 0 and done.stdout.rstrip().endswith("AT-EXIT")
