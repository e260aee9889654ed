"""mcp: the MCP server driven by the SDK's own client over stdio (a real subprocess), compared with the CLI."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import gpu, inventory_dict
from vram_advisor.inventory import model as inv
from vram_advisor.inventory import visibility

anyio = pytest.importorskip("anyio")
pytest.importorskip("mcp.client.stdio")
from mcp import ClientSession, StdioServerParameters, stdio_client  # noqa: E402

SRC = Path(__file__).resolve().parents[1] / "src"
CALL_TIMEOUT = 120  # a safety net against a hung server, not a measurement

NODE = inventory_dict(
    [gpu("NVIDIA RTX PRO 6000 Blackwell", 97887, 600, uuid="GPU-1111"), gpu("NVIDIA RTX 4090", 24564, 300)],
    ram_gib=384,
    hostname="workstation-3",
)


def server_params(*args: str) -> StdioServerParameters:
    """``python -m vram_advisor mcp ARGS`` with this test's environment (as the in-process CLI sees it)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    return StdioServerParameters(command=sys.executable, args=["-m", "vram_advisor", "mcp", *args], env=env)


def with_session(args: list[str], body: Callable[[ClientSession], Awaitable[Any]]) -> Any:
    """Start ``vram-advisor mcp ARGS``, initialise a client session, run ``body(session)``, return its result."""
    return with_session_init(args, body)[1]


def with_session_init(args: list[str], body: Callable[[ClientSession], Awaitable[Any]]) -> tuple[Any, Any]:
    """As ``with_session``, with the server's initialize result first."""

    async def main() -> tuple[Any, Any]:
        with anyio.fail_after(CALL_TIMEOUT):
            async with stdio_client(server_params(*args)) as (read, write), ClientSession(read, write) as session:
                init = await session.initialize()
                return init, await body(session)

    return anyio.run(main)


def tool_json(result: Any) -> Any:
    """The tool's JSON: its structured content, which must equal the JSON in its text content."""
    assert not result.is_error, result.content
    (text,) = result.content
    assert json.loads(text.text) == result.structured_content
    return result.structured_content


def test_lists_the_three_tools_with_usable_descriptions(write_inventory: Any) -> None:
    async def body(session: ClientSession) -> Any:
        return await session.list_tools()

    init, listing = with_session_init(["--inventory", write_inventory(NODE)], body)
    tools = {tool.name: tool for tool in listing.tools}
    assert set(tools) == {"probe", "check", "estimate"}
    assert init.server_info.name == "vram-advisor"
    assert "check" in (init.instructions or "")
    for tool in tools.values():
        assert tool.description and len(tool.description) > 200
        assert tool.annotations is not None and tool.annotations.read_only_hint is True
    check_inputs = tools["check"].input_schema["properties"]
    assert {"context", "base", "require", "gpus", "ram", "allow_offload"} <= set(check_inputs)
    for name in ("context", "require", "gpus", "ram"):
        assert check_inputs[name].get("description"), name
    assert set(tools["estimate"].input_schema["required"]) == {"model", "quant"}
    assert "recommendation" in tools["check"].description


def test_check_what_if_equals_the_cli(cli: Any, write_inventory: Any) -> None:
    path = write_inventory(NODE)
    calls = [
        {"gpus": "8xH100"},
        {"gpus": "8xH100", "ram": "1TB", "require": "deepseek-v4-flash:q4", "context": "1M"},
        {"base": True, "gpus": "2x96GB"},
        {"require": "deepseek-v4-flash:fp8", "allow_offload": True},
        {"kv_dtype": "fp8", "sizes": "published", "free": True, "context": "1M"},
        {},
    ]

    async def body(session: ClientSession) -> Any:
        return [tool_json(await session.call_tool("check", arguments)) for arguments in calls]

    answers = with_session(["--inventory", path], body)
    for arguments, answer in zip(calls, answers, strict=True):
        args = ["check", "--json", "--inventory", path]
        for key, value in arguments.items():
            option = f"--{key.replace('_', '-')}"
            args += [option] if value is True else [option, str(value)]
        expected = cli(args)
        assert expected.code in (0, 1), expected.err
        assert answer == expected.json(), arguments
    assert answers[0]["recommendation"]["model"] == "deepseek-v4-flash"  # Pro's real files exceed 8 x 80 GB
    assert answers[1]["required"]["fits"] is True


def test_check_on_the_probed_machine_with_a_what_if(cli: Any) -> None:
    """Without --inventory the tool probes this machine, as check does; the GPU and RAM what-ifs replace both."""

    async def body(session: ClientSession) -> Any:
        return tool_json(await session.call_tool("check", {"gpus": "4xH200", "ram": "768GB", "context": "128k"}))

    answer = with_session([], body)
    expected = cli(["check", "--json", "--gpus", "4xH200", "--ram", "768GB", "--context", "128k"]).json()
    for key in (
        "usable_vram_bytes",
        "spare_ram_bytes",
        "recommendation",
        "stretch",
        "tier",
        "options",
        "context_tokens",
    ):
        assert answer[key] == expected[key], key
    assert [g["name"] for g in answer["inventory"]["gpus"]] == [g["name"] for g in expected["inventory"]["gpus"]]


