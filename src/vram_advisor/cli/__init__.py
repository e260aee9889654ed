"""The command line: ``main`` runs the typer app and is the one place that turns errors into exit codes.

Exit codes (contract): 0 success (with --require: it fits), 1 the required model does not fit, 2 bad usage or bad
input (one line on stderr, no traceback unless --debug), 3 an internal error (a bug: please report it).
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import sys
from collections.abc import Sequence

from vram_advisor.core.stderr import warn

EXIT_OK = 0
EXIT_DOES_NOT_FIT = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3


#: Each command's name and the module that registers it. Only the module of the command being run is imported, so
#: ``check`` does not pay for ``cluster``'s or ``serve``'s imports; ``--help`` and unknown names import them all.
COMMANDS: dict[str, str] = {
    "check": "check",
    "probe": "probe_cmd",
    "models": "models_cmd",
    "cluster": "cluster_cmd",
    "doctor": "doctor_cmd",
    "estimate": "estimate_cmd",
    "serve": "serve_cmd",
    "mcp": "mcp_cmd",
    "verify": "verify_cmd",
}


def register_commands(args: Sequence[str]) -> None:
    """Import the command module(s) that ``args`` need (their import registers them on the typer app)."""
    name = next((arg for arg in args if not arg.startswith("-")), None)
    modules = [COMMANDS[name]] if name in COMMANDS else list(COMMANDS.values())
    for module in modules:
        importlib.import_module(f"vram_advisor.cli.{module}")


def _loaded() -> None:
    """Run as the program, once the command's modules are imported: freeze what they built and turn the cyclic
    garbage collector back on.

    Importing makes ~18,000 container objects that live as long as the process (classes, functions, the option
    table); a collector that is on scans them again and again while they load, and all of them once more at exit:
    ~15 ms of ``check``'s ~140 ms (``bench/startup.py``). ``gc.freeze`` moves them to a generation that no
    collection scans (https://docs.python.org/3/library/gc.html#gc.freeze), so the collector only ever looks at what
    the command itself makes, and a long ``serve`` or a 100,000-node ``cluster`` is collected as usual.
    """
    gc.freeze()
    gc.enable()


def _print_traceback() -> None:
    import traceback  # only with --debug: it costs ~10 ms of start-up

    traceback.print_exc()


def _one_line(message: str) -> str:
    """A message as one line for the terminal: line breaks joined, and anything from outside that could drive the
    terminal (escapes, control characters, lone surrogates) shown as its escape."""
    from vram_advisor.core.jsonread import clean_text

    return clean_text(" ".join(part.strip() for part in message.splitlines() if part.strip()))


#: The longest usage line from typer or click: its start and its end are kept around a cut beyond that.
USAGE_LINE_CHARS = 300


def _usage_line(message: str) -> str:
    """A usage error's message from typer or click as one line, each value it quotes (``'9999...'`` for ``--port``,
    an unknown option's name) cut to its first ~40 characters and its length: click quotes the value whole. Many
    short values (2,000 unexpected arguments) are cut in the middle."""
    from vram_advisor.core.numbers import clip_values

    line = clip_values(_one_line(message))
    if len(line) <= USAGE_LINE_CHARS:
        return line
    return f"{line[: USAGE_LINE_CHARS - 120]} ... ({len(line):,} characters in all) ... {line[-40:]}"


def _stream_failed() -> int | None:
    """The exit code for a failed stdout or stdin in this run (saying so on stderr), or None when neither failed."""
    from vram_advisor.cli import streams

    failed = streams.failure()
    if failed is None:
        return None
    name, exc = failed
    if name == "stdout" and isinstance(exc, BrokenPipeError):
        return EXIT_OK  # the reader went away (| head): nothing more to say
    reason = exc.strerror or exc.__class__.__name__
    if name == "stdout":
        warn(f"error: cannot write the output to stdout: {reason}")
    else:
        warn(f"error: cannot read stdin (-): {reason}")
    return EXIT_BAD_INPUT


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: sys.argv[1:]) and return the exit code.

    Run as the program (no ``argv``), it first makes the standard streams safe (``streams.guard``): an output that
    cannot carry a character gets its escape, a full or closed stdout is exit 2, and a full or closed stderr changes
    no exit code; and it ends the process as soon as the answer is written (``_leave``).
    """
    code = _run(argv)
    if argv is None:
        _leave(code)
    return code


def _leave(code: int) -> None:
    """Run as the program, with the answer written: end the process now (``os._exit``) where nothing waits for the
    interpreter's own exit (no ``atexit`` function registered, no other thread running), as mypy does
    (python/mypy ``mypy/util.py``, ``hard_exit``): tearing down every module and object costs ~4 ms of ``check``'s
    start-up and does nothing here. Otherwise (the Hub client, ``serve``, a Python without the count) the usual exit
    runs."""
    import atexit

    registered = getattr(atexit, "_ncallbacks", None)
    if registered is None or registered() != 0:
        return
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # the usual exit reports what it must
        return
    os._exit(code)


def _run(argv: Sequence[str] | None) -> int:
    if argv is None:
        from vram_advisor.cli import streams

        streams.guard()
        gc.disable()  # until the modules are loaded: see _loaded
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        args = ["--help"]  # the help on stdout, exit 0, rather than a usage error
    debug = "--debug" in args or bool(os.environ.get("VRAM_ADVISOR_DEBUG"))
    # --debug is read here, so it works anywhere on the line (vram-advisor check ... --debug), not only first
    args = [arg for arg in args if arg != "--debug"]
    from vram_advisor.core.errors import VramAdvisorError

    try:
        register_commands(args)
        from vram_advisor.cli.app import app

        if argv is None:
            _loaded()
        result = app(args=args, prog_name="vram-advisor", standalone_mode=False)
        sys.stdout.flush()  # a full stdout fails here, while it can still be answered
        failed = _stream_failed()  # a failure something on the way swallowed
        if failed is not None:
            return failed
        return result if isinstance(result, int) else EXIT_OK
    except VramAdvisorError as exc:
        if debug:
            _print_traceback()
        warn(f"error: {_one_line(exc.message)}")
        return exc.exit_code
    except KeyboardInterrupt:
        warn("interrupted")
        return 130
    except SystemExit:
        # click ends a command with sys.exit(1) when a write to stdout meets a broken pipe
        failed = _stream_failed()
        if failed is not None:
            return failed
        raise
    except OSError as exc:
        failed = _stream_failed()
        if failed is not None:
            return failed
        if isinstance(exc, BrokenPipeError):
            # the reader went away (| head), with streams that are not guarded (main called in-process)
            with contextlib.suppress(OSError):
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115
            return EXIT_OK
        return _internal_error(exc, debug)
    except Exception as exc:
        # typer reports usage errors (unknown option, missing value) as exceptions that carry their own message
        # and exit code; they are the user's to fix, so they get one line too.
        format_message = getattr(exc, "format_message", None)
        exit_code = getattr(exc, "exit_code", None)
        if callable(format_message) and isinstance(exit_code, int):
            if debug:
                _print_traceback()
            warn(f"error: {_usage_line(str(format_message()))}")
            return EXIT_BAD_INPUT if exit_code == 2 else exit_code
        return _internal_error(exc, debug)


def _internal_error(exc: Exception, debug: bool) -> int:
    if debug:
        raise exc
    warn(
        f"internal error: {exc.__class__.__name__}: {_usage_line(str(exc))} "
        "(run with --debug for a traceback, and please report it)"
    )
    return EXIT_INTERNAL
