"""core/boundedjson (the one reader of JSON from outside) and core/inputfiles (opening inputs so that reading ends)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vram_advisor.core import boundedjson
from vram_advisor.core.boundedjson import JsonLimits, JsonRefused
from vram_advisor.core.errors import InventoryError, UsageError
from vram_advisor.core.inputfiles import check_seconds, read_limited

plain_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200)
@given(value=plain_values)
def test_json_within_the_limits_reads_as_python_reads_it(value: object) -> None:
    text = json.dumps(value)
    assert boundedjson.parse(text) == json.loads(text)
    assert boundedjson.parse(text.encode()) == json.loads(text)


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        ('{"a": [1, {"b": NaN}]}', "a[1].b", "NaN is not a number JSON allows"),
        ('{"a": -Infinity}', "a", "-Infinity is not a number JSON allows"),
        ('{"a": 1e999}', "a", "a number too large for a float"),
        ('{"a": ' + "9" * 101 + "}", "a", "a number of 101 characters (at most 100)"),
        ("[" * 65 + "]" * 65, "[0]" * 64, "nested more than 64 levels deep"),
        ("[" * 100_000, "", "JSON nested more than 64 levels deep, not read"),
        ('{"a": "' + "x" * 2_000_000 + '"}', "a", "a string of 2000000 characters"),
        (b'{"a": "\xff"}', "", "not UTF-8 text (byte 8)"),
        ('{"a": ', "", "not valid JSON (Expecting value at line 1 column 7)"),
    ],
)
def test_what_is_refused_is_named_by_its_field(text: str | bytes, where: str, problem: str) -> None:
    with pytest.raises(JsonRefused) as caught:
        boundedjson.parse(text, JsonLimits(max_bytes=10_000_000))
    assert caught.value.where == where[:120] or caught.value.where.startswith(where[:100])
    assert problem in caught.value.problem


def test_lone_surrogates_are_refused_where_asked() -> None:
    assert boundedjson.parse('{"a": "\\ud800"}') == {"a": "\ud800"}
    with pytest.raises(JsonRefused, match=r"a: a lone surrogate"):
        boundedjson.parse('{"a": "\\ud800"}', JsonLimits(reject_surrogates=True))


def test_the_total_size_is_checked_before_parsing() -> None:
    with pytest.raises(JsonRefused, match=r"larger than 10 bytes"):
        boundedjson.parse("[" + "1," * 10 + "1]", JsonLimits(max_bytes=10))


def test_load_names_the_source_and_raises_the_callers_error() -> None:
    with pytest.raises(InventoryError, match=r"^inv\.json: gpus\[0\]\.x: NaN is not a number JSON allows$"):
        boundedjson.load('{"gpus": [{"x": NaN}]}', "inv.json", InventoryError)


def test_fast_integers_still_refuse_what_python_cannot_read() -> None:
    limits = JsonLimits(fast_integers=True)
    assert boundedjson.parse("[" + "9" * 200 + "]", limits) == [int("9" * 200)]
    with pytest.raises(JsonRefused, match=r"more than 4300 digits"):
        boundedjson.parse("[" + "9" * 5000 + "]", limits)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0, 0.0])
def test_seconds_must_be_finite_and_positive(value: float) -> None:
    with pytest.raises(UsageError):
        check_seconds(value, "--read-timeout")


def test_a_fifo_without_a_writer_is_given_up_after_the_timeout(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    start = time.monotonic()
    with pytest.raises(InventoryError, match=r"nothing arrived for 0\.3 s"):
        read_limited(str(fifo), 1000, InventoryError, "an inventory", 0.3)
    assert time.monotonic() - start < 3


def test_a_device_larger_than_the_limit_is_refused_at_the_limit() -> None:
    with pytest.raises(InventoryError, match=r"/dev/zero: larger than 1 MiB, not read"):
        read_limited("/dev/zero", 1024 * 1024, InventoryError, "an inventory", 1)


def test_a_silent_pipe_on_stdin_ends_after_the_read_timeout() -> None:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1] / "src"))
    start = time.monotonic()
    writer = subprocess.Popen(["sleep", "30"], stdout=subprocess.PIPE)  # holds the pipe open, writes nothing
    try:
        result = subprocess.run(
            [sys.executable, "-m", "vram_advisor", "cluster", "-", "--read-timeout", "0.5"],
            stdin=writer.stdout,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    finally:
        writer.kill()
        writer.wait()
    assert result.returncode == 2 and time.monotonic() - start < 20
    assert result.stderr == (
        "vram-advisor: error: <stdin>: nothing arrived for 0.5 s, stopped waiting "
        "(--read-timeout SECONDS or VRAM_ADVISOR_READ_TIMEOUT sets how long)\n"
    )
