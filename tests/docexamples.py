"""The commands shown in README.md and docs/: find them, run them, and write their real output back.

A ``console`` block holds commands and their output. A line starting ``$ `` is a command (a trailing `` \\``
continues it on the next line); the lines after it, up to the next command, are what it prints (stderr, then
stdout). Its exit code is 0 unless the command ends with the shell comment ``# exit N``. A block preceded by the
line ``<!-- docs: exit-only -->`` shows output that depends on the machine (``probe``, ``doctor``): only its exit
codes are checked, its output is left as written.

``vram-advisor`` lines in ``sh`` and ``dockerfile`` blocks are recipes (``srun ... | vram-advisor cluster -``): they
are run too, with a recorded stand-in for what the launcher would pipe in (and the command a launcher runs on each
node, here), and must exit 0 unless they end with ``# exit N``; with ``--require``, 1 (does not fit here) is an
answer too. ``serve``, ``mcp`` and ``cluster --ray`` recipes start servers or need a Ray cluster; their own tests
(test_serve.py, test_mcp.py, cluster/test_cluster_ray.py) cover them, and here only their options are checked.

Commands run in-process (``vram_advisor.cli.main``) from the repository root at 80 columns, with a fresh HOME and
profile folder, and a fake Hugging Face Hub (tests/hubserver.py) answering at ``HF_ENDPOINT``; the Hub's address
and the temporary folders are written back as the real ones would read.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
EXIT_ONLY = "<!-- docs: exit-only -->"
#: A block run against a real llama-server (``verify``): tests/test_docs_verify.py runs it where the engine is built,
#: with the server's address for ``http://127.0.0.1:8080`` and numbers (speeds, times) compared as numbers; the
#: ``, exit-only`` form checks only the exit codes (the output depends on the machine).
ENGINE = "<!-- docs: engine -->"
ENGINE_EXIT_ONLY = "<!-- docs: engine, exit-only -->"
RECIPE_LANGS = {"sh", "bash", "dockerfile"}
EXIT_COMMENT = re.compile(r"\s+#\s*exit\s+(\d+)\s*$")
#: What a launcher pipes into a recipe's ``vram-advisor ... -``, by the option that reads it.
RECIPE_STDIN = {
    "--from-k8s": "tests/fixtures/cluster/k8s-nodes.json",
    "--from-slurm": "tests/fixtures/cluster/slurm-nodes.json",
    "cluster": "examples/fleet.ndjson",
}
NOT_RUN = ("serve", "mcp", "--ray")
SUBCOMMANDS = ("check", "probe", "models", "cluster", "doctor", "estimate", "serve", "mcp")


def doc_files() -> list[Path]:
    """README.md and every page under docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


@dataclass
class Command:
    """One shown command: where it is, what it says, the exit code and output the page shows."""

    path: Path
    line: int  # 1-based line of the ``$ `` in the file
    text: str  # the command as typed, continuation lines joined, without the exit comment
    exit_code: int
    output: list[str] = field(default_factory=list)
    output_span: tuple[int, int] = (0, 0)  # 0-based [start, end) lines of the output in the file
    check_output: bool = True
    recipe: bool = False
    engine: bool = False  # runs against a real llama-server (ENGINE): tests/test_docs_verify.py
    indent: str = ""
    block: int = 0  # 0-based line of the block's fence: commands of one block run in order, in one test

    @property
    def allowed_exit_codes(self) -> tuple[int, ...]:
        """The shown code; a recipe's ``--require`` answers for the machine it runs on, so 1 is an answer too."""
        if self.recipe and self.exit_code == 0 and "--require" in self.text:
            return (0, 1)
        return (self.exit_code,)

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def _blocks(lines: list[str]) -> Iterator[tuple[str, int, int, str]]:
    """Fenced blocks: (language, first content line, end line, the marker line before it), 0-based, end exclusive."""
    index = 0
    while index < len(lines):
        stripped = lines[index].strip()
        if stripped.startswith("```"):
            fence = stripped[: len(stripped) - len(stripped.lstrip("`"))]
            language = stripped[len(fence) :].strip().lower()
            previous = next((lines[j].strip() for j in range(index - 1, -1, -1) if lines[j].strip()), "")
            end = index + 1
            while end < len(lines) and lines[end].strip() != fence:
                end += 1
            yield language, index + 1, end, previous
            index = end + 1
        else:
            index += 1


def _split_exit(text: str) -> tuple[str, int]:
    match = EXIT_COMMENT.search(text)
    return (text[: match.start()], int(match.group(1))) if match else (text, 0)


