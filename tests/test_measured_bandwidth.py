"""Measured bandwidths (``probe --measure``) after the probe: the inventory fields read and validated, the estimates
preferring them on the machine measured (``--ram-bw``/``--disk-bw`` still first), what-ifs keeping the class
defaults and saying so, and ``cluster`` planning each node with its own figure."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import GIB, gpu, inventory_dict
from vram_advisor.core.errors import InventoryError
from vram_advisor.fleet import nodefacts
from vram_advisor.inventory import bandwidth as bw
from vram_advisor.inventory import model as inv
from vram_advisor.inventory import whatif

RAM_READING = {
    "bytes_per_s": 41_234_567_890,
    "measured": True,
    "method": "memmove copy, bytes read + written",
    "threads": 8,
    "bytes": 3_221_225_472,
    "seconds": 0.078123,
    "rounds": 6,
    "elapsed_seconds": 0.61,
    "path": None,
}
DISK_READING = dict(
    RAM_READING,
    bytes_per_s=3_100_000_000,
    method="O_DIRECT sequential read, 8 MiB blocks, one thread",
    threads=1,
    path="/models/a.gguf",
)


def measured_inventory(ram_gib: float = 128, reading: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """One RTX 4090 with ``ram_gib`` of RAM, its RAM and the NVMe disk under /models measured."""
    data = inventory_dict([gpu("NVIDIA GeForce RTX 4090", 24564)], ram_gib=ram_gib, **extra)
    data["ram"]["bandwidth"] = dict(reading or RAM_READING)
    data["disks"] = [{"path": "/models", "kind": "nvme", "model_dir": True, "read_bandwidth": dict(DISK_READING)}]
    return data


# ------------------------------------------------------------------------------------------------ inventory


def test_the_readings_round_trip():
    data = measured_inventory()
    inventory = inv.from_dict(data)
    assert inventory.ram.bandwidth == inv.BandwidthReading(**RAM_READING)
    assert inventory.disks[0].read_bandwidth == inv.BandwidthReading(**DISK_READING)
    again = inv.to_dict(inv.loads(inv.dumps(inventory)))
    assert again["ram"]["bandwidth"] == RAM_READING and again["disks"][0]["read_bandwidth"] == DISK_READING


def test_readings_are_optional_and_their_fields_too():
    data = inventory_dict([], ram_gib=64)
    assert inv.from_dict(data).ram.bandwidth is None
    data["ram"]["bandwidth"] = {"bytes_per_s": 5 * 10**10}
    reading = inv.from_dict(data).ram.bandwidth
    assert reading is not None and reading.measured is None and reading.threads is None


@pytest.mark.parametrize(
    ("where", "value", "words"),
    [
        ("ram", {"bytes_per_s": -1}, "node.json: ram.bandwidth.bytes_per_s: expected a non-negative number of bytes"),
        ("ram", {"measured": "yes"}, "node.json: ram.bandwidth.measured: expected true or false"),
        ("ram", {"threads": 1.5}, "node.json: ram.bandwidth.threads: expected an integer"),
        ("ram", {"seconds": "fast"}, "node.json: ram.bandwidth.seconds:"),
        ("ram", {"seconds": 2**53 + 1}, "node.json: ram.bandwidth.seconds: 9007199254740993 is out of range"),
        ("ram", "fast", "node.json: ram.bandwidth: expected an object"),
        ("disk", {"bytes": "many"}, "node.json: disks[0].read_bandwidth.bytes:"),
        ("disk", {"rounds": 2**60}, "node.json: disks[0].read_bandwidth.rounds:"),
    ],
)
def test_bad_readings_name_their_field(where, value, words):
    data = measured_inventory()
    if where == "ram":
        data["ram"]["bandwidth"] = value
    else:
        data["disks"][0]["read_bandwidth"] = value
    with pytest.raises(InventoryError) as caught:
        inv.from_dict(json.loads(json.dumps(data)), "node.json")
    assert str(caught.value).startswith(words)


def test_a_bad_reading_is_exit_2_for_check(cli, write_inventory):
    data = measured_inventory()
    data["ram"]["bandwidth"]["threads"] = "eight"
    result = cli(["check", "--json", "--inventory", write_inventory(data)])
    assert result.code == 2 and result.out == ""
    assert "ram.bandwidth.threads" in result.err and result.err.count("\n") == 1


# ------------------------------------------------------------------------------------------------ estimates


def test_the_measured_figure_comes_before_the_class_and_after_the_option():
    reading = inv.BandwidthReading(**RAM_READING)
    unified = bw.Bandwidth(273 * 10**9, "GB10")
    found = bw.ram_bandwidth(None, 128 * GIB, None, reading)
    assert found.bytes_per_s == RAM_READING["bytes_per_s"] and not found.assumed
    assert found.source == "measured by probe --measure (memmove copy, bytes read + written; 8 threads)"
    assert bw.ram_bandwidth(None, 128 * GIB, unified, reading).bytes_per_s == RAM_READING["bytes_per_s"]
    assert bw.ram_bandwidth(10**11, 128 * GIB, None, reading).source == "--ram-bw"
    assert bw.ram_bandwidth(None, 128 * GIB, None, None).assumed  # without a reading: the class
    stated = inv.BandwidthReading(bytes_per_s=10**11)
    assert bw.ram_bandwidth(None, 128 * GIB, None, stated).source == "the inventory's figure (not marked measured)"
    assert bw.ram_bandwidth(None, 128 * GIB, None, inv.BandwidthReading(bytes_per_s=0)).assumed


def test_the_measured_disk_comes_before_its_kind():
    disk = inv.Disk(path="/models", kind="nvme", read_bandwidth=inv.BandwidthReading(**DISK_READING))
    found = bw.disk_bandwidth(disk, None)
    assert found.bytes_per_s == 3_100_000_000 and found.source.startswith("measured by probe --measure (O_DIRECT")
    assert bw.disk_bandwidth(disk, 5 * 10**9).source == "--disk-bw"
    assert bw.disk_bandwidth(disk.replace(read_bandwidth=None), None).bytes_per_s == bw.DISK_BANDWIDTH["nvme"][0]


def estimate(cli, path: str, *extra: str) -> dict[str, Any]:
    args = ["estimate", "deepseek-v4-flash", "--quant", "Q2", "--inventory", path, "--json", *extra]
    result = cli(args)
    assert result.code == 0, result.err
    document: dict[str, Any] = result.json()
    return document


def test_estimates_on_the_machine_measured_use_its_figures(cli, write_inventory):
    path = write_inventory(measured_inventory())
    bandwidths = estimate(cli, path)["machine"]["bandwidths"]
    assert bandwidths["ram"]["bytes_per_s"] == RAM_READING["bytes_per_s"] and bandwidths["ram"]["assumed"] is False
    assert bandwidths["ram"]["source"].startswith("measured by probe --measure")
    assert bandwidths["disk"]["bytes_per_s"] == DISK_READING["bytes_per_s"]
    given = estimate(cli, path, "--ram-bw", "100GB/s", "--disk-bw", "5GB/s")["machine"]["bandwidths"]
    assert given["ram"]["source"] == "--ram-bw" and given["disk"]["source"] == "--disk-bw"


def test_a_slower_measured_memory_gives_a_slower_offload(cli, write_inventory):
    """The figure reaches the speed: the same machine measured at 20 GB/s decodes its RAM-held experts slower than
    at the class's assumed 76.8 GB/s."""
    slow = measured_inventory(reading=dict(RAM_READING, bytes_per_s=20 * 10**9))
    assumed = inventory_dict([gpu("NVIDIA GeForce RTX 4090", 24564)], ram_gib=128)

    def offload_speed(data: dict[str, Any]) -> float:
        document = estimate(cli, write_inventory(data))
        hybrid = next(p for p in document["placements"] if p["placement"] == "gpu+ram")
        return float(hybrid["decode_tokens_per_s"]["upper_bound"])

    assert offload_speed(slow) < offload_speed(assumed)


