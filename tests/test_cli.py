"""The command line as users and scripts meet it: exit codes, one-line errors, streams, the human view."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import vram_advisor
from conftest import gpu, inventory_dict
from vram_advisor.catalog import profiles, userprofiles

H100 = ("NVIDIA H100 80GB HBM3", 81559, 480)


def assert_one_line_error(result, *fragments):
    assert result.code == 2, (result.out, result.err)
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err
    assert result.out == ""
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def h100_file(write_inventory):
    return write_inventory(inventory_dict([gpu(*H100)] * 8, ram_gib=2048))


def test_version(cli):
    result = cli(["--version"])
    assert result.code == 0
    assert result.out.strip() == f"vram-advisor {vram_advisor.__version__}"


def test_no_arguments_shows_help(cli):
    result = cli([])
    assert "check" in result.out + result.err


def test_json_is_the_only_thing_on_stdout(cli, h100_file):
    result = cli(["check", "--inventory", h100_file, "--json"])
    assert result.code == 0
    document = json.loads(result.out)
    assert document["schema"] == "vram-advisor/check/v1"
    assert "\x1b[" not in result.out


@pytest.mark.parametrize("sizes", [["--sizes", "table"], []], ids=["table", "real (default)"])
def test_check_json_shape(cli, h100_file, sizes):
    """The contract's fields, and the article's figures in them, whichever sizes judge the fit."""
    document = cli(["check", *sizes, "--inventory", h100_file, "--json"]).json()
    for key in (
        "schema",
        "inventory",
        "usable_vram_bytes",
        "recommendation",
        "stretch",
        "tier",
        "options",
        "alternatives",
    ):
        assert key in document
    assert "required" not in document
    assert set(document["recommendation"]) >= {"kind", "model", "quant", "fit", "experimental", "reason"}
    assert document["recommendation"]["kind"] in ("local", "offload", "api")
    assert len(document["options"]) == 12
    for option in document["options"]:
        assert set(option) >= {"model", "quant", "weights_gb", "min_vram_gb", "safer_vram_gb", "fit", "experimental"}
        assert option["fit"] in ("comfortable", "minimum", "offload", "none")
        assert option["quant"] == option["quant"].lower()
    flash_q4 = next(o for o in document["options"] if (o["model"], o["quant"]) == ("deepseek-v4-flash", "q4"))
    assert (flash_q4["weights_gb"], flash_q4["min_vram_gb"], flash_q4["safer_vram_gb"]) == (80, 96, 128)
    assert set(document["tier"]) >= {"vram_gb", "realistic", "do_not_expect"}
    assert document["tier"]["vram_gb"] == 512
    assert set(document["alternatives"]) >= {"api", "smaller_models"}
    assert document["inventory"]["schema"] == "vram-advisor/inventory/v1"


def test_contract_example_machine(cli, write_inventory):
    # The contract's example: 679967653888 bytes usable -> V4-Pro Q4 comfortable, stretch V4-Pro Q5 at its minimum.
    data = inventory_dict([{"name": "GPU", "memory_total_bytes": 679967653888}], ram_gib=16)
    document = cli(["check", "--sizes", "table", "--inventory", write_inventory(data), "--json"]).json()
    assert document["usable_vram_bytes"] == 679967653888
    assert {k: document["recommendation"][k] for k in ("kind", "model", "quant", "fit", "experimental")} == {
        "kind": "local",
        "model": "deepseek-v4-pro",
        "quant": "q4",
        "fit": "comfortable",
        "experimental": False,
    }
    assert {k: document["stretch"][k] for k in ("model", "quant", "fit")} == {
        "model": "deepseek-v4-pro",
        "quant": "q5",
        "fit": "minimum",
    }


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["check", "--inventory", "/nonexistent/node.json"], ["/nonexistent/node.json", "no such file"]),
        (["check", "--inventory", "/"], ["is a directory"]),
        (["check", "--gpus", "8xB9000"], ["--gpus", "B9000"]),
        (["check", "--gpus", "0xH100"], ["--gpus", "count"]),
        (["check", "--gpus", "A100"], ["ambiguous"]),
        (["check", "--ram", "lots"], ["--ram", "lots"]),
        (["check", "--ram", "512"], ["--ram", "no unit"]),
        (["check", "--gpus", "2x96"], ["--gpus", "no unit"]),
        (["check", "--gpus", "1x99999999999TB"], ["--gpus", "larger than any machine"]),
        (["check", "--context", "forever"], ["--context", "forever"]),
        (["check", "--require", "deepseek-v4-flash"], ["--require", "MODEL:QUANT"]),
        (["check", "--require", "deepseek-v5:q4"], ["unknown model", "deepseek-v5"]),
        (["check", "--require", "deepseek-v4-flash:q1"], ["no quantization", "q1"]),
        (["check", "--no-such-option"], ["--no-such-option"]),
        (["check", "--inventory"], ["--inventory"]),
        (["frobnicate"], ["frobnicate"]),
    ],
)
def test_bad_usage_is_one_line_exit_2(cli, args, fragments):
    assert_one_line_error(cli(args), *fragments)


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        ("{nope", ["not valid JSON"]),
        ("", ["empty"]),
        ('{"schema": "vram-advisor/inventory/v1"}', ["ram", "required field is missing"]),
        ('{"schema": "x", "ram": {"total_bytes": 1}}', ["schema", "unsupported"]),
        (
            '{"schema": "vram-advisor/inventory/v1", "ram": {"total_bytes": 1}, "gpus": [{"name": "A"}]}',
            ["gpus[0].memory_total_bytes"],
        ),
    ],
)
def test_bad_inventory_is_one_line_exit_2(cli, tmp_path, content, fragments):
    path = tmp_path / "broken.json"
    path.write_text(content)
    assert_one_line_error(cli(["check", "--inventory", str(path)]), str(path), *fragments)
    assert_one_line_error(cli(["check", "--inventory", "-"], stdin=content), "<stdin>", *fragments[:1])


def test_broken_packaged_profile_is_exit_2_naming_file_and_field(cli, tmp_path, monkeypatch):
    good = json.loads((profiles.packaged_dir() / "deepseek-v4.json").read_text())
    good["models"][1]["quants"][3]["min_vram"] = "ninety-six"
    broken = tmp_path / "profiles"
    broken.mkdir()
    (broken / "deepseek-v4.json").write_text(json.dumps(good))
    monkeypatch.setattr(profiles, "packaged_dir", lambda: broken)
    userprofiles.default_catalog.cache_clear()
    try:
        assert_one_line_error(
            cli(["check", "--gpus", "1xH100"]), "profiles/deepseek-v4.json", "models[1].quants[3].min_vram"
        )
    finally:
        userprofiles.default_catalog.cache_clear()


def test_debug_shows_the_traceback(cli):
    result = cli(["--debug", "check", "--ram", "lots"])
    assert result.code == 2
    assert "Traceback" in result.err


def test_human_view_at_fixed_width(cli, h100_file):
    result = cli(["check", "--sizes", "table", "--inventory", h100_file, "--details"])
    assert result.code == 0
    lines = result.out.splitlines()
    assert all(len(line) <= 100 for line in lines)
    text = result.out
    assert "8 × NVIDIA H100 80GB HBM3" in text
    assert "633.4 GiB usable" in text
    assert "Verdict  DeepSeek-V4-Pro Q4 runs from GPU memory" in text
    grid_pro = next(line for line in lines if line.startswith("V4-Pro "))
    assert "► comfortable" in grid_pro and "◐ minimum" in grid_pro
    assert "Stretch       V4-Pro Q5" in text
    assert "Tier          the article's 512GB row (its words, not the verdict): V4-Pro Q4 starts" in text
    assert "\x1b[" not in text  # no colour codes when stdout is not a terminal


def test_human_view_escapes_untrusted_text(cli, write_inventory):
    data = inventory_dict([gpu("[red]evil[/red] GPU", 24564)], ram_gib=16)
    data["hostname"] = "[bold]node"
    result = cli(["check", "--inventory", write_inventory(data)])
    assert result.code == 0
    assert "[red]evil[/red] GPU" in result.out
    assert "[bold]node" in result.out


def test_human_view_api_answer(cli, write_inventory):
    result = cli(["check", "--inventory", write_inventory(inventory_dict([], ram_gib=16))])
    assert result.code == 0
    assert "Use the DeepSeek API" in result.out
    # at the default 32k context only the 7B distill's file and KV fit the 8 GiB of spare RAM (issue 21: the KV
    # counts), so the line names one model
    assert "a smaller local model that fits" in " ".join(result.out.split())


def test_models_lists_the_tables(cli):
    text = cli(["models"]).out
    assert "DeepSeek-V4-Flash" in text and "159.61GB" in text and "1.2TB+" in text
    document = cli(["models", "--json"]).json()
    ids = [m["id"] for m in document["models"]]
    assert ids[:4] == ["deepseek-v4-pro", "deepseek-v4-flash", "deepseek-v4-pro-base", "deepseek-v4-flash-base"]


def test_probe_human_view(cli):
    result = cli(["probe"])
    assert result.code == 0
    assert "RAM" in result.out


def test_python_dash_m_and_console_script():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    result = subprocess.run(
        [sys.executable, "-m", "vram_advisor", "check", "--gpus", "2xH200", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path("/"),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["recommendation"]["model"] == "deepseek-v4-flash"


def test_broken_pipe_is_quiet():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    result = subprocess.run(
        f"{sys.executable} -m vram_advisor models | head -c 10",
        shell=True,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert "Traceback" not in result.stderr


def test_help_lists_every_command(cli):
    from vram_advisor.cli import COMMANDS

    result = cli(["--help"])
    assert result.code == 0
    for name in COMMANDS:
        assert name in result.out


def test_every_command_module_is_registered():
    from vram_advisor.cli import COMMANDS

    modules = {path.stem for path in Path(vram_advisor.__file__).parent.joinpath("cli").glob("*.py")}
    commands = {m for m in modules if m.endswith("_cmd")} | {"check"}
    assert commands == set(COMMANDS.values())


def test_check_does_not_import_other_commands():
    code = (
        "import sys; from vram_advisor.cli import main; main(['check', '--gpus', '1xH100', '--json']); "
        "print(sorted(m for m in sys.modules if m.startswith('vram_advisor.fleet.planner') or m.endswith('_cmd')"
        " or m in ('huggingface_hub', 'ray', 'mcp', 'prometheus_client', 'http.server')))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    loaded = result.stdout.strip().splitlines()[-1]
    assert loaded == "[]", loaded


def test_json_output_survives_unencodable_text(cli, tmp_path):
    path = tmp_path / "odd.json"
    path.write_text(
        '{"schema": "vram-advisor/inventory/v1", "hostname": "node-\\ud800", "ram": {"total_bytes": 1073741824}}'
    )
    result = cli(["check", "--inventory", str(path), "--json"])
    assert result.code == 0, result.err
    assert result.out.isascii()  # so any stdout encoding can carry it
    assert json.loads(result.out)["inventory"]["hostname"] == "node-\ufffd"
    human = cli(["check", "--inventory", str(path)])
    assert human.code == 0, human.err
    assert "node-\ufffd" in human.out


def test_no_arguments_prints_help_and_exits_0(cli):
    result = cli([])
    assert result.code == 0
    assert "Usage" in result.out and "check" in result.out


def test_grid_fits_80_columns(cli, h100_file):
    result = cli(["check", "--sizes", "table", "--inventory", h100_file], env={"COLUMNS": "80"})
    assert result.code == 0
    lines = result.out.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    header = next(line for line in lines if line.startswith("Model "))
    assert header.split() == ["Model", "FP8", "Q6", "Q5", "Q4", "Q3*", "Q2*"]
    grid_pro = next(line for line in lines if line.startswith("V4-Pro "))
    assert "► comfort." in grid_pro


def test_human_view_has_no_trailing_spaces(cli, h100_file):
    result = cli(["check", "--inventory", h100_file])
    assert all(line == line.rstrip() for line in result.out.splitlines())


def test_probe_json_is_one_line_off_a_terminal(cli):
    result = cli(["probe", "--json"])
    assert result.code == 0
    assert result.out.count("\n") == 1
    pretty = cli(["probe", "--json", "--pretty"])
    assert pretty.out.count("\n") > 5
    assert json.loads(pretty.out).keys() == json.loads(result.out).keys()


def test_inventory_with_a_byte_order_mark(cli, tmp_path):
    path = tmp_path / "bom.json"
    path.write_text("\ufeff" + json.dumps(inventory_dict([gpu(*H100)])), encoding="utf-8")
    assert cli(["check", "--inventory", str(path), "--json"]).code == 0
    assert cli(["check", "--inventory", "-", "--json"], stdin=path.read_text(encoding="utf-8")).code == 0


def test_model_dir_is_normalised(cli, write_inventory):
    data = inventory_dict([{"name": "GPU", "memory_total_bytes": 200 * 1024**3}], ram_gib=16)
    data["disks"] = [
        {"path": "/", "total_bytes": 4 * 10**12, "free_bytes": 2 * 10**12},
        {"path": "/models", "total_bytes": 200 * 10**9, "free_bytes": 10 * 10**9},
    ]
    path = write_inventory(data)
    args = ["check", "--inventory", path, "--json", "--require", "deepseek-v4-flash:q4"]
    assert cli([*args, "--model-dir", "/models/hub"]).code == 1
    assert cli([*args, "--model-dir", "/models/../srv/weights"]).code == 0


def test_unknown_required_model_names_the_option(cli):
    result = cli(["check", "--gpus", "1xH100", "--require", "deepseek-v5:q4"])
    assert_one_line_error(result, "--require", "deepseek-v5")


def test_api_reason_mentions_the_experimental_option_that_would_load(cli, write_inventory):
    document = cli(
        [
            "check",
            "--sizes",
            "table",
            "--inventory",
            write_inventory(inventory_dict([gpu("GPU", 50 * 1024)], ram_gib=16)),
            "--json",
        ]
    ).json()
    assert document["recommendation"]["kind"] == "api"
    reason = document["recommendation"]["reason"]
    assert reason.startswith("no non-experimental DeepSeek V4 option fits")
    assert "experimental deepseek-v4-flash q2" in reason


def test_control_characters_from_an_inventory_never_reach_the_terminal(cli, write_inventory):
    data = inventory_dict([gpu("X\x1b]0;title\x07", 24564)], ram_gib=16)
    data["hostname"] = "evil\x1b[31mred"
    path = write_inventory(data)
    human = cli(["check", "--inventory", path])
    assert human.code == 0
    assert "\x1b" not in human.out and "\x07" not in human.out
    assert "evil\\x1b[31mred" in human.out
    csv_text = cli(["cluster", "--csv", path]).out
    assert "\x1b" not in csv_text and "evil\\x1b[31mred" in csv_text


def test_debug_works_after_the_command(cli):
    result = cli(["check", "--ram", "lots", "--debug"])
    assert result.code == 2
    assert "Traceback" in result.err


def test_out_of_reach_shortfall_follows_the_98_percent_rule(cli, write_inventory):
    path = write_inventory(inventory_dict([], ram_gib=16))
    document = cli(["check", "--sizes", "table", "--inventory", path, "--json"]).json()
    assert document["next_up"]["quant"] == "q2"
    assert document["next_up"]["short_by_bytes"] == -(-48 * 1024**3 * 98 // 100)  # 47.04 GiB, not 48
