"""The one bounded integer parser (core/numbers.py) and every text field that reads a number through it: ``--gpus``
counts and sizes, ``--ram``, ``--context``, ``--ram-bw``, Apple chip memory, CUDA_VISIBLE_DEVICES ordinals. A number
of 5,000 digits (past CPython's 4,300-digit ``int()`` limit) is a clean refusal, never an internal error, and a
refused value is quoted in at most about 40 characters."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vram_advisor.cli import main
from vram_advisor.core import units
from vram_advisor.core.errors import UsageError
from vram_advisor.core.numbers import (
    MAX_DIGITS,
    SHOWN_CHARS,
    NumberError,
    clip_values,
    parse_int,
    shown,
    too_many_digits,
)
from vram_advisor.inventory import visibility, whatif
from vram_advisor.inventory.model import Gpu, Inventory, Ram

HUGE = "9" * 5000
#: A refused value's quote, its length, and the words around it: a message stays short whatever was refused.
SHORT_MESSAGE = 400


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", 0), ("8", 8), (" 12 ", 12), ("0" * 100 + "7", 7), ("9" * MAX_DIGITS, 10**MAX_DIGITS - 1)],
)
def test_parse_int_reads_ascii_digits(text, expected):
    assert parse_int(text) == expected


@pytest.mark.parametrize("text", ["", " ", "-1", "+1", "1.0", "1e3", "0x10", "²", "٣", "1 2", "12a"])
def test_parse_int_refuses_anything_but_ascii_digits(text):
    with pytest.raises(NumberError, match="expected a whole number"):
        parse_int(text)


def test_parse_int_counts_digits_before_int_and_checks_the_range():
    with pytest.raises(NumberError) as caught:
        parse_int("9" * (MAX_DIGITS + 1))
    assert str(caught.value) == f"a number of {MAX_DIGITS + 1} digits is out of range"
    with pytest.raises(NumberError) as caught:
        parse_int(HUGE, 0, 4096)
    assert str(caught.value) == "a number of 5,000 digits is out of range (0..4096)"
    with pytest.raises(NumberError, match=r"^5000 is out of range \(1\.\.4096\)$"):
        parse_int("5000", 1, 4096)
    with pytest.raises(NumberError, match=r"^0 is out of range \(1\.\.\)$"):
        parse_int("0", 1)


def test_shown_quotes_at_most_40_characters_and_escapes_the_rest():
    assert shown("8xH100") == "'8xH100'"
    assert shown(HUGE) == f"'{'9' * SHOWN_CHARS}'... (5,000 characters)"
    assert shown("\x1b[2J" * 50).startswith("'\\x1b[2J\\x1b[2J")
    assert "\x1b" not in shown("\x1b[2J" * 50)
    assert len(shown("\x1b" * 1000)) < SHOWN_CHARS + 30
    assert shown("it's") == "'it\\'s'" and shown("a\\b") == "'a\\\\b'"
    assert shown("\ud800") == "'\\ud800'"


@given(st.text(max_size=200))
def test_shown_is_always_short_and_printable(text):
    quoted = shown(text)
    assert quoted.isprintable()
    assert len(quoted) <= SHOWN_CHARS + len("''... (1,000 characters)")


def test_clip_values_cuts_each_long_quoted_value_or_word_of_another_librarys_message():
    port = f"Invalid value for '--port': '{HUGE}' is not a valid integer range."
    assert clip_values(port) == f"Invalid value for '--port': {shown(HUGE)} is not a valid integer range."
    assert clip_values(f"No such option: --{'x' * 5000}") == f"No such option: {shown('--' + 'x' * 5000)}"
    assert clip_values(f"Got unexpected extra argument ({'y' * 100})").endswith("... (102 characters)")
    quoted = repr("it's" + "z" * 100)  # repr quotes with " when the value holds a '
    assert clip_values(f"bad value {quoted}.") == f"bad value 'it\\'s{'z' * 35}'... (104 characters)."
    short = "Invalid value for '--max-requests' / '--max-connections': 'abc' is not a valid integer range."
    assert clip_values(short) == short  # what is short stays as click wrote it, quotes and all


@given(st.text(max_size=3000))
def test_clip_values_leaves_no_long_word(text):
    clipped = clip_values(text)
    assert all(len(word) <= SHOWN_CHARS + 5 for word in re.split(r"\s+", clipped))


def test_too_many_digits_finds_a_long_run_anywhere_unicode_digits_too():
    assert too_many_digits("8xH100") is None
    assert too_many_digits("1" * MAX_DIGITS) is None
    assert (
        too_many_digits(f"M4-Max-{HUGE}GB")
        == "a number of 5,000 digits is more than any count or size (at most 30 digits)"
    )
    assert too_many_digits("٣" * 40) is not None  # int() reads these; so does a pattern's \d


# -------------------------------------------------------------------------------------------- the fields


@pytest.mark.parametrize(
    "spec",
    [
        f"{HUGE}xH100",
        f"{HUGE[:4000]}xH100",
        f"4000x{HUGE}GB",
        f"M4-Max-{HUGE}GB",
        f"M4-Max-128GB:wired={HUGE}GB",
        f"1xH100,{HUGE}x96GB",
        f"{'٣' * 5000}xH100",
        f"{HUGE}",
        f"0.{HUGE}GB",
    ],
)
def test_gpus_specs_with_huge_numbers_are_refused_in_a_short_line(spec):
    with pytest.raises(UsageError) as caught:
        whatif.parse_gpus(spec)
    message = caught.value.message
    assert message.startswith("--gpus '") and len(message) < SHORT_MESSAGE, message
    assert "characters)" in message  # the spec is quoted by its start and its length


def test_a_gpus_count_out_of_range_says_the_range():
    with pytest.raises(UsageError, match=r"a count must be between 1 and 4096, got 99999$"):
        whatif.parse_gpus("99999xH100")
    with pytest.raises(UsageError, match=r"a count must be between 1 and 4096: expected a whole number, got '٣'$"):
        whatif.parse_gpus("٣xH100")


@pytest.mark.parametrize("text", [f"{HUGE}GB", "1e999GB", f"0.{HUGE}GB", f"{HUGE}", f"{'5' * 31}B"])
def test_sizes_with_huge_numbers_are_a_size_error_in_a_short_line(text):
    for parse in (units.parse_size, units.parse_tokens, units.parse_bandwidth, units.parse_k8s_quantity):
        with pytest.raises(units.SizeError) as caught:
            parse(text)
        assert len(str(caught.value)) < SHORT_MESSAGE


def test_a_ddr_channel_count_of_5000_digits_is_refused():
    with pytest.raises(units.SizeError, match="a number of 5,000 digits"):
        units.parse_bandwidth(f"{HUGE}xDDR5-4800")


def test_ram_what_if_of_5000_digits():
    with pytest.raises(UsageError) as caught:
        whatif.apply(Inventory(ram=Ram(total_bytes=64 * units.GIB)), ram=f"{HUGE}GB")
    assert caught.value.message.startswith("--ram: '9999") and len(caught.value.message) < SHORT_MESSAGE


def test_cuda_visible_devices_with_a_5000_digit_ordinal_is_past_every_device():
    gpus = tuple(Gpu(name="NVIDIA H100 80GB HBM3", memory_total_bytes=80 * units.GIB, index=i) for i in range(2))
    inventory = Inventory(ram=Ram(total_bytes=64 * units.GIB), gpus=gpus)
    for value in (HUGE, f"MIG-GPU-0/{HUGE}/0", f"0,{HUGE}"):
        seen = visibility.apply(inventory, {"CUDA_VISIBLE_DEVICES": value})
        assert len(seen.gpus) == 2  # the inventory keeps every GPU; the visible ones are flagged
        assert any("CUDA_VISIBLE_DEVICES" in note for note in seen.notes)


@pytest.mark.parametrize(
    "args",
    [
        ["--gpus", f"{HUGE}xH100"],
        ["--gpus", f"{HUGE[:4000]}xH100"],
        ["--gpus", f"M4-Max-{HUGE}GB"],
        ["--ram", f"{HUGE}GB"],
        ["--ram", "1e999GB"],
        ["--context", HUGE],
        ["--ram-bw", f"{HUGE}xDDR5-4800"],
    ],
)
def test_the_cli_answers_huge_numbers_with_exit_2_and_one_short_line(args, capsys):
    code = main(["check", "--json", "--gpus", "1xH100", "--ram", "64GB", *args])
    captured = capsys.readouterr()
    assert code == 2, captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vram-advisor: error: "), captured.err
    assert len(lines[0]) < SHORT_MESSAGE and "internal error" not in lines[0]


def test_a_huge_cuda_visible_devices_does_not_crash_check(capsys, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", HUGE)
    code = main(["check", "--json", "--gpus", "2xH100", "--ram", "512GB"])
    captured = capsys.readouterr()
    assert code in (0, 1), captured.err
    assert "internal error" not in captured.err
    assert json.loads(captured.out)["usable_vram_bytes"] == 0  # an ordinal past every device: no GPU