def test_probe_tool_is_the_inventory(write_inventory: Any) -> None:
    path = write_inventory(NODE)

    async def body(session: ClientSession) -> Any:
        return tool_json(await session.call_tool("probe", {}))

    answer = with_session(["--inventory", path], body)
    assert answer == inv.to_dict(visibility.apply(inv.load(path), {}))
    assert answer["hostname"] == "workstation-3"


def test_bad_arguments_are_tool_errors_with_the_cli_message(cli: Any, write_inventory: Any) -> None:
    path = write_inventory(NODE)

    async def body(session: ClientSession) -> Any:
        return [
            await session.call_tool("check", {"gpus": "8xNOPE"}),
            await session.call_tool("check", {"require": "deepseek-v4-pro:q9"}),
            await session.call_tool("check", {"context": "lots"}),
            await session.call_tool("check", {}),  # the server is still there after the errors
        ]

    bad_gpus, bad_quant, bad_context, fine = with_session(["--inventory", path], body)
    for result, args in (
        (bad_gpus, ["--gpus", "8xNOPE"]),
        (bad_quant, ["--require", "deepseek-v4-pro:q9"]),
        (bad_context, ["--context", "lots"]),
    ):
        assert result.is_error
        cli_error = cli(["check", "--json", "--inventory", path, *args])
        assert cli_error.code == 2
        message = cli_error.err.strip().removeprefix("vram-advisor: error: ")
        assert message in result.content[0].text
    assert not fine.is_error


def test_a_5000_digit_gpu_count_is_a_short_tool_error(write_inventory: Any) -> None:
    """The shared --gpus parser (inventory/cards.py) caps digits before int(): a clean tool error that quotes at
    most a few dozen characters of the count, for check and estimate alike (issue 19: it was an internal error)."""
    path = write_inventory(NODE)
    huge = "9" * 5000 + "xH100"

    async def body(session: ClientSession) -> Any:
        return [
            await session.call_tool("check", {"gpus": huge}),
            await session.call_tool("estimate", {"model": "deepseek-v4-flash", "quant": "q4", "gpus": huge}),
            await session.call_tool("check", {"gpus": "4000" + "0" * 3996 + "x96GB"}),
            await session.call_tool("check", {}),  # the server is still there after the errors
        ]

    *refused, fine = with_session(["--inventory", path], body)
    for result in refused:
        assert result.is_error
        text = result.content[0].text
        assert "internal error" not in text, text[:300]
        assert "9" * 60 not in text and "0" * 60 not in text, text[:300]
        assert len(text) < 400, text[:300]
    assert not fine.is_error


def test_estimate_tool_equals_the_cli(cli: Any, write_inventory: Any) -> None:
    path = write_inventory(NODE)
    calls = [
        {"model": "deepseek-v4-flash", "quant": "Q4", "context": "1M", "kv_dtype": "fp8"},
        {"model": "deepseek-v4-pro", "quant": "q2", "gpus": "4xH200", "ram": "1TB"},
        {"model": "deepseek-v4-flash", "quant": "q4", "sizes": "published"},
    ]

    async def body(session: ClientSession) -> Any:
        return [tool_json(await session.call_tool("estimate", arguments)) for arguments in calls]

    answers = with_session(["--inventory", path], body)
    for arguments, answer in zip(calls, answers, strict=True):
        args = ["estimate", arguments["model"], "--quant", arguments["quant"], "--json", "--inventory", path]
        for key in ("context", "kv_dtype", "sizes", "gpus", "ram"):
            if key in arguments:
                args += [f"--{key.replace('_', '-')}", arguments[key]]
        expected = cli(args)
        assert expected.code == 0, expected.err
        assert answer == expected.json(), arguments


def test_mcp_without_the_sdk_is_one_line_exit_2(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "mcp" or m.startswith("mcp.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "mcp", None)
    result = cli(["mcp"])
    assert result.code == 2
    assert result.out == ""
    assert result.err.count("\n") == 1
    assert 'pip install "mcp>=2"' in result.err


def test_mcp_refuses_stdin_inventory_and_bad_files(cli: Any, tmp_path: Path) -> None:
    result = cli(["mcp", "--inventory", "-"])
    assert result.code == 2
    assert "stdin carries the MCP protocol" in result.err
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "vram-advisor/inventory/v1"}')
    result = cli(["mcp", "--inventory", str(bad)])
    assert result.code == 2
    assert "bad.json" in result.err and "ram" in result.err


def test_mcp_with_a_1x_sdk_asks_for_an_upgrade(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # mcp 1.x has no mcp.server.mcpserver (it was FastMCP then): importing it fails as it would there
    for name in [m for m in sys.modules if m.startswith("mcp.server.mcpserver")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "mcp.server.mcpserver", None)
    result = cli(["mcp"])
    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "needs mcp >= 2" in result.err and 'pip install -U "mcp>=2"' in result.err
