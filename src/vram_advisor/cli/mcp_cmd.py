"""``vram-advisor mcp``: the Model Context Protocol server over stdio (needs the extra ``vram-advisor[mcp]``)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from vram_advisor.cli.app import ModelDirOpt, app
from vram_advisor.core.errors import UsageError
from vram_advisor.core.extras import install_line
from vram_advisor.render import warn


@app.command()
def mcp(
    inventory_path: Annotated[
        str | None,
        typer.Option(
            "--inventory",
            metavar="PATH",
            help="Answer for a saved inventory file (probe --json) instead of probing; read at each tool call.",
        ),
    ] = None,
    model_dir: ModelDirOpt = None,
) -> None:
    """Run an MCP server on stdin/stdout for AI assistants: tools probe, check and estimate (read-only)."""
    from vram_advisor.core.extras import MissingExtraError, import_extra

    if inventory_path == "-":
        raise UsageError("--inventory -: stdin carries the MCP protocol here; give the inventory as a file")
    import_extra("mcp", "mcp", "vram-advisor mcp")
    try:
        import mcp.server.mcpserver  # noqa: F401  (the 2.x server API)
    except ImportError:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("mcp")
        except PackageNotFoundError:
            found = "unknown"
        raise MissingExtraError(
            f"vram-advisor mcp needs mcp >= 2 (MCPServer), found mcp {found}; upgrade: {install_line('mcp').replace('pip install', 'pip install -U', 1)}"
        ) from None
    from vram_advisor.agent import mcp as mcp_server
    from vram_advisor.agent.inventory_source import inventory_source

    probe = inventory_source(inventory_path, model_dir)  # a bad file is exit 2 now, not at the first tool call

    if sys.stdin.isatty():
        warn(
            "MCP server on stdin/stdout: it expects an MCP client (see the README, 'Run it as an agent'); Ctrl-D or Ctrl-C stops"
        )
    mcp_server.run(probe, model_dir)
