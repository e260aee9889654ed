"""``cluster --ray`` against a real local Ray cluster of two nodes (two raylets on this machine), and the probe task
itself on a fake NVIDIA driver with CUDA_VISIBLE_DEVICES set to hide everything."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "probe"))

from fake_machine import machine
from fake_nvml import eight_h100, install

import vram_advisor.probe
from vram_advisor.fleet import ray as ray_scan


def test_the_probe_task_reports_every_gpu_whatever_cuda_visible_devices_says(monkeypatch, tmp_path):
    machine(tmp_path)
    monkeypatch.setattr(vram_advisor.probe, "DEFAULT_ROOT", tmp_path)
    install(monkeypatch, eight_h100())
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # what Ray gives a task that asked for no GPU
    document = json.loads(ray_scan.probe_node())
    assert len(document["gpus"]) == 8
    assert all(gpu["visible"] is not False for gpu in document["gpus"])
    assert "\n" not in ray_scan.probe_node()


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
    cluster.wait_for_nodes()
    yield ray
    ray.shutdown()
    cluster.shutdown()


@pytest.mark.ray
def test_one_probe_per_alive_node_even_when_every_cpu_is_taken(cli, ray_cluster):
    ray = ray_cluster
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    @ray.remote(num_cpus=1)
    class Hog:
        def ready(self) -> bool:
            return True

    alive = [node for node in ray.nodes() if node["Alive"]]
    assert len(alive) == 2
    hogs = [
        Hog.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)).remote()
        for node in alive
    ]
    ray.get([hog.ready.remote() for hog in hogs], timeout=120)
    try:
        result = cli(["cluster", "--ray", "--json", "--ray-timeout", "120"])
    finally:
        for hog in hogs:
            ray.kill(hog)
    assert result.code == 0, result.err
    document = result.json()
    assert document["totals"]["nodes"] == 2
    sources = sorted(node["source"] for node in document["nodes"])
    ids = sorted(node["NodeID"][:12] for node in alive)
    assert [source.rsplit("(", 1)[1].rstrip(")") for source in sources] == ids
    assert all(source.startswith("ray:") for source in sources)
    names = [node["hostname"] for node in document["nodes"]]
    assert len(set(names)) == 2  # both raylets run on this machine: same hostname, still two nodes
    assert "skipped" not in result.err


@pytest.mark.ray
def test_an_address_after_ray_is_not_taken_for_a_file(cli, ray_cluster):
    result = cli(["cluster", "--ray", "auto", "--csv"])
    assert result.code == 0, result.err
    assert len(result.out.strip().splitlines()) == 3  # header and the two nodes


def test_without_ray_installed_the_error_is_one_line(cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    result = cli(["cluster", "--ray"])
    assert result.code == 2
    assert result.err.strip() == (
        'vram-advisor: error: --ray needs Ray on this machine: pip install "ray>=2.40" (or pip install ".[ray]" from '
        "the checkout)"
    )
