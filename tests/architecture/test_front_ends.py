"""Every ``check`` option exists in every front end that should have it: the CLI's ``check`` command, the HTTP
agent's ``/check`` query and the MCP ``check`` tool are each compared with ``service.CheckRequest`` (the one record
of what ``check`` can be asked), so a new option cannot be forgotten in one of them. Where a front end leaves an
option out on purpose, the reason is written here."""

from __future__ import annotations

import asyncio
import inspect
from dataclasses import fields

import pytest

from vram_advisor.service import CheckRequest

REQUEST_FIELDS = {field.name for field in fields(CheckRequest)}

#: CLI parameter name -> CheckRequest field, where they differ.
CLI_NAMES = {"inventory_path": "inventory_path", "model": "models"}
#: Parameters of the CLI that are not options of the check itself (how to print it).
CLI_ONLY = {"json_output", "quiet", "details"}  # how the answer is shown, not what is asked
#: Fields no front end sets from a user's string: the in-process inventory object.
INTERNAL = {"inventory"}
#: What the agents leave out, and why.
AGENT_EXCLUDED = {
    "inventory_path": "an agent judges the machine it runs on; it reads no file a caller names",
    "model_dir": "fixed when the agent starts (--model-dir), not per request",
    "repo": "an agent answers from this machine alone; it asks no network service for a caller",
    "revision": "as --repo",
    "include": "as --repo",
    "models": "it plans the packaged models; --model names user profiles, which live with the person, not the agent",
}


def test_the_cli_check_command_takes_every_option() -> None:
    from vram_advisor.cli.check import check

    names = {CLI_NAMES.get(name, name) for name in inspect.signature(check).parameters} - CLI_ONLY
    assert names == REQUEST_FIELDS - INTERNAL


def test_the_http_check_query_takes_every_option_but_the_excluded() -> None:
    pytest.importorskip("prometheus_client")
    from vram_advisor.agent.http import check_parameters

    assert set(check_parameters()) == REQUEST_FIELDS - INTERNAL - AGENT_EXCLUDED.keys()


def test_the_mcp_check_tool_takes_every_option_but_the_excluded() -> None:
    pytest.importorskip("mcp")
    from vram_advisor.agent.mcp import build_server

    server = build_server(lambda: None)  # type: ignore[arg-type,return-value]
    tools = {tool.name: tool for tool in asyncio.run(server.list_tools())}
    names = set(tools["check"].input_schema["properties"])
    assert {CLI_NAMES.get(name, name) for name in names} == REQUEST_FIELDS - INTERNAL - AGENT_EXCLUDED.keys()