@pytest.mark.parametrize("what_if", [["--ram", "256GB"], ["--gpus", "2xRTX4090"]])
def test_what_ifs_keep_the_class_defaults_and_say_so(cli, write_inventory, what_if):
    path = write_inventory(measured_inventory())
    ram = estimate(cli, path, *what_if)["machine"]["bandwidths"]["ram"]
    assert ram["assumed"] is True and ram["bytes_per_s"] != RAM_READING["bytes_per_s"]
    assert f"probe --measure's 41.2 GB/s set aside: what-if {' '.join(what_if)} plans another machine" in ram["source"]
    result = cli(["check", "--json", "--inventory", path, *what_if])
    assert result.code == 0, result.err
    notes = result.json()["notes"]
    assert any(
        note.startswith(f"what-if {' '.join(what_if)}: RAM and disk bandwidths are the class defaults")
        for note in notes
    )


def test_set_aside_leaves_inventories_without_measurements_alone():
    plain = inv.from_dict(inventory_dict([], ram_gib=64))
    assert whatif.apply(plain, ram="128GB").notes == ("what-if --ram 128GB: 128.0 GiB of system RAM",)
    measured = inv.from_dict(measured_inventory())
    changed = whatif.apply(measured, ram="256GB")
    assert changed.ram.bandwidth is not None and changed.ram.bandwidth.bytes_per_s is None
    assert changed.disks[0].read_bandwidth is not None and changed.disks[0].read_bandwidth.bytes_per_s is None
    assert whatif.apply(measured) is measured  # no what-if: the measured figures stay


