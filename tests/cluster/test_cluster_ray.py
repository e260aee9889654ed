"""``cluster --ray`` against a real local Ray cluster of two nodes (two raylets on this machine), and the probe task
itself on a fake NVIDIA driver with CUDA_VISIBLE_DEVICES set to hide everything."""

from __future__ import annotations

import json
import os
import subprocess
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


@pytest.mark.ray
def test_no_ray_at_the_address_ends_in_one_line_bounded_by_the_timeout(tmp_path):
    """``ray.init`` retries an address where no GCS answers for ten minutes and more; --ray-timeout bounds that
    first connection too. Run as its own process (Ray reads its settings once per process); the 60 s limit is the
    subprocess's, far above the bound, not a timing assertion."""
    pytest.importorskip("ray")
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAY_")}
    result = subprocess.run(
        [sys.executable, "-m", "vram_advisor", "cluster", "--ray", "127.0.0.1:1", "--ray-timeout", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,  # not a folder holding Ray's /tmp/ray, which would shadow the package
        env=env,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # Ray's own retry lines are held back
    assert lines[0].startswith("vram-advisor: error: --ray: cannot connect to the Ray cluster at '127.0.0.1:1'")


def test_the_connection_settings_stay_within_the_timeout_and_rays_defaults():
    assert ray_scan.connect_settings(2) == {
        "RAY_gcs_rpc_server_connect_timeout_s": "1",
        "RAY_py_gcs_connect_timeout_s": "1",
        "RAY_NUM_REDIS_GET_RETRIES": "1",
        "RAY_CLIENT_INITIAL_CONNECTION_TIMEOUT_S": "1",
        "RAY_CLIENT_MAX_CONNECTION_TIMEOUT_S": "1",
    }
    # the default 120 s: Ray's own waits, and as many tries of about 41 s as fit in 120 s
    settings = ray_scan.connect_settings(120)
    assert settings["RAY_gcs_rpc_server_connect_timeout_s"] == "5"
    assert settings["RAY_py_gcs_connect_timeout_s"] == "30"
    assert settings["RAY_NUM_REDIS_GET_RETRIES"] == "2"
    assert ray_scan.connect_settings(10**6)["RAY_NUM_REDIS_GET_RETRIES"] == "20"
