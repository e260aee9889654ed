"""The one size parser: every size the program reads, and property tests that any input gives a value or a clean error."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vram_advisor.core import units

GIB = 1024**3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("96GB", 96 * GIB),  # memory sizes: GB is the card's nominal GiB (JEDEC)
        ("96GiB", 96 * GIB),
        ("1.5TiB", int(1.5 * 1024 * GIB)),
        ("1.5TB", int(1.5 * 1024 * GIB)),
        ("81559MiB", 81559 * 1024**2),
        ("512g", 512 * GIB),
        ("1024B", 1024),
        (" 24 GB ", 24 * GIB),
        (".5G", GIB // 2),
    ],
)
def test_parse_size(text, expected):
    assert units.parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "GB", "-5GB", "12XB", "1.2.3GB", "96GB+", "nan", "inf", "1e9", "512", "96"])
def test_parse_size_rejects(text):
    with pytest.raises(units.SizeError):
        units.parse_size(text)


@pytest.mark.parametrize(
    ("text", "expected"), [("32768", 32768), ("128k", 131072), ("128K", 131072), ("1M", 1048576), ("0.5k", 512)]
)
def test_parse_tokens(text, expected):
    assert units.parse_tokens(text) == expected


@pytest.mark.parametrize("text", ["0", "-1", "1.5", "12GB", "", "k", "0.1k"])
def test_parse_tokens_rejects(text):
    with pytest.raises(units.SizeError):
        units.parse_tokens(text)


def test_table_figures():
    assert units.table_vram_bytes("96GB") == 96 * GIB
    assert units.table_vram_bytes("1TB") == 1024 * GIB
    assert units.table_gb("1.2TB+") == pytest.approx(1228.8)
    assert units.table_weights_gb("159.61GB") == pytest.approx(159.61)
    # files are decimal: the 159.61 GB checkpoint is 148.65 GiB (vLLM logs 148.66 GiB)
    assert units.file_size_bytes(159.61) / GIB == pytest.approx(148.65, abs=0.01)


def test_format_gb():
    assert units.format_gb(96) == "96 GB"
    assert units.format_gb(1024) == "1 TB"
    assert units.format_gb(1228.8) == "1.2 TB"


@given(st.text(max_size=40))
def test_any_text_gives_a_size_or_a_clean_error(text):
    try:
        value = units.parse_size(text)
    except units.SizeError as exc:
        assert str(exc)
        assert "\n" not in str(exc)
    else:
        assert isinstance(value, int) and 0 <= value <= units.MAX_SIZE_BYTES


@given(st.text(max_size=40))
def test_any_text_gives_tokens_or_a_clean_error(text):
    try:
        value = units.parse_tokens(text)
    except units.SizeError as exc:
        assert str(exc)
    else:
        assert isinstance(value, int) and 0 < value <= units.MAX_TOKENS


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["B", "KiB", "MiB", "GiB", "TiB", "MB", "GB", "TB"]))
def test_sizes_round_trip(number, unit):
    factor = {
        "": 1,
        "B": 1,
        "KiB": 1024,
        "MiB": 1024**2,
        "GiB": GIB,
        "TiB": 1024**4,
        "MB": 1024**2,
        "GB": GIB,
        "TB": 1024**4,
    }
    assert units.parse_size(f"{number}{unit}") == number * factor[unit]
