"""Layout that fits the terminal: a table that switches to a narrow form rather than being cut, and shell commands
broken only between words, with `` \\`` continuations, so that a printed command can be copied whole."""

from __future__ import annotations

import re
from collections.abc import Callable

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.text import Text


class Fitted:
    """``wide`` where its natural width fits the width it is printed at, else ``narrow()`` (built only then)."""

    def __init__(self, wide: RenderableType, narrow: Callable[[], RenderableType]) -> None:
        self.wide = wide
        self.narrow = narrow

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        needed = Measurement.get(console, options.update(width=10_000), self.wide).maximum
        yield self.wide if needed <= options.max_width else self.narrow()


_SHELL_WORD = re.compile(r"""(?:'[^']*'|"(?:\\.|[^"\\])*"|\\.|[^\s'"\\])+""")
"""One shell word: runs of quoted strings, escapes and plain characters, so ``'/mnt/my models/x.gguf'`` stays one
word (a line break inside single quotes would become part of the path)."""


def _words(command: str) -> list[str]:
    """The command's shell words, an option kept with its value (``-ot exps=CPU``, ``--tensor-parallel-size 8``)."""
    tokens = _SHELL_WORD.findall(command)
    words: list[str] = []
    for token in tokens:
        if words and words[-1].startswith("-") and words[-1] == words[-1].split()[0] and not token.startswith("-"):
            words[-1] += " " + token
        else:
            words.append(token)
    return words


def command_lines(command: str, width: int, indent: int = 0) -> list[str]:
    """``command`` on one line when it fits ``width`` after ``indent``, else on several, each but the last ending
    in `` \\`` and the next indented four more columns. Lines break only between words (an option stays with its
    value when it can); a single word longer than the line is kept whole rather than split."""
    if indent + len(command) <= width:
        return [command]
    lines: list[str] = []
    current = ""
    words: list[str] = []
    for word in _words(command):
        option, _, value = word.partition(" ") if word.startswith("-") else (word, "", "")
        too_long = indent + 4 + len(word) + 2 > width
        words.extend([option, value] if value and too_long else [word])  # a long path goes on a line of its own
    for word in words:
        room = width - indent - (4 if lines else 0) - 2  # 2 for " \"
        candidate = f"{current} {word}" if current else word
        if current and len(candidate) > room:
            lines.append(current)
            current = word
        else:
            current = candidate
    lines.append(current)
    return [
        ("    " if position else "") + line + (" \\" if position < len(lines) - 1 else "")
        for position, line in enumerate(lines)
    ]


class CommandBlock:
    """A shell command printed whole at the console's width (see ``command_lines``), never wrapped by rich."""

    def __init__(self, command: str, indent: int = 2, style: str = "cyan") -> None:
        self.command = command
        self.indent = indent
        self.style = style

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in command_lines(self.command, options.max_width, self.indent):
            text = Text(" " * self.indent + line, style=self.style, no_wrap=True, overflow="ignore")
            yield text

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        lines = command_lines(self.command, options.max_width, self.indent)
        longest = max(len(line) for line in lines) + self.indent
        return Measurement(min(longest, options.max_width), longest)


class CommentBlock:
    """Words printed under a run block as shell comments (``# ...``), wrapped at the console's width, so that a
    block pasted whole, these lines with it, still runs."""

    def __init__(self, text: str, indent: int = 2, style: str = "yellow") -> None:
        self.text = text
        self.indent = indent
        self.style = style

    def lines(self, width: int) -> list[str]:
        import textwrap

        room = max(20, width - self.indent - 2)
        return ["# " + line for line in textwrap.wrap(self.text, room, break_on_hyphens=False)]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.lines(options.max_width):
            yield Text(" " * self.indent + line, style=self.style, no_wrap=True, overflow="ignore")

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        longest = max((len(line) for line in self.lines(options.max_width)), default=0) + self.indent
        return Measurement(min(longest, options.max_width), longest)
