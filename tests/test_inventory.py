"""Inventory v1: load/save exactly as the contract says, round trips, and bad inputs named by file and field."""

from __future__ import annotations

import copy
import json
import re
from types import UnionType
from typing import Literal, Union, get_args, get_origin

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import GIB, MIB, full_inventory, gpu, inventory_dict
from vram_advisor.core.errors import InventoryError
from vram_advisor.core.jsonread import MAX_BYTES, MAX_INTEGER
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


# ------------------------------------------------------------------------------------ the one declaration

# A value of the wrong type for each kind of field the declaration uses, and the problem the reader names.
WRONG = {
    "bytes": ("lots", "expected a whole number of bytes, got a string of 4 characters"),
    "int": (1.5, "expected an integer, got number 1.5"),
    "number": ("x", "expected a number, got a string of 1 character"),
    "text": (5, "expected a string, got number 5"),
    "flag": ("yes", "expected true or false, got a string of 3 characters"),
    "word": (True, "expected a string, got boolean true"),
    "texts": ("x", "expected a list of strings, got a string of 1 character"),
    "records": ({}, "expected a list, got an object"),
    "record": ([], "expected an object, got a list"),
}


def _kind_of(kind):
    """The kind of a field's declared type (``X | None`` as ``X``) and, for records, their class."""
    args = [arg for arg in get_args(kind) if arg is not type(None)]
    if get_origin(kind) in (Union, UnionType):
        kind = args[0]
        args = list(get_args(kind))
    named = {inv.Bytes: "bytes", inv.Int: "int", inv.Number: "number", str: "text", bool: "flag"}
    for declared, name in named.items():
        if kind == declared:
            return name, None
    if get_origin(kind) is Literal:
        return "word", None
    if get_origin(kind) is tuple:
        return ("texts", None) if args[0] is str else ("records", args[0])
    return "record", kind


def _declared_fields(cls=inv.Inventory, path=""):
    """Every field of the declaration as (path in ``full_inventory``, FieldInfo, kind), nested records included."""
    for info in msgspec.structs.fields(cls):
        if info.name == "schema":
            continue
        where = f"{path}{info.name}"
        kind, record = _kind_of(info.type)
        yield where, info, kind
        if kind == "records":
            yield from _declared_fields(record, f"{where}[0].")
        elif kind == "record":
            yield from _declared_fields(record, f"{where}.")


def _at(data, where):
    """The object holding the last key of ``where`` in ``data``, and that key."""
    steps = [int(step) if step.isdigit() else step for step in re.findall(r"[^.\[\]]+", where)]
    for step in steps[:-1]:
        data = data[step]
    return data, steps[-1]


def test_every_declared_field_is_in_the_full_inventory_and_read_back():
    data = full_inventory(2)
    for where, _info, _kind in _declared_fields():
        holder, key = _at(data, where)
        assert key in holder, f"full_inventory lacks {where}: add it (tests/conftest.py)"
    loaded = inv.from_dict(data, "x")
    assert inv.to_dict(loaded) == data | {"schema": inv.SCHEMA}
    assert list(inv.to_dict(loaded)) == ["schema", *(name for name in inv.Inventory.__struct_fields__[:-1])]
    assert inv.loads(inv.dumps(loaded)) == loaded


@pytest.mark.parametrize("where", [where for where, _info, _kind in _declared_fields()])
def test_every_field_of_the_wrong_type_is_named_with_its_path(where):
    kind = next(kind for name, _info, kind in _declared_fields() if name == where)
    value, problem = WRONG[kind]
    data = full_inventory(2)
    holder, key = _at(data, where)
    holder[key] = value
    with pytest.raises(InventoryError) as caught:
        inv.from_dict(data, "node.json")
    assert str(caught.value) == f"node.json: {where}: {problem}"


@pytest.mark.parametrize("where", [where for where, info, _kind in _declared_fields() if info.required])
@pytest.mark.parametrize("absent", ["missing", "null"])
def test_every_required_field_missing_or_null_is_named(where, absent):
    data = full_inventory(2)
    holder, key = _at(data, where)
    if absent == "missing":
        del holder[key]
    else:
        holder[key] = None
    with pytest.raises(InventoryError) as caught:
        inv.from_dict(data, "node.json")
    assert str(caught.value) == f"node.json: {where}: required field is missing"


@pytest.mark.parametrize("where", [where for where, info, _kind in _declared_fields() if not info.required])
def test_every_optional_field_null_reads_as_unknown(where):
    data = full_inventory(2)
    holder, key = _at(data, where)
    holder[key] = None
    target = inv.from_dict(data, "x")
    steps = re.findall(r"[^.\[\]]+", where)
    for step in steps[:-1]:
        target = target[int(step)] if step.isdigit() else getattr(target, step)
    assert getattr(target, steps[-1]) in (None, False, ())


def test_the_first_problem_named_is_the_one_read_first():
    data = full_inventory(1)
    del data["ram"]
    data["gpus"][0].pop("name")
    data["gpus"][0]["memory_total_bytes"] = "x"
    with pytest.raises(InventoryError, match=r"^x: gpus\[0\]\.memory_total_bytes: expected a whole number"):
        inv.from_dict(data, "x")
    data["gpus"][0]["memory_total_bytes"] = 5
    with pytest.raises(InventoryError, match=r"^x: gpus\[0\]\.memory_reserved_bytes: 503316480 is more than"):
        inv.from_dict(data, "x")


