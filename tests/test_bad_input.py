"""Input a user gets told about (issue 14): empty machines, contradictory flags, an over-long context, and the same
node read twice without GPU UUIDs. Each refusal is exit 2 with one line on stderr naming what and where."""

from __future__ import annotations

import json

import pytest

from conftest import GIB, gpu, inventory_dict

H100 = ("NVIDIA H100 80GB HBM3", 81559, 480)


def assert_one_line_error(result, *fragments):
    assert result.code == 2, (result.out, result.err)
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err and result.out == ""
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["check", "--ram", "0GB"], ["--ram '0GB'", "more than 0 bytes"]),
        (["check", "--ram", "0MiB", "--json"], ["--ram '0MiB'", "more than 0 bytes"]),
        (["estimate", "deepseek-v4-flash", "--quant", "q4", "--ram", "0GB"], ["--ram '0GB'"]),
        (["check", "--gpus", "0xH100"], ["--gpus '0xH100'", "count"]),
        (["check", "--gpus", "1xH100,0x96GB"], ["--gpus", "count"]),
        (["check", "--require", "deepseek-v4-flash:q4", "--quiet", "--json"], ["--quiet and --json"]),
        (["check", "--quiet", "--json"], ["--quiet and --json"]),
        (["probe", "--json", "--compact", "--pretty"], ["--compact and --pretty"]),
        (
            ["estimate", "deepseek-v4-pro", "--quant", "q4", "--no-machine", "--gpus", "1xH100"],
            ["--no-machine", "--gpus"],
        ),
        (
            ["estimate", "deepseek-v4-pro", "--quant", "q4", "--no-machine", "--inventory", "x.json", "--all-gpus"],
            ["--no-machine and --inventory, --all-gpus"],
        ),
    ],
)
def test_refused_with_one_line(cli, args, fragments):
    assert_one_line_error(cli(args), *fragments)


def test_gpus_0_still_means_no_gpu(cli):
    result = cli(["check", "--gpus", "0", "--ram", "64GB", "--json"])
    assert result.code == 0, result.err
    document = result.json()
    assert document["usable_vram_bytes"] == 0 and document["inventory"]["gpus"] == []


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["check", "--context", "99999999999"], "(deepseek-v4-pro, deepseek-v4-flash)"),
        (["check", "--context", "2M", "--json"], "(deepseek-v4-pro, deepseek-v4-flash)"),
        (["check", "--base", "--context", "99999999999"], "(deepseek-v4-pro-base, deepseek-v4-flash-base)"),
        (
            ["estimate", "deepseek-v4-flash", "--quant", "q4", "--no-machine", "--context", "99999999999"],
            "(deepseek-v4-flash)",
        ),
    ],
)
def test_an_over_long_context_names_the_longest_context_in_play(cli, args, names):
    assert_one_line_error(cli(args), f"--context {args[args.index('--context') + 1]}: ", "1,048,576 tokens", names)


def test_the_longest_context_in_play_is_named_not_the_first(cli):
    # a --model set whose longest context is the Flash one: the message names that limit, not "any model's"
    result = cli(["check", "--model", "deepseek-v4-flash", "--context", "5M"])
    assert_one_line_error(result, "longest context of the models in play, 1,048,576 tokens (deepseek-v4-flash)")


def _uuidless(hostname: str, ram_gib: float, available_fraction: float = 0.9) -> dict:
    node = inventory_dict([gpu(*H100)] * 4, ram_gib=ram_gib, hostname=hostname)
    node["ram"]["available_bytes"] = int(ram_gib * GIB * available_fraction)
    return node


def test_cluster_counts_a_node_read_twice_without_uuids_once(cli):
    first = _uuidless("node-a", 512)
    again = _uuidless("node-a", 512, available_fraction=0.5)  # read later: less RAM free, the same machine
    changed = _uuidless("node-a", 1024)  # the same name, other hardware: another machine
    stdin = "".join(json.dumps(node) + "\n" for node in (first, again, changed))
    result = cli(["cluster", "-", "--json"], stdin=stdin)
    assert result.code == 0, result.err
    document = result.json()
    assert [node["hostname"] for node in document["nodes"]] == ["node-a", "node-a (<stdin>:3)"]
    assert document["skipped"] == [
        {
            "source": "<stdin>:2",
            "reason": "same machine as node-a (same hostname and inventory, no GPU UUIDs): counted once",
        }
    ]
    assert "skipped <stdin>:2: same machine as node-a" in result.err
    assert document["totals"]["nodes"] == 2 and document["totals"]["gpus"] == 8


def test_cluster_human_view_notes_the_duplicate(cli, tmp_path):
    path = tmp_path / "node.json"
    path.write_text(json.dumps(_uuidless("node-b", 256)), encoding="utf-8")
    result = cli(["cluster", str(path), str(path)])
    assert result.code == 0, result.err
    assert "· 1 node ·" in result.out and "1 skipped" in result.out
    assert f"skipped {path}:1: same machine as node-b (same hostname and inventory" in result.err
