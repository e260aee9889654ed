"""A refused value of 5,000 characters (issue 19) is quoted by its first ~40 characters and its length, never whole.

Every option and variable whose value an error line quotes is given 5,000 characters here: the answer is exit 2 and
one line on stderr, under 300 characters, that names the option (or what was wrong) and holds no run of 60 repeated
characters. Our own messages quote through ``core.numbers.shown``; the usage errors typer and click word (``--port``,
an unknown option or command) go through ``core.numbers.clip_values`` in ``cli.main``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import gpu, inventory_dict
from hubserver import FakeHub, serve_recorded_hub
from vram_advisor.core.numbers import SHOWN_CHARS

X = "x" * 5000
D = "9" * 5000
#: A what-if machine, so that no case probes this one.
MACHINE = ["--gpus", "1xH100", "--ram", "64GB"]
EST = ["estimate", "deepseek-v4-flash", "--quant", "q4", "--no-machine"]
LONGEST = 300
REPEATED = re.compile(r"(.)\1{59}")

CASES = [
    # check: the what-ifs, --require, model and release choices, the estimate options
    (["check", *MACHINE, "--require", X], {}, "--require"),
    (
        ["check", *MACHINE, "--require", f"deepseek-v4-flash:{D}"],
        {},
        "--require: deepseek-v4-flash has no quantization",
    ),
    (["check", *MACHINE, "--require", f"{X}:q4"], {}, "--require: unknown model"),
    (["check", *MACHINE, "--model", X], {}, "unknown model"),
    (["check", *MACHINE, "--release", D], {}, "--release"),
    (["check", *MACHINE, "--kv-dtype", X], {}, "--kv-dtype"),
    (["check", *MACHINE, "--sizes", X], {}, "--sizes"),
    (["check", *MACHINE, "--context", X], {}, "--context"),
    (["check", *MACHINE, "--ram-bw", X], {}, "--ram-bw"),
    (["check", *MACHINE, "--disk-bw", D], {}, "--disk-bw"),
    (["check", "--gpus", X], {}, "--gpus"),
    (["check", *MACHINE[2:], "--gpus", D], {}, "--gpus"),
    (["check", "--ram", X, *MACHINE[:2]], {}, "--ram"),
    (["check", "--inventory", X], {}, "cannot be read"),
    (["check", *MACHINE, "--repo", X], {}, "--repo"),
    (["check", *MACHINE, "--repo", f"acme/{X}"], {}, "--repo"),
    (["check", *MACHINE, "--repo", "acme/model", "--revision", X], {}, "--revision"),
    (["check", *MACHINE, f"--{X}"], {}, "No such option"),
    ([X], {}, "No such command"),
    # estimate
    (["estimate", X, "--quant", "q4", "--no-machine"], {}, "unknown model"),
    (["estimate", "deepseek-v4-flash", "--quant", D, "--no-machine"], {}, "no quantization"),
    ([*EST, "--release", X], {}, "--release"),
    ([*EST, "--kv-dtype", D], {}, "--kv-dtype"),
    ([*EST, "--sizes", X], {}, "--sizes"),
    ([*EST, "--context", D], {}, "--context"),
    # models
    (["models", "--model", X], {}, "unknown model"),
    (["models", "import", X], {}, "--repo"),
    (["models", "import", f"{X}/m"], {}, "--repo"),
    (["models", "import", "org/m", "--id", X], {}, "--id"),
    (["models", "import", "org/m", "--revision", D], {}, "--revision"),
    # cluster and serve: our checks and typer's own ("is not a valid int range.")
    (["cluster", "--sizes", X, "-"], {}, "--sizes"),
    (["cluster", "--ray-timeout", X, "-"], {}, "--ray-timeout"),
    (["cluster", "--read-timeout", X, "-"], {}, "--read-timeout"),
    (["serve", "--port", D], {}, "--port"),
    (["serve", "--port", X], {}, "--port"),
    (["serve", "--max-requests", D], {}, "--max-requests"),
    (["serve", "--cache-seconds", X], {}, "--cache-seconds"),
    (["serve", "--probe-timeout", X], {}, "--probe-timeout"),
    (["serve", "--read-timeout", X], {}, "--read-timeout"),
    # the environment
    (["models", "import", "org/m"], {"HF_ENDPOINT": "http://" + "a" * 5000}, "HF_ENDPOINT"),
    (["models", "import", "org/m"], {"HF_ENDPOINT": "http://127.0.0.1:1/" + X}, "HF_ENDPOINT"),
    (["models", "import", "org/m"], {"HF_ENDPOINT": X}, "HF_ENDPOINT"),
    (["check", *MACHINE, "--repo", "org/m"], {"HF_ENDPOINT": "https://" + "a." * 2500}, "HF_ENDPOINT"),
    (["models", "import", "org/m"], {"VRAM_ADVISOR_HUB_TIMEOUT": X}, "VRAM_ADVISOR_HUB_TIMEOUT"),
    (["models", "import", "org/m"], {"HF_HUB_DOWNLOAD_TIMEOUT": D}, "HF_HUB_DOWNLOAD_TIMEOUT"),
    (["models", "import", "org/m"], {"HF_HUB_ETAG_TIMEOUT": X}, "HF_HUB_ETAG_TIMEOUT"),
    (["cluster", "-"], {"VRAM_ADVISOR_READ_TIMEOUT": X}, "VRAM_ADVISOR_READ_TIMEOUT"),
]


def assert_short_refusal(result, named: str, longest: int = LONGEST) -> str:  # type: ignore[no-untyped-def]
    assert result.code == 2, (result.code, result.err[:300])
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err[:600]
    line = lines[0]
    assert line.startswith("vram-advisor: error: ") and "Traceback" not in result.err, line[:300]
    assert len(line) < longest, line[:600]
    assert not REPEATED.search(line), line[:600]
    assert named in line, line
    # what is quoted of the value: at most ~40 characters each time it is quoted (twice at most: --gpus 'x...')
    for char in "xa9":
        assert line.count(char) <= 2 * SHOWN_CHARS + 20, line
    return line


@pytest.mark.parametrize(
    ("args", "env", "named"),
    CASES,
    ids=[f"{i:02d}:{(list(e) or a[:2])[0][:20]}:{named[:24]}" for i, (a, e, named) in enumerate(CASES)],
)
def test_a_5000_character_value_is_refused_in_one_short_line(cli, args, env, named):
    # --gpus alone lists every card it knows after the quote: a longer line, still one that quotes 40 characters
    longest = 600 if args[:2] == ["check", "--gpus"] else LONGEST
    line = assert_short_refusal(cli(args, env=env), named, longest)
    assert "characters)" in line or "digits" in line or " inf:" in line, line  # its length is said, not shown


def test_35000_characters_of_gpus_quote_40_of_them(cli):
    result = cli(["check", "--gpus", "1xH100," * 5000, "--ram", "64GB"])
    line = assert_short_refusal(result, "more than 4096 GPUs")
    assert "'1xH100,1xH100,1xH100,1xH100,1xH100,1xH10'... (35,000 characters)" in line


def test_a_short_refused_value_is_still_quoted_whole(cli):
    line = assert_short_refusal(cli(["serve", "--port", "99999"]), "--port")
    assert line == "vram-advisor: error: Invalid value for '--port': 99999 is not in the range 0<=x<=65535.", line
    line = assert_short_refusal(cli(["check", *MACHINE, "--require", "nonsense"]), "--require")
    assert line == "vram-advisor: error: --require 'nonsense': expected MODEL:QUANT, e.g. deepseek-v4-flash:q4"


@pytest.mark.parametrize(
    ("endpoint", "problem"),
    [
        ("http://" + "a" * 64 + ".example", "a label of more than 63 characters"),
        ("http://" + "a." * 130 + "example", "longer than DNS allows (253)"),
        ("http://mirror..example", "an empty label"),
        ("http://mirror.example/" + "p" * 300, "at most 255 characters"),
    ],
)
def test_an_hf_endpoint_no_request_could_reach_is_refused_before_the_hub_is_asked(cli, endpoint, problem):
    line = assert_short_refusal(cli(["models", "import", "org/m"], env={"HF_ENDPOINT": endpoint}), "HF_ENDPOINT")
    assert problem in line


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://127.0.0.1:1",
        "http://[::1]:1",
        "http://mirror.example.:1",
        "http://user:" + "t" * 2000 + "@127.0.0.1:1",  # a long credential is never printed, so it is no problem
        "http://127.0.0.1:1/?token=" + "t" * 2000,
    ],
)
def test_an_hf_endpoint_dns_allows_is_accepted(endpoint):
    from vram_advisor.hub.settings import check_endpoint

    assert check_endpoint(endpoint) == endpoint


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    yield from serve_recorded_hub(monkeypatch, tmp_path)


def test_a_5000_character_include_glob_is_quoted_short(cli, write_inventory, fake_hub):
    path = write_inventory(inventory_dict([gpu("NVIDIA Test GPU", 71895, 0)] * 2, ram_gib=64))
    args = ["check", "--inventory", path, "--sizes", "table", "--quiet"]
    result = cli([*args, "--repo", "unsloth/DeepSeek-V4-Flash-GGUF", "--include", X])
    line = assert_short_refusal(result, "no file matches --include")
    assert f"--include '{'x' * SHOWN_CHARS}'... (5,000 characters)" in line


def test_thousands_of_extra_arguments_are_cut_in_the_middle(cli):
    line = assert_short_refusal(cli(["check", *MACHINE, *["a"] * 3000]), "unexpected extra argument")
    assert "(6,0" in line and line.endswith("a a a)"), line
