"""``vram-advisor serve``: the read-only HTTP agent (``/inventory``, ``/check``, ``/metrics``) on 127.0.0.1."""

from __future__ import annotations

import math
from typing import Annotated, NoReturn

import typer

from vram_advisor.cli.app import ModelDirOpt, app
from vram_advisor.core.errors import UsageError, VramAdvisorError
from vram_advisor.core.jsonread import clean_text
from vram_advisor.core.numbers import clip_values, shown
from vram_advisor.render import warn


class ServeError(VramAdvisorError):
    """The agent cannot start (the address is taken, not ours, or malformed)."""


class _Stop(Exception):
    """SIGTERM arrived: shut down as on Ctrl-C."""


def _check_seconds(option: str, value: float, allow_zero: bool) -> None:
    """A time option must be a finite number of seconds (typer lets nan and inf through its bounds)."""
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise UsageError(f"{option} {value}: expected a finite number of seconds {bound}")


def _on_sigterm(signum: int, frame: object) -> NoReturn:
    raise _Stop


@app.command()
def serve(
    host: Annotated[
        str,
        typer.Option(
            "--host",
            metavar="ADDRESS",
            help="Address to listen on. 127.0.0.1 (default) is this machine only; 0.0.0.0 is every interface "
            "(0 is read as 0.0.0.0, as the C library does).",
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, metavar="P", help="TCP port to listen on (0: any free port).")
    ] = 9835,
    cache_seconds: Annotated[
        float,
        typer.Option("--cache-seconds", min=0.0, metavar="N", help="Reuse a probe for this long (scrapes stay cheap)."),
    ] = 15.0,
    probe_timeout: Annotated[
        float,
        typer.Option(
            "--probe-timeout",
            min=0.001,
            metavar="S",
            help="Wait at most this long for a probe; then answer with the last good inventory, or 503.",
        ),
    ] = 5.0,
    inventory_path: Annotated[
        str | None,
        typer.Option(
            "--inventory",
            metavar="PATH",
            help="Serve a saved inventory (probe --json) instead of probing; re-read when the cache expires; "
            "- reads stdin once.",
        ),
    ] = None,
    model_dir: ModelDirOpt = None,
    access_log: Annotated[
        bool, typer.Option("--access-log", help="Log each request on stderr (what clients sent is escaped).")
    ] = False,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host",
            metavar="NAME",
            help="Also answer requests whose Host header is NAME (repeatable; * for any). By default only "
            "localhost and IP addresses are answered, against DNS rebinding.",
        ),
    ] = None,
    max_requests: Annotated[
        int,
        typer.Option(
            "--max-requests",
            "--max-connections",
            min=1,
            max=10000,
            metavar="N",
            help="Answer at most N requests at once; more are answered 503. Idle and slow connections do not count "
            "(--max-connections is the old name).",
        ),
    ] = 128,
    read_timeout: Annotated[
        float,
        typer.Option(
            "--read-timeout",
            min=0.001,
            metavar="S",
            help="A request line and its headers must arrive within S seconds (of the connection opening or of the "
            "previous answer), and an idle kept-alive connection is closed after S seconds.",
        ),
    ] = 10.0,
) -> None:
    """Serve /inventory, /check and /metrics (Prometheus) over HTTP, read-only, on 127.0.0.1 unless told otherwise."""
    import signal
    import threading

    from vram_advisor.core.extras import import_extra

    _check_seconds("--cache-seconds", cache_seconds, allow_zero=True)
    _check_seconds("--probe-timeout", probe_timeout, allow_zero=False)
    _check_seconds("--read-timeout", read_timeout, allow_zero=False)
    for module in ("uvicorn", "starlette"):
        import_extra(module, "serve", "vram-advisor serve")

    from vram_advisor.agent import http as agent_http
    from vram_advisor.agent.inventory_source import inventory_source

    probe = inventory_source(inventory_path, model_dir)

    source = agent_http.CachedProbe(probe, cache_seconds=cache_seconds, timeout_seconds=probe_timeout)
    agent = agent_http.Agent(source, model_dir=model_dir)
    agent_http.raise_open_file_limit()
    try:
        server = agent_http.make_server(
            agent,
            host=host,
            port=port,
            access_log=access_log,
            allowed_hosts=allow_host or (),
            max_requests=max_requests,
            read_timeout=read_timeout,
        )
    except (OSError, ValueError, OverflowError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ServeError(f"--host {shown(host)} --port {port}: cannot listen there ({clip_values(reason)})") from None
    agent_http.route_library_logs(server.log)
    bound = agent_http.normalise_host(host)
    if bound != host.strip().strip("[]"):
        warn(f"--host {clean_text(host)} means {bound}")
    exposure = agent_http.exposure_warning(host)
    if exposure:
        warn(f"warning: {exposure}")
    source.prime()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
    warn(
        f"serving {server.url} (GET /inventory, /check, /metrics); probe cached {cache_seconds:g} s, "
        f"timeout {probe_timeout:g} s; at most {max_requests} requests at once; Ctrl-C stops"
    )
    try:
        server.serve_forever()
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        server.server_close()
    warn("stopped")
