"""What the cluster planner keeps of a node (``NodeFacts``), read through the one inventory declaration: the same
answer as ``check --inventory`` would read, and a bad field named as it names it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import MIB, full_inventory
from vram_advisor.core.errors import InventoryError
from vram_advisor.core.jsonread import MAX_BYTES, MAX_INTEGER
from vram_advisor.fleet import nodefacts, planner
from vram_advisor.inventory import model as inv
from vram_advisor.plan import rules as plan


@pytest.mark.parametrize("gpus", [0, 1, 2, 8])
def test_a_full_inventory_gives_its_facts(gpus):
    data = full_inventory(gpus)
    facts = nodefacts.read(data, "x")
    assert facts == nodefacts.from_inventory(inv.from_dict(data, "x"))
    assert facts.hostname == "test-node" and facts.ram_total_bytes == 2048 * 1024**3 and facts.ram_swap_bytes == 0
    assert facts.uuids == tuple(f"GPU-{i}" for i in range(gpus))
    if gpus:
        assert facts.gpus[0] == ("NVIDIA H100 80GB HBM3", 81559 * MIB, 480 * MIB, False)
        assert facts.interconnect == frozenset({"nvlink", "infiniband"})
        assert facts.hidden_gpus == (1 if gpus > 1 else 0)


@pytest.mark.parametrize("gpus", [1, 3])
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["gpus"][-1].update(memory_total_bytes=10**400),
            "gpus[{last}].memory_total_bytes: a number of 401 digits bytes is more than any machine has (limit 1 EiB)",
        ),
        (
            lambda d: d["gpus"][-1].update(memory_free_bytes=MAX_BYTES + 1),
            "gpus[{last}].memory_free_bytes: 1152921504606846977 bytes is more than any machine has (limit 1 EiB)",
        ),
        (
            lambda d: d["gpus"][-1].update(pcie_width=MAX_INTEGER + 1),
            "gpus[{last}].pcie_width: 9007199254740993 is out of range",
        ),
        (
            lambda d: d["gpus"][-1]["mig_devices"][0].update(gpu_instance_id=2**60),
            "gpus[{last}].mig_devices[0].gpu_instance_id: 1152921504606846976 is out of range",
        ),
        (lambda d: d["ram"].update(total_bytes=-1), "ram.total_bytes: expected a non-negative number of bytes, got -1"),
        (lambda d: d["cpu"].update(usable_count=float("inf")), "cpu.usable_count: expected a finite number, got inf"),
        (lambda d: d["cpu"].update(quota_cpus=MAX_INTEGER + 1), "cpu.quota_cpus: 9007199254740993 is out of range"),
        (lambda d: d["gpus"][-1].pop("name"), "gpus[{last}].name: required field is missing"),
    ],
)
def test_a_bad_field_is_named_as_check_names_it(gpus, change, message):
    data = full_inventory(gpus)
    change(data)
    expected = "x: " + message.format(last=gpus - 1)
    with pytest.raises(InventoryError) as caught:
        nodefacts.read(data, "x")
    assert str(caught.value) == expected
    with pytest.raises(InventoryError) as again:
        inv.from_dict(data, "x")
    assert str(again.value) == expected


@pytest.mark.parametrize("where", ["hostname", "name", "uuid"])
def test_text_that_is_not_printable_is_cleaned(where):
    data = full_inventory(3)
    if where == "hostname":
        data["hostname"] = "node\ud800"
    else:
        data["gpus"][-1][where] = "GPU\udc00\x1b"
    facts = nodefacts.read(data, "x")
    assert facts == nodefacts.from_inventory(inv.from_dict(data, "x"))
    shown = facts.hostname if where == "hostname" else str(facts.gpus) + str(facts.uuids)
    assert "\ufffd" in shown and "\x1b" not in shown


def test_gpus_of_different_shapes_in_one_node():
    data = full_inventory(3)
    del data["gpus"][2]["uuid"]
    data["gpus"][1]["memory_reserved_bytes"] = None
    facts = nodefacts.read(data, "x")
    assert facts.gpus[1][2] == 0 and facts.uuids == ("GPU-0", "GPU-1")


def test_the_planning_inventory_gives_the_machine_of_the_whole_inventory():
    data = full_inventory(8)
    whole = inv.from_dict(data)
    everything_visible = whole.replace(gpus=tuple(g.replace(visible=None) for g in whole.gpus))
    facts = nodefacts.read(data, "x")
    assert plan.machine_of(planner.planning_inventory(facts)) == plan.machine_of(everything_visible)


@given(
    available=st.one_of(st.none(), st.integers(min_value=0, max_value=2**41)),
    swap=st.one_of(st.none(), st.integers(min_value=0, max_value=2**40)),
)
def test_the_machine_does_not_depend_on_available_ram_or_swap(available, swap):
    # cluster.ClusterPlanner caches machines by GPUs, RAM total and limit only: this pins that assumption.
    facts = nodefacts.read(full_inventory(2), "x")
    changed = facts._replace(ram_available_bytes=available, ram_swap_bytes=swap)
    assert plan.machine_of(planner.planning_inventory(changed)) == plan.machine_of(planner.planning_inventory(facts))