# ------------------------------------------------------------------------------------------------ cluster


def node(hostname: str, rate: int | None) -> dict[str, Any]:
    data = measured_inventory(ram_gib=512, hostname=hostname)
    if rate is None:
        del data["ram"]["bandwidth"]
    else:
        data["ram"]["bandwidth"]["bytes_per_s"] = rate
    return data


def test_cluster_plans_each_node_with_its_measured_figure(cli):
    stream = "".join(
        json.dumps(n) + "\n" for n in (node("slow", 20 * 10**9), node("assumed", None), node("slow-too", 20_4 * 10**8))
    )
    result = cli(["cluster", "-", "--json"], stdin=stream)
    assert result.code == 0, result.err
    speeds = {n["hostname"]: n["recommendation"]["decode_tokens_per_s"] for n in result.json()["nodes"]}
    assert all(speed is not None for speed in speeds.values()), speeds
    assert speeds["slow"]["upper_bound"] < speeds["assumed"]["upper_bound"]
    # each node with its own figure, exactly as check on it alone: 20.4 GB/s reads more than 20
    assert speeds["slow"]["upper_bound"] < speeds["slow-too"]["upper_bound"]
    for name, rate in (("slow", 20 * 10**9), ("slow-too", 20_4 * 10**8)):
        alone = cli(["check", "--json", "--all-gpus", "--inventory", "-"], stdin=json.dumps(node(name, rate))).json()
        assert speeds[name] == alone["recommendation"]["decode_tokens_per_s"]


def test_node_facts_keep_the_node_s_own_figure():
    facts = nodefacts.read(measured_inventory(), "n.json")
    assert facts.ram_bandwidth is not None and facts.ram_bandwidth[1] is True
    assert facts.ram_bandwidth[0] == measured_inventory()["ram"]["bandwidth"]["bytes_per_s"]
    assert nodefacts.read(inventory_dict([], ram_gib=8), "m.json").ram_bandwidth is None
    reading = nodefacts.ram_reading(facts.ram_bandwidth)
    assert reading is not None and reading.bytes_per_s == facts.ram_bandwidth[0] and reading.measured is True
