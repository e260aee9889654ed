"""The three front ends of ``check`` are generated from one option table (``vram_advisor.options.CHECK_OPTIONS``):
the CLI's ``check`` command, the HTTP agent's ``/check`` query and the MCP ``check`` tool each take exactly the
table's options (the agents those without a ``remote`` reason), with the table's flag, help, description and
choices; ``service.CheckRequest`` has one field per entry and ``service.check_options`` hands each on."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import MISSING, fields

import pytest

from vram_advisor.options import CHECK_OPTIONS, OPTIONS, REMOTE_OPTIONS, ordered
from vram_advisor.plan.check import CheckOptions
from vram_advisor.service import CheckRequest

#: Parameters of the CLI that are not options of the check itself (how to print it).
CLI_ONLY = {"json_output", "prom", "prom_file", "quiet", "details"}
#: ``CheckOptions`` fields that ``check_options`` parses from several options or the environment itself.
PARSED_IN_SERVICE = {"context_tokens", "require", "estimate", "cuda_visible_devices"}


def test_the_request_has_one_field_per_option_with_its_default() -> None:
    defaults = {field.name: field.default for field in fields(CheckRequest) if field.name != "inventory"}
    assert set(defaults) == set(OPTIONS)
    for option in CHECK_OPTIONS:
        expected = {"flag": False, "list": ()}.get(option.kind, option.default)
        assert defaults[option.name] == expected, option.name


def test_every_option_the_plan_takes_as_given_is_a_field_of_check_options() -> None:
    names = {field.name for field in fields(CheckOptions)}
    into = {option.into for option in CHECK_OPTIONS if option.into}
    assert into <= names
    assert names == into | PARSED_IN_SERVICE  # a new CheckOptions field needs its table entry (or a parser here)
    assert all(field.default is not MISSING or field.default_factory is not MISSING for field in fields(CheckOptions))


def test_the_table_is_well_formed() -> None:
    assert len(OPTIONS) == len(CHECK_OPTIONS)
    for option in CHECK_OPTIONS:
        assert option.flag.startswith("--") and option.help.endswith((".", ")")), option.name
        assert option.kind == "text" or option.default is None, option.name
        assert not option.choices or option.default in option.choices, option.name
        assert option.remote is None or option.remote.strip(), option.name
    assert ordered(CHECK_OPTIONS, ("release", "base"))[:2] == (OPTIONS["release"], OPTIONS["base"])


def test_the_cli_check_command_is_generated_from_the_table() -> None:
    import typer.main

    from vram_advisor.cli import register_commands
    from vram_advisor.cli.app import app

    register_commands(["check"])
    command = typer.main.get_command(app).commands["check"]  # type: ignore[attr-defined]
    params = {param.name: param for param in command.params}
    assert set(params) - CLI_ONLY == set(OPTIONS)
    for option in CHECK_OPTIONS:
        param = params[option.name]
        assert param.opts == [option.flag], option.name
        assert param.help == option.help and param.metavar == option.metavar, option.name
        assert param.is_flag == (option.kind == "flag") and param.multiple == (option.kind == "list"), option.name
        assert param.default == (False if option.kind == "flag" else option.default), option.name


def test_the_http_check_query_takes_the_remote_options() -> None:
    pytest.importorskip("prometheus_client")
    from vram_advisor.agent.http_routes import PREFLIGHT_ORDER, check_parameters

    assert set(check_parameters()) == {option.name for option in REMOTE_OPTIONS}
    assert all(is_flag == (OPTIONS[name].kind == "flag") for name, is_flag in check_parameters().items())
    assert set(PREFLIGHT_ORDER) == set(REMOTE_OPTIONS)


def test_the_mcp_check_tool_is_generated_from_the_table() -> None:
    pytest.importorskip("mcp")
    from vram_advisor.agent.mcp import build_server, described

    server = build_server(lambda: None)  # type: ignore[arg-type,return-value]
    tools = {tool.name: tool for tool in asyncio.run(server.list_tools())}
    properties = tools["check"].input_schema["properties"]
    assert set(properties) == {option.name for option in REMOTE_OPTIONS}
    for option in REMOTE_OPTIONS:
        schema = properties[option.name]
        assert schema["description"] == described(option.description or option.help), option.name
        assert "{" not in schema["description"], option.name  # every placeholder filled from the profiles
        assert schema.get("enum", []) == list(option.choices), option.name
        assert schema["default"] == (False if option.kind == "flag" else option.default), option.name
    for name in ("context", "kv_dtype", "sizes", "gpus", "ram", "all_gpus"):  # estimate shares them
        assert tools["estimate"].input_schema["properties"][name] == properties[name]


def test_every_option_the_agents_leave_out_says_why() -> None:
    left_out = {option.name: option.remote for option in CHECK_OPTIONS if option.remote is not None}
    assert set(left_out) == {"inventory_path", "model_dir", "models", "repo", "revision", "include"}


def test_the_check_command_imports_no_agent_code() -> None:
    code = (
        "import sys; from vram_advisor.cli import register_commands; register_commands(['check']); "
        "print(sorted(m for m in sys.modules if m.startswith(('vram_advisor.agent', 'mcp', 'pydantic'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_contributing_shows_a_real_entry_of_the_table() -> None:
    """CONTRIBUTING.md's example of a check option is ``--release``'s entry, exactly as the table has it."""
    from pathlib import Path

    from vram_advisor import options

    text = (Path(__file__).resolve().parents[2] / "CONTRIBUTING.md").read_text()
    start = text.index("```python\n", text.index("**A check option**")) + len("```python\n")
    block = text[start : text.index("```", start)]
    entry = eval(block.strip().rstrip(","), vars(options))  # the example, evaluated where the table is
    assert entry == OPTIONS["release"]
