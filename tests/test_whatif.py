"""What-if specs: card names resolve to NVML's real totals, plain sizes to their value."""

from __future__ import annotations

import pytest

from vram_advisor.core.errors import UsageError
from vram_advisor.inventory import cards, whatif

GIB, MIB = 1024**3, 1024**2


def test_h100_resolves_to_nvml_reading():
    gpus = whatif.parse_gpus("8xH100-80GB")
    assert len(gpus) == 8
    assert {g.memory_total_bytes for g in gpus} == {81559 * MIB}
    assert {g.memory_reserved_bytes for g in gpus} == {480 * MIB}
    assert [g.index for g in gpus] == list(range(8))
    assert gpus[0].name == "NVIDIA H100 80GB HBM3"


@pytest.mark.parametrize(
    ("spec", "total_mib"),
    [
        ("4xRTX4090", 24564),
        ("RTX 4090", 24564),
        ("1xH200", 143771),
        ("2xB200", 183359),
        ("h100", 81559),
        ("A100-80GB", 81920),
    ],
)
def test_card_names(spec, total_mib):
    assert whatif.parse_gpus(spec)[0].memory_total_bytes == total_mib * MIB


def test_plain_sizes_and_mixes():
    gpus = whatif.parse_gpus("2x96GB,1xRTX3090")
    assert [g.memory_total_bytes for g in gpus] == [96 * GIB, 96 * GIB, 24576 * MIB]
    assert whatif.parse_gpus("none") == ()


@pytest.mark.parametrize("spec", ["8xB9000", "", "x", "2x", "0x96GB", "A100", "2x-5GB", "99999xH100", "2x96"])
def test_bad_specs(spec):
    with pytest.raises(UsageError) as caught:
        whatif.parse_gpus(spec)
    assert "--gpus" in str(caught.value)


def test_every_known_card_resolves_by_its_nvml_name():
    for card in cards.CARDS:
        assert cards.lookup(card.nvml_name) is card
        assert cards.lookup(card.key) is card