def test_inputs_msgspec_refuses_are_read_as_before():
    data = full_inventory(1)
    data["gpus"][0].update(memory_total_bytes=8e10, memory_reserved_bytes=0.0, vendor=" NVIDIA ", unified=None)
    data["gpus"][0].update(mig_devices=None, notes=None, name="H100\x1b[31m")
    data["disks"][0].update(kind="NVMe", model_dir=None)
    data["cpu"]["quota_cpus"] = MAX_INTEGER  # an integer at the bound reads as a float
    loaded = inv.from_dict(data, "x")
    first = loaded.gpus[0]
    assert (first.memory_total_bytes, first.memory_reserved_bytes, first.vendor) == (80_000_000_000, 0, "nvidia")
    assert (first.unified, first.mig_devices, first.notes, first.name) == (False, (), (), "H100\\x1b[31m")
    assert (loaded.disks[0].kind, loaded.disks[0].model_dir, loaded.cpu.quota_cpus) == ("nvme", False, 2.0**53)
    assert type(loaded.gpus[0].memory_total_bytes) is int


# Values of every JSON type, some of them right for some field, most of them wrong.
JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**50),
    st.sampled_from([0, 1, -1, 2.0, 1.5, -3.0, 80 * GIB, 8e10]),
    # at and beyond the bounds of the declaration (1 EiB for bytes, 2**53 for integers, finite numbers)
    st.sampled_from(
        [MAX_BYTES, MAX_BYTES + 1, MAX_INTEGER, MAX_INTEGER + 1, -MAX_INTEGER - 1, 10**400, 1e300, float("inf")]
    ),
    st.sampled_from(["", "nvidia", "amd", "nvme", "floppy", "x", "vram-advisor/inventory/v1", "a\\b", 'q"']),
    # enumerations in any case and unknown words (read as unknown); text the reader cleans
    st.sampled_from(["NVIDIA", "NVMe", " Intel ", "matrox", "bad\ud800", "caf\u00e9", "\x1b[2J", "\xa0"]),
    st.lists(st.sampled_from(["a", 1, None]), max_size=2),
    st.just({}),
    st.just([{}]),
)


def _paths(data, prefix=()):
    out = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(data, list):
        for position, value in enumerate(data):
            out.extend(_paths(value, (*prefix, position)))
    return out


def _field_by_field(data):
    try:
        return inv._Reader("x").inventory(data)
    except InventoryError as exc:
        return str(exc)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    gpus=st.integers(min_value=0, max_value=3),
    changes=st.lists(st.tuples(st.integers(min_value=0), JSON_VALUES, st.booleans()), min_size=1, max_size=3),
)
def test_msgspec_reads_exactly_what_the_field_by_field_reader_reads(gpus, changes):
    # from_dict answers with msgspec.convert when it can; the reader that names fields must give the same answer
    data = full_inventory(gpus)
    for pick, value, delete in changes:
        places = _paths(data)
        path = places[pick % len(places)]
        target = data
        for key in path[:-1]:
            target = target[key]
        if delete and isinstance(target, dict):
            target.pop(path[-1], None)
        else:
            target[path[-1]] = copy.deepcopy(value)
    try:
        answer = inv.from_dict(data, "x")
    except InventoryError as exc:
        answer = str(exc)
    assert answer == _field_by_field(data)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"schema":"vram-advisor/inventory/v1","ram":{"total_bytes":' + "9" * 5000 + "}}",
            "t.json: ram.total_bytes: a number of 5000 characters (at most 100)",
        ),
        (
            '{"schema":"vram-advisor/inventory/v1","ram":{"total_bytes":NaN}}',
            "t.json: ram.total_bytes: NaN is not a number JSON allows",
        ),
        (
            '{"schema":"vram-advisor/inventory/v1","ram":{"total_bytes":1},"x":' + "[" * 100 + "]" * 100 + "}",
            "t.json: " + ("x" + "[0]" * 63)[:117] + "...: nested more than 64 levels deep",  # a long path is cut
        ),
        ("[" * 100_000 + "]" * 100_000, "t.json: JSON nested more than 64 levels deep, not read"),
        (
            '{"schema":"vram-advisor/inventory/v1","gpus":[{"name":"a","memory_total_bytes":1e999}],"ram":{}}',
            "t.json: gpus[0].memory_total_bytes: a number too large for a float",
        ),
        ("{nope", "t.json: not valid JSON (Expecting property name enclosed in double quotes at line 1 column 2)"),
    ],
)
def test_the_bounded_reader_refuses_before_the_declaration_reads(text, message):
    with pytest.raises(InventoryError) as caught:
        inv.loads(text, "t.json")
    assert str(caught.value) == message


def test_a_lone_surrogate_in_text_is_read_as_a_replacement_character():
    text = '{"schema":"vram-advisor/inventory/v1","hostname":"node\\ud800","ram":{"total_bytes":1}}'
    assert inv.loads(text, "t.json").hostname == "node\ufffd"