def _joined(lines: list[str], start: int) -> tuple[str, int]:
    """The command starting at ``lines[start]`` with `` \\`` continuations joined, and the line after it."""
    parts = [lines[start].strip()]
    end = start + 1
    while parts[-1].endswith("\\") and end < len(lines):
        parts[-1] = parts[-1][:-1].rstrip()
        parts.append(lines[end].strip())
        end += 1
    return " ".join(parts), end


def commands(path: Path) -> list[Command]:
    """Every command shown in ``path``: console ``$`` lines and the vram-advisor lines of recipe blocks."""
    lines = path.read_text(encoding="utf-8").split("\n")
    found: list[Command] = []
    for language, start, end, marker in _blocks(lines):
        exit_only = marker in (EXIT_ONLY, ENGINE_EXIT_ONLY)
        engine = marker in (ENGINE, ENGINE_EXIT_ONLY)
        if language == "console":
            index = start
            while index < end:
                if not lines[index].lstrip().startswith("$ "):
                    index += 1
                    continue
                text, after = _joined(lines, index)
                text, code = _split_exit(text.lstrip()[2:])
                out_end = after
                while out_end < end and not lines[out_end].lstrip().startswith("$ "):
                    out_end += 1
                indent = lines[index][: len(lines[index]) - len(lines[index].lstrip())]
                output = [
                    line[len(indent) :] if line.startswith(indent) else line.strip() for line in lines[after:out_end]
                ]
                if invocations(text):
                    found.append(
                        Command(
                            path,
                            index + 1,
                            text,
                            code,
                            output,
                            (after, out_end),
                            not exit_only,
                            engine=engine,
                            indent=indent,
                            block=start - 1,
                        )
                    )
                index = out_end
        elif language in RECIPE_LANGS:
            index = start
            while index < end:
                text, after = _joined(lines, index)
                text, code = _split_exit(text)
                if invocations(text):
                    found.append(Command(path, index + 1, text, code, check_output=False, recipe=True, block=start - 1))
                index = after
    return found


@dataclass
class Ran:
    exit_code: int
    output: list[str]


@dataclass
class Invocation:
    """One ``vram-advisor`` inside a shown line: its environment, arguments, stdin and the filters after it."""

    env: dict[str, str]
    argv: list[str]
    stdin: str | None  # "@path" for a file, else the text itself
    filters: list[list[str]]
    piped: bool  # something (a launcher) pipes into it


SEPARATORS = {"|", "||", "&&", ";", "&"}
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def _tokens(text: str) -> list[str]:
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return list(lexer)


def _is_program(token: str) -> bool:
    """``vram-advisor``, an installed one by its path, or the zipapp."""
    return token == "vram-advisor" or token.endswith("/bin/vram-advisor") or token.endswith("vram-advisor.pyz")


def invocations(text: str) -> list[Invocation]:
    """Every ``vram-advisor`` run by a shell line: the command of a stage, or one a launcher (srun, pdsh) runs."""
    stages: list[tuple[str, list[str]]] = [("", [])]
    for token in _tokens(text):
        if token in SEPARATORS:
            stages.append((token, []))
        else:
            stages[-1][1].append(token)
    found: list[Invocation] = []
    for position, (separator, stage) in enumerate(stages):
        for at, token in enumerate(stage):
            if not _is_program(token):
                continue
            head = stage[:at]
            if token.endswith(".pyz") and head[-1:] in (["python3"], ["python"]):
                head = head[:-1]
            direct = all(ASSIGNMENT.match(word) for word in head)
            argv = stage[at + 1 :]
            if not direct and argv[:1] not in ([name] for name in SUBCOMMANDS):
                continue  # a package name (pip install ... vram-advisor), not a command
            stdin: str | None = None
            for redirect in ("<", ">"):
                if redirect in argv:
                    target = argv[argv.index(redirect) + 1]
                    if redirect == "<":
                        stdin = "@" + target
                    argv = argv[: argv.index(redirect)]
            piped = direct and separator == "|"
            if piped:
                feeder = stages[position - 1][1]
                if feeder[:1] == ["cat"]:
                    stdin, piped = "@" + feeder[1], False
                elif feeder[:1] == ["printf"]:
                    stdin, piped = feeder[1].encode().decode("unicode_escape"), False
            filters: list[list[str]] = []
            for later_separator, later in stages[position + 1 :]:
                if not direct or later_separator != "|" or later[:1] not in (["head"], ["tail"], ["grep"]):
                    break
                filters.append(later)
            env = dict(word.split("=", 1) for word in head) if direct else {}
            found.append(Invocation(env, argv, stdin, filters, piped))
    return found


