"""Start a real llama.cpp llama-server for end-to-end tests (stdlib only).

The engine comes from tools/build_llama_server.sh DEST_DIR; point the tests at it with
VRAM_ADVISOR_ENGINE_DIR=DEST_DIR. Without it (or with an incomplete DEST_DIR) `find_engine()` returns
None and the tests that need the engine should skip.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ENGINE_DIR_ENV = "VRAM_ADVISOR_ENGINE_DIR"
VOCAB_NAME = "ggml-vocab-llama-spm.gguf"


@dataclass(frozen=True)
class Engine:
    binary: Path  # DEST_DIR/bin/llama-server
    vocab: Path  # DEST_DIR/vocab/ggml-vocab-llama-spm.gguf, for tests/engine/tiny_gguf.py


def find_engine() -> Engine | None:
    """The engine built into $VRAM_ADVISOR_ENGINE_DIR, or None when unset or incomplete."""
    root = os.environ.get(ENGINE_DIR_ENV)
    if not root:
        return None
    binary = Path(root) / "bin" / "llama-server"
    vocab = Path(root) / "vocab" / VOCAB_NAME
    if not (binary.is_file() and os.access(binary, os.X_OK) and vocab.is_file()):
        return None
    return Engine(binary=binary, vocab=vocab)


class ServerStartError(RuntimeError):
    """llama-server exited or never became healthy; the message ends with the tail of its log."""


@functools.cache
def _help_text(binary: str) -> str:
    try:
        done = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout + done.stderr


def _has_flag(binary: Path, flag: str) -> bool:
    return any(flag in line.replace(",", " ").split() for line in _help_text(str(binary)).splitlines())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _health(url: str) -> str | None:
    """The /health status ("ok" when ready), or None while it does not answer or is still loading."""
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as resp:
            body = json.loads(resp.read() or b"{}")
    except (urllib.error.URLError, OSError, ValueError):
        return None
    status = body.get("status") if isinstance(body, dict) else None
    return status if isinstance(status, str) else None


def _tail(log: Path, lines: int = 40) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextlib.contextmanager
def running_llama_server(
    binary: Path,
    model_path: Path,
    *,
    ctx: int = 2048,
    threads: int = 1,
    alias: str | None = None,
    parallel: int = 1,
    extra_args: tuple[str, ...] = (),
    startup_timeout: float = 60.0,
) -> Iterator[str]:
    """Run llama-server on 127.0.0.1 (a free port) and yield its base URL, http://127.0.0.1:PORT.

    Decode and prompt processing both use `threads` threads (-t/-tb); `parallel` server slots (-np; the
    server's own default, -1, means 4 slots sharing one KV cache). Waits up to `startup_timeout` seconds
    for GET /health to answer {"status": "ok"}; raises ServerStartError with the tail of the server's log
    when it exits or does not get there. The server is stopped when the block exits.
    """
    with tempfile.TemporaryDirectory(prefix="llama-server-") as tmp:
        log = Path(tmp) / "server.log"
        for attempt in range(3):  # the free port can be taken between probing it and the server's bind
            port = _free_port()
            url = f"http://127.0.0.1:{port}"
            cmd = [
                str(binary),
                "--model", str(model_path),
                "--host", "127.0.0.1",
                "--port", str(port),
                "--ctx-size", str(ctx),
                "--threads", str(threads),
                "--threads-batch", str(threads),
                "--parallel", str(parallel),
            ]  # fmt: skip
            if alias is not None:
                cmd += ["--alias", alias]
            if _has_flag(binary, "--no-webui"):
                cmd.append("--no-webui")
            cmd += list(extra_args)
            with log.open("wb") as log_file:
                proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + startup_timeout
                while True:
                    if proc.poll() is not None:
                        tail = _tail(log)
                        if attempt < 2 and ("bind" in tail.lower() or "address already in use" in tail.lower()):
                            break  # retry on another port
                        raise ServerStartError(
                            f"llama-server exited with code {proc.returncode} before it was ready\n"
                            f"command: {' '.join(cmd)}\n--- log tail ---\n{tail}"
                        )
                    if _health(url) == "ok":
                        yield url
                        return
                    if time.monotonic() > deadline:
                        raise ServerStartError(
                            f"llama-server did not report /health ok within {startup_timeout:.0f} s\n"
                            f"command: {' '.join(cmd)}\n--- log tail ---\n{_tail(log)}"
                        )
                    time.sleep(0.1)
            finally:
                _stop(proc)
        raise ServerStartError(f"llama-server could not bind a free port\n--- log tail ---\n{_tail(log)}")
