"""The fast reading of node inventories must agree with ``inventory.from_dict`` on every input: it may decline
(then from_dict decides), but never accept what from_dict refuses or read a field differently."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import GIB, MIB, gpu, inventory_dict
from vram_advisor.core.errors import InventoryError
from vram_advisor.core.jsonread import MAX_BYTES, MAX_INTEGER
from vram_advisor.fleet import nodefacts, planner
from vram_advisor.inventory import model as inv
from vram_advisor.plan import rules as plan


def full_inventory(gpus: int = 2) -> dict[str, Any]:
    """Every field the schema knows, filled as a real probe fills them."""
    data = inventory_dict(
        [
            gpu(
                "NVIDIA H100 80GB HBM3",
                81559,
                480,
                uuid=f"GPU-{i}",
                memory_free_bytes=81000 * MIB,
                unified=False,
                pci_bus_id=f"00000000:{i:02X}:00.0",
                compute_capability="9.0",
                memory_bus_width_bits=5120,
                memory_clock_max_mhz=2619,
                memory_bandwidth_bytes_per_s=3352 * 10**9,
                pcie_generation=5,
                pcie_width=16,
                nvlink=True,
                mig_enabled=True,
                mig_devices=[
                    {
                        "uuid": f"MIG-{i}",
                        "memory_total_bytes": 10 * GIB,
                        "memory_free_bytes": 9 * GIB,
                        "memory_reserved_bytes": 0,
                        "gpu_instance_id": 1,
                        "compute_instance_id": 0,
                    }
                ],
                visible=i != 1,
                notes=["a note"],
            )
            for i in range(gpus)
        ],
        ram_gib=2048,
        interconnect=["nvlink", "infiniband:mlx5_0"],
        cpu={"logical_count": 224, "usable_count": 224.0, "quota_cpus": None},
        probe={"version": "0.1.0", "collected_at": "2026-01-01T00:00:00+00:00", "driver_version": "580", "nvml": "ok"},
        notes=["top note"],
    )
    data["ram"]["swap_total_bytes"] = 0
    data["disks"] = [
        {
            "path": "/models",
            "kind": "nvme",
            "total_bytes": 10**12,
            "free_bytes": 10**11,
            "device": "nvme0n1",
            "fstype": "ext4",
            "mountpoint": "/models",
            "model_dir": True,
        }
    ]
    return data


def authoritative(data: Any) -> nodefacts.NodeFacts | None:
    try:
        return nodefacts.from_inventory(inv.from_dict(data, "x"))
    except InventoryError:
        return None


def test_the_fast_path_is_on_and_knows_every_inventory_field():
    # Off means inventory.py gained a field nodefacts does not check yet: add it to the specs in nodefacts.py.
    assert nodefacts.FAST_PATH


@pytest.mark.parametrize("gpus", [0, 1, 2, 8])
def test_a_full_inventory_reads_the_same_both_ways(gpus):
    data = full_inventory(gpus)
    fast = nodefacts.from_json(data)
    assert fast is not None
    assert fast == authoritative(data)
    if gpus:
        assert fast.gpus[0] == ("NVIDIA H100 80GB HBM3", 81559 * MIB, 480 * MIB, False)
        assert fast.interconnect == frozenset({"nvlink", "infiniband"})
        assert fast.hidden_gpus == (1 if gpus > 1 else 0)


# Values of every JSON type, some of them right for some field, most of them wrong.
JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**50),
    st.sampled_from([0, 1, -1, 2.0, 1.5, -3.0, 80 * GIB]),
    # at and beyond the bounds jsonread.FieldReader sets (1 EiB for bytes, 2**53 for integers, finite numbers)
    st.sampled_from(
        [MAX_BYTES, MAX_BYTES + 1, MAX_INTEGER, MAX_INTEGER + 1, -MAX_INTEGER - 1, 10**400, 1e300, float("inf")]
    ),
    st.sampled_from(["", "nvidia", "amd", "nvme", "floppy", "x", "vram-advisor/inventory/v1"]),
    # enumerations in any case and unknown words (read as unknown); text from_dict changes (a lone surrogate)
    st.sampled_from(["NVIDIA", "NVMe", " Intel ", "matrox", "bad\ud800", "caf\u00e9"]),
    st.lists(st.sampled_from(["a", 1, None]), max_size=2),
    st.just({}),
    st.just([{}]),
)


def paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            out.extend(paths(value, (*prefix, key)))
    elif isinstance(data, list):
        for position, value in enumerate(data):
            out.extend(paths(value, (*prefix, position)))
    return out


def mutate(data: Any, path: tuple[Any, ...], value: Any, delete: bool) -> None:
    target = data
    for key in path[:-1]:
        target = target[key]
    if delete and isinstance(target, dict):
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    gpus=st.integers(min_value=0, max_value=3),
    changes=st.lists(st.tuples(st.integers(min_value=0), JSON_VALUES, st.booleans()), min_size=1, max_size=3),
)
def test_never_accepts_what_from_dict_refuses_nor_reads_differently(gpus, changes):
    data = full_inventory(gpus)
    for pick, value, delete in changes:
        places = paths(data)
        mutate(data, places[pick % len(places)], copy.deepcopy(value), delete)
    fast = nodefacts.from_json(data)
    if fast is not None:
        assert fast == authoritative(data)
    # and reading through nodefacts.read always agrees with from_dict, fast path or not
    expected = authoritative(data)
    if expected is None:
        with pytest.raises(InventoryError):
            nodefacts.read(data, "x")
    else:
        assert nodefacts.read(data, "x") == expected


@pytest.mark.parametrize("gpus", [1, 3])
@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["gpus"][-1].update(memory_total_bytes=10**400), r"gpus\[\d\]\.memory_total_bytes"),
        (lambda d: d["gpus"][-1].update(memory_free_bytes=MAX_BYTES + 1), r"gpus\[\d\]\.memory_free_bytes"),
        (lambda d: d["gpus"][-1].update(pcie_width=MAX_INTEGER + 1), r"gpus\[\d\]\.pcie_width"),
        (lambda d: d["gpus"][-1].update(index=-MAX_INTEGER - 1), r"gpus\[\d\]\.index"),
        (lambda d: d["gpus"][-1]["mig_devices"][0].update(gpu_instance_id=2**60), r"mig_devices\[0\]\.gpu_instance_id"),
        (lambda d: d["ram"].update(total_bytes=2**70), r"ram\.total_bytes"),
        (lambda d: d["disks"][0].update(free_bytes=10**400), r"disks\[0\]\.free_bytes"),
        (lambda d: d["cpu"].update(usable_count=float("inf")), r"cpu\.usable_count"),
        (lambda d: d["cpu"].update(quota_cpus=float("nan")), r"cpu\.quota_cpus"),
        (lambda d: d["cpu"].update(logical_count=10**20), r"cpu\.logical_count"),
    ],
)
def test_numbers_out_of_range_are_refused_like_from_dict_refuses_them(gpus, change, field):
    data = full_inventory(gpus)
    change(data)
    assert nodefacts.from_json(data) is None
    with pytest.raises(InventoryError, match=field):
        inv.from_dict(data, "x")
    with pytest.raises(InventoryError, match=field):
        nodefacts.read(data, "x")


@pytest.mark.parametrize("gpus", [1, 3])
def test_enumerations_in_any_case_and_unknown_words_are_read_on_the_fast_path(gpus):
    data = full_inventory(gpus)
    data["gpus"][-1]["vendor"] = "NVIDIA"
    data["gpus"][0]["vendor"] = "matrox"
    data["disks"][0]["kind"] = "NVMe"
    fast = nodefacts.from_json(data)
    assert fast is not None and fast == authoritative(data)


@pytest.mark.parametrize("gpus", [1, 3])
@pytest.mark.parametrize("where", ["hostname", "name", "uuid"])
def test_text_from_dict_would_change_is_read_as_from_dict_reads_it(gpus, where):
    data = full_inventory(gpus)
    if where == "hostname":
        data["hostname"] = "node\ud800"
    else:
        data["gpus"][-1][where] = "GPU\udc00"
    assert nodefacts.from_json(data) is None
    facts = nodefacts.read(data, "x")
    assert facts == authoritative(data)
    assert "\ufffd" in (facts.hostname if where == "hostname" else str(facts.gpus) + str(facts.uuids))


def test_gpus_of_different_shapes_in_one_node_are_read_one_by_one():
    data = full_inventory(3)
    del data["gpus"][2]["uuid"]
    data["gpus"][1]["memory_reserved_bytes"] = None
    fast = nodefacts.from_json(data)
    assert fast is not None and fast == authoritative(data)
    assert fast.gpus[1][2] == 0 and fast.uuids == ("GPU-0", "GPU-1")


def test_a_negative_size_in_any_gpu_is_refused_with_the_field_named():
    data = full_inventory(4)
    data["gpus"][3]["memory_free_bytes"] = -1
    assert nodefacts.from_json(data) is None
    with pytest.raises(InventoryError, match=r"gpus\[3\]\.memory_free_bytes"):
        nodefacts.read(data, "x")


def test_the_planning_inventory_gives_the_machine_of_the_whole_inventory():
    data = full_inventory(8)
    whole = inv.from_dict(data)
    everything_visible = whole.replace(gpus=tuple(g.__class__(**{**g.__dict__, "visible": None}) for g in whole.gpus))
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