def _filter(lines: list[str], stage: list[str]) -> list[str]:
    """The few filters shown after a command: head -n N, tail -n N, grep [-E] [-A N] PATTERN (as grep prints)."""
    name, args = stage[0], stage[1:]
    if name in ("head", "tail"):
        count = int(args[args.index("-n") + 1]) if "-n" in args else 10
        return lines[:count] if name == "head" else lines[-count:]
    after = int(args[args.index("-A") + 1]) if "-A" in args else 0
    pattern = next(arg for position, arg in enumerate(args) if not arg.startswith("-") and args[position - 1] != "-A")
    kept: list[str] = []
    last = -1  # the last line printed
    for index, line in enumerate(lines):
        if re.search(pattern, line):
            if after and kept and index > last + 1:
                kept.append("--")
            end = min(len(lines), index + after + 1)
            kept.extend(lines[max(index, last + 1) : end])
            last = max(last, end - 1)
    return kept


class Runner:
    """Runs shown commands in one prepared environment (a fake Hub, a fresh HOME); use as a context manager."""

    def __enter__(self) -> Runner:
        sys.path.insert(0, str(ROOT / "tests"))
        from hubserver import FakeHub, recorded_repos  # the tests' fake Hub

        self._tmp = tempfile.TemporaryDirectory(prefix="vram-docs-")
        self.home = Path(self._tmp.name) / "home"
        (self.home / ".config" / "vram-advisor" / "profiles").mkdir(parents=True)
        self.hub = FakeHub(recorded_repos()).__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.hub.__exit__(*exc)
        self._tmp.cleanup()

    def environment(self, extra: dict[str, str]) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")}
        env = {
            **keep,
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "HF_HOME": str(self.home / ".cache" / "huggingface"),
            "HF_ENDPOINT": self.hub.url,
            "VRAM_ADVISOR_HUB_TIMEOUT": "5",
            "COLUMNS": "80",
            "TERM": "dumb",
        }
        env.update(extra)
        return env

    def normalise(self, text: str) -> str:
        text = text.replace(self.hub.url, "https://huggingface.co")
        return text.replace(str(self.home), "~")

    def run(self, command: Command) -> list[Ran]:
        """Run each vram-advisor of the command's line; the results in order."""
        return [self.invoke(invocation, recipe=command.recipe) for invocation in invocations(command.text)]

    def invoke(self, invocation: Invocation, *, recipe: bool = False) -> Ran:
        from vram_advisor.cli import main

        argv, stdin = list(invocation.argv), invocation.stdin
        if stdin is None and (invocation.piped or recipe) and "-" in argv:
            stdin = "@" + next((RECIPE_STDIN[key] for key in RECIPE_STDIN if key in argv), RECIPE_STDIN["cluster"])
        if stdin is not None and stdin.startswith("@"):
            stdin = (ROOT / stdin[1:]).read_text(encoding="utf-8")
        if recipe and any(word in argv for word in NOT_RUN):
            argv = [*argv, "--help"]  # the options only: no server or Ray cluster is started here
        out, err = io.StringIO(), io.StringIO()
        cwd = os.getcwd()
        try:
            os.chdir(ROOT)
            with (
                mock.patch.dict(os.environ, self.environment(invocation.env), clear=True),
                mock.patch.object(sys, "stdin", io.StringIO(stdin or "")),
                contextlib.redirect_stdout(out),
                contextlib.redirect_stderr(err),
            ):
                code = main(argv)
        finally:
            os.chdir(cwd)
        text = self.normalise(err.getvalue() + out.getvalue()).rstrip("\n")
        lines = [line.rstrip() for line in text.split("\n")] if text else []
        for stage in invocation.filters:
            lines = _filter(lines, stage)
        return Ran(code, lines)


def regenerate(paths: list[Path] | None = None) -> list[str]:
    """Write every checked command's real output under it; returns the places that changed."""
    changed: list[str] = []
    with Runner() as runner:
        for path in paths or doc_files():
            lines = path.read_text(encoding="utf-8").split("\n")
            shown = [c for c in commands(path) if c.check_output and not c.engine]
            outputs = [runner.run(command)[-1].output for command in shown]  # in order: a block may build on one
            for command, output in reversed(list(zip(shown, outputs, strict=True))):  # from the end: spans hold
                new = [command.indent + line if line else "" for line in output]
                start, end = command.output_span
                if lines[start:end] != new:
                    lines[start:end] = new
                    changed.append(command.where)
            path.write_text("\n".join(lines), encoding="utf-8")
    return changed
