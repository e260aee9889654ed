"""Inventory v1: load/save exactly as the contract says, round trips, and bad inputs named by file and field."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import GIB, MIB, gpu, inventory_dict
from vram_advisor.core.errors import InventoryError
from vram_advisor.inventory import model as inv

CONTRACT_EXAMPLE = {
    "schema": "vram-advisor/inventory/v1",
    "hostname": "gpu-node-07",
    "gpus": [
        {
            "index": 0,
            "vendor": "nvidia",
            "name": "NVIDIA H100 80GB HBM3",
            "uuid": "GPU-5c1f...",
            "memory_total_bytes": 85520809984,
            "memory_reserved_bytes": 503316480,
            "memory_free_bytes": 84978434048,
        }
    ],
    "ram": {"total_bytes": 2163223511040, "available_bytes": 2100000000000, "limit_bytes": None},
    "disks": [{"path": "/models", "kind": "nvme", "total_bytes": 3840000000000, "free_bytes": 2900000000000}],
}


def test_contract_example_loads():
    loaded = inv.from_dict(CONTRACT_EXAMPLE)
    assert loaded.hostname == "gpu-node-07"
    assert loaded.gpus[0].capacity_bytes == 85520809984 - 503316480
    assert loaded.ram.total_bytes == 2163223511040
    assert loaded.disks[0].kind == "nvme"


def test_minimal_inventory_loads_with_unknowns():
    loaded = inv.from_dict(
        {
            "schema": "vram-advisor/inventory/v1",
            "gpus": [{"name": "X", "memory_total_bytes": 1}],
            "ram": {"total_bytes": 2},
        }
    )
    assert loaded.gpus[0].uuid is None and loaded.gpus[0].memory_reserved_bytes is None
    assert loaded.ram.available_bytes is None and loaded.disks == () and loaded.hostname is None


def test_unknown_fields_are_ignored():
    data = json.loads(json.dumps(CONTRACT_EXAMPLE))
    data["future_field"] = {"x": 1}
    data["gpus"][0]["temperature_c"] = 40
    data["ram"]["numa_nodes"] = 2
    assert inv.from_dict(data).gpus[0].name == "NVIDIA H100 80GB HBM3"


def test_enumerations_are_read_in_any_case_and_unknown_words_are_unknown():
    data = json.loads(json.dumps(CONTRACT_EXAMPLE))
    data["gpus"][0]["vendor"] = "NVIDIA"
    data["disks"][0]["kind"] = "NVMe"
    loaded = inv.from_dict(data)
    assert (loaded.gpus[0].vendor, loaded.disks[0].kind) == ("nvidia", "nvme")
    data["gpus"][0]["vendor"] = "matrox"
    data["disks"][0]["kind"] = "floppy"
    loaded = inv.from_dict(data)
    assert (loaded.gpus[0].vendor, loaded.disks[0].kind) == (None, None)


def test_round_trip_is_lossless():
    loaded = inv.from_dict(CONTRACT_EXAMPLE)
    assert inv.from_dict(inv.to_dict(loaded)) == loaded
    assert inv.loads(inv.dumps(loaded)) == loaded
    assert "\n" not in inv.dumps(loaded)


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d.pop("schema"), "schema"),
        (lambda d: d.update(schema="vram-advisor/inventory/v9"), "schema"),
        (lambda d: d.pop("ram"), "ram"),
        (lambda d: d["ram"].pop("total_bytes"), "ram.total_bytes"),
        (lambda d: d["ram"].update(total_bytes="lots"), "ram.total_bytes"),
        (lambda d: d["gpus"][0].pop("name"), "gpus[0].name"),
        (lambda d: d["gpus"][0].pop("memory_total_bytes"), "gpus[0].memory_total_bytes"),
        (lambda d: d["gpus"][0].update(memory_total_bytes=-1), "gpus[0].memory_total_bytes"),
        (lambda d: d["gpus"][0].update(memory_total_bytes=True), "gpus[0].memory_total_bytes"),
        (lambda d: d["gpus"][0].update(memory_reserved_bytes=10**12), "gpus[0].memory_reserved_bytes"),
        (lambda d: d["gpus"][0].update(memory_total_bytes=10**400), "gpus[0].memory_total_bytes"),
        (lambda d: d["gpus"][0].update(memory_total_bytes=1e32), "gpus[0].memory_total_bytes"),
        (lambda d: d["ram"].update(total_bytes=2**70), "ram.total_bytes"),
        (lambda d: d["disks"][0].update(free_bytes=10**400), "disks[0].free_bytes"),
        (lambda d: d.update(gpus={"name": "x"}), "gpus"),
        (lambda d: d["disks"][0].pop("path"), "disks[0].path"),
    ],
)
def test_bad_fields_are_named(mutate, where):
    data = json.loads(json.dumps(CONTRACT_EXAMPLE))
    mutate(data)
    with pytest.raises(InventoryError) as caught:
        inv.from_dict(data, "node.json")
    assert str(caught.value).startswith(f"node.json: {where}:")
    assert "\n" not in str(caught.value)


def test_not_json_and_not_an_object():
    with pytest.raises(InventoryError, match="not valid JSON"):
        inv.loads("{nope", "x.json")
    with pytest.raises(InventoryError, match="top level: expected an object"):
        inv.loads("[1, 2]", "x.json")


def test_oversized_input_is_refused():
    with pytest.raises(InventoryError, match="larger than"):
        inv.loads(" " * (inv.MAX_INVENTORY_BYTES + 1), "big.json")


def test_probe_json_then_check_inventory_round_trip(cli, tmp_path):
    probed = cli(["probe", "--json"])
    assert probed.code == 0, probed.err
    saved = tmp_path / "node.json"
    saved.write_text(probed.out)
    from_file = cli(["check", "--inventory", str(saved), "--json"])
    from_stdin = cli(["check", "--inventory", "-", "--json"], stdin=probed.out)
    assert from_file.code == from_stdin.code == 0
    assert from_file.json()["inventory"] == json.loads(probed.out) | {"notes": from_file.json()["inventory"]["notes"]}
    assert from_file.json()["recommendation"] == from_stdin.json()["recommendation"]


def test_compact_probe_is_one_line(cli):
    result = cli(["probe", "--json", "--compact"])
    assert result.code == 0
    assert result.out.count("\n") == 1
    assert inv.loads(result.out).ram.total_bytes > 0


_json_scalars = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=8)
)
_json = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300)
@given(_json)
def test_any_json_gives_an_inventory_or_a_clean_error(data):
    try:
        loaded = inv.from_dict(data, "fuzz.json")
    except InventoryError as exc:
        assert str(exc).startswith("fuzz.json: ")
        assert "\n" not in str(exc)
    else:
        assert isinstance(loaded, inv.Inventory)


@settings(max_examples=200)
@given(
    st.fixed_dictionaries(
        {"schema": st.just(inv.SCHEMA), "ram": st.fixed_dictionaries({"total_bytes": st.integers(0, 2**50)})},
        optional={
            "gpus": st.lists(
                st.fixed_dictionaries(
                    {"name": st.text(max_size=20), "memory_total_bytes": st.integers(0, 2**40)},
                    optional={"uuid": st.text(max_size=10) | st.none(), "unified": st.booleans(), "extra": _json},
                ),
                max_size=4,
            ),
            "hostname": st.text(max_size=20),
            "whatever": _json,
        },
    )
)
def test_valid_shapes_always_load_and_round_trip(data):
    loaded = inv.from_dict(data)
    assert inv.from_dict(inv.to_dict(loaded)) == loaded


def test_gpu_helpers():
    data = inventory_dict([gpu("NVIDIA H100 80GB HBM3", 81559, 480)], ram_gib=1)
    loaded = inv.from_dict(data)
    assert loaded.gpus[0].capacity_bytes == (81559 - 480) * MIB
    assert loaded.ram.total_bytes == GIB
