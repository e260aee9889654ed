"""A fleet is judged once per hardware class and step of spare RAM (``fleet.ramsteps``), yet every node's answer is
the one ``check`` gives on that node alone: a property over random fleets of unlike nodes, with partial expert
offload, several users and measured bandwidths among them."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import GIB, gpu, inventory_dict
from vram_advisor.cli import main

#: GPU sets where the steps matter: the experts of some layers fit beside the rest (partial offload), CPU only, a
#: unified machine, GPUs of two sizes.
HARDWARE = (
    [gpu("NVIDIA GeForce RTX 3090", 24576)] * 3,
    [gpu("NVIDIA H100 80GB HBM3", 81559, 480)],
    [gpu("NVIDIA GeForce RTX 4090", 24564, 300)],
    [gpu("NVIDIA GeForce RTX 4090", 24564, 300), gpu("NVIDIA GeForce RTX 3090", 24576)],
    [gpu("NVIDIA H100 80GB HBM3", 81559, 480)] * 8,
    [],
    [gpu("NVIDIA GB10", 119 * 1024, unified=True)],
)


def run(args: list[str], stdin: str = "") -> dict[str, Any]:
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
    finally:
        sys.stdin = saved
    assert code == 0, err.getvalue()
    return dict(json.loads(out.getvalue()))


#: A fleet: one or two kinds of hardware, each node with its own RAM (where the steps are), mostly unmeasured.
nodes = st.lists(st.integers(min_value=0, max_value=len(HARDWARE) - 1), min_size=1, max_size=2).flatmap(
    lambda kinds: st.lists(
        st.tuples(
            st.sampled_from(kinds),
            st.integers(min_value=8 * GIB, max_value=640 * GIB),
            st.sampled_from([None, None, None, 40 * 10**9, 104_987_654_321]),  # B/s measured by probe --measure
        ),
        min_size=3,
        max_size=9,
    )
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleet=nodes, users=st.sampled_from(["1", "1", "4"]), context=st.sampled_from(["32k", "128k"]))
def test_every_node_gets_the_answer_of_a_lone_check(
    tmp_path_factory: Any, fleet: list[tuple[int, int, int | None]], users: str, context: str
) -> None:
    folder: Path = tmp_path_factory.mktemp("fleet")
    inventories = []
    for number, (hardware, ram_bytes, measured) in enumerate(fleet):
        node = inventory_dict(HARDWARE[hardware], ram_gib=ram_bytes / GIB, hostname=f"node-{number}")
        if measured is not None:
            node["ram"]["bandwidth"] = {"bytes_per_s": measured, "measured": True, "method": "copy"}
        inventories.append(node)
    stdin = "".join(json.dumps(node) + "\n" for node in inventories)
    planned = run(["cluster", "-", "--json", "--users", users, "--context", context], stdin)["nodes"]
    assert len(planned) == len(inventories)
    for node, answer in zip(inventories, planned, strict=True):
        path = folder / f"{node['hostname']}.json"
        path.write_text(json.dumps(node))
        alone = run(["check", "--json", "--all-gpus", "--inventory", str(path), "--users", users, "--context", context])
        assert answer["recommendation"] == alone["recommendation"], node["hostname"]
        assert answer["stretch"] == alone["stretch"], node["hostname"]
        assert answer["spare_ram_bytes"] == alone["spare_ram_bytes"]


def test_nodes_of_one_class_with_their_own_ram_are_judged_once_per_step() -> None:
    from vram_advisor.catalog.userprofiles import default_catalog
    from vram_advisor.fleet import planner as fleet
    from vram_advisor.fleet.nodefacts import from_inventory
    from vram_advisor.inventory import model as inv

    planner = fleet.ClusterPlanner(default_catalog())
    judged = []
    original = planner._judged

    def counting(machine: Any, inventory: Any) -> Any:
        before = sum(len(steps.judged) for steps in planner._steps.values())
        found = original(machine, inventory)
        judged.append(sum(len(steps.judged) for steps in planner._steps.values()) - before)
        return found

    planner._judged = counting  # type: ignore[method-assign]
    for number in range(300):  # 300 RTX 3090 boxes, no two with the same RAM, 64 to 363 GiB
        node = inventory_dict([gpu("NVIDIA GeForce RTX 3090", 24576)] * 3, ram_gib=64 + number + number / 7)
        node["hostname"] = f"box-{number}"
        planner.add((f"box-{number}", from_inventory(inv.from_dict(node))))
    assert len(planner.nodes) == 300
    # the RAM sizes span a few machine classes (their assumed RAM bandwidth differs): one set of steps each
    classes = list(planner._steps.values())
    assert 1 <= len(classes) <= 4
    assert sum(judged) == sum(len(steps.judged) for steps in classes)  # one judgement per step met, no more
    assert all(len(steps.judged) <= len(steps.thresholds) + 1 for steps in classes)
    assert sum(judged) < 40  # rather than 300


def test_a_fine_grid_of_ram_sizes_gives_each_node_its_lone_answer(tmp_path: Path) -> None:
    # three RTX 3090s: Flash runs with part of its experts on the GPUs once the RAM holds the rest; every 3 GiB from
    # 48 to 240 GiB crosses each step where a placement starts to fit
    inventories = []
    for number, ram_gib in enumerate(range(48, 241, 3)):
        node = inventory_dict(
            [gpu("NVIDIA GeForce RTX 3090", 24576)] * 3, ram_gib=ram_gib + 0.37, hostname=f"n{number}"
        )
        inventories.append(node)
    planned = run(["cluster", "-", "--json"], "".join(json.dumps(node) + "\n" for node in inventories))["nodes"]
    kinds = set()
    for node, answer in zip(inventories, planned, strict=True):
        path = tmp_path / f"{node['hostname']}.json"
        path.write_text(json.dumps(node))
        alone = run(["check", "--json", "--all-gpus", "--inventory", str(path)])
        assert answer["recommendation"] == alone["recommendation"], node["hostname"]
        assert answer["stretch"] == alone["stretch"], node["hostname"]
        kinds.add((alone["recommendation"]["kind"], alone["recommendation"]["quant"]))
    assert len(kinds) >= 3  # the grid does cross steps: api, then offload plans of more than one option
