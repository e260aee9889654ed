"""``--from-k8s`` and ``--from-slurm`` on recorded real-format outputs (tests/fixtures/cluster): `kubectl get nodes
-o json` with GPU Feature Discovery labels, and Slurm 24.05's `scontrol show nodes --json`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import FIXTURES, MIB, gpu, inventory_dict
from vram_advisor.core import units
from vram_advisor.fleet.readers import k8s, slurm

K8S = FIXTURES / "cluster" / "k8s-nodes.json"
SLURM = FIXTURES / "cluster" / "slurm-nodes.json"
H100_USABLE = 8 * (81559 - 480) * MIB


def nodes_by_name(document: dict) -> dict[str, dict]:
    return {node["hostname"]: node for node in document["nodes"]}


# ----------------------------------------------------------------------------------------------- Kubernetes


def test_kubernetes_nodes_from_gfd_labels(cli):
    result = cli(["cluster", "--sizes", "table", "--from-k8s", str(K8S), "--json"])
    assert result.code == 0, result.err
    document = result.json()
    nodes = nodes_by_name(document)
    assert set(nodes) == {"cp-1", "gpu-h100-a", "gpu-h100-b", "gpu-a10g", "gpu-t4"}
    # nvidia.com/gpu.memory is NVML's total in MiB (81559); the H100's reserved 480 MiB comes from the card table
    assert nodes["gpu-h100-a"]["usable_vram_bytes"] == H100_USABLE
    assert nodes["gpu-h100-a"]["recommendation"]["quant"] == "q4"
    assert nodes["gpu-h100-a"]["interconnect"] == ["rdma"]
    # time-sliced A10G: one physical GPU of 23028 MiB, not two
    assert nodes["gpu-a10g"]["gpu_count"] == 1 and nodes["gpu-a10g"]["usable_vram_bytes"] == 23028 * MIB
    assert nodes["gpu-t4"]["usable_vram_bytes"] == (15360 - 448) * MIB
    assert nodes["cp-1"]["gpu_count"] == 0
    # capacity.memory "2113459340Ki" read as a Kubernetes quantity
    spare = nodes["gpu-h100-a"]["spare_ram_bytes"]
    assert spare == 2113459340 * 1024 - int(2113459340 * 1024 * 0.10)
    assert document["multi_node"][0]["nodes"] == ["gpu-h100-a", "gpu-h100-b"]
    assert "items[5] (gpu-unlabelled)" in result.err and "no GPU Feature Discovery labels" in result.err
    labels = {g["label"] for g in document["groups"]}
    assert "8 × NVIDIA H100 80GB HBM3" in labels and "1 × NVIDIA A10G" in labels


def test_kubernetes_nodes_group_with_probed_nodes(cli, tmp_path: Path):
    probed = inventory_dict(
        [gpu("NVIDIA H100 80GB HBM3", 81559, 480, uuid=f"GPU-{i}") for i in range(8)], hostname="probed"
    )
    result = cli(["cluster", "-", "--from-k8s", str(K8S), "--json"], stdin=json.dumps(probed) + "\n")
    assert result.code == 0, result.err
    groups = {g["label"]: g["nodes"] for g in result.json()["groups"]}
    assert groups["8 × NVIDIA H100 80GB HBM3"] == 3


def test_one_node_object_and_stdin(cli):
    listing = json.loads(K8S.read_text())
    result = cli(["cluster", "--from-k8s", "-", "--json"], stdin=json.dumps(listing["items"][1]))
    assert result.code == 0, result.err
    assert [n["hostname"] for n in result.json()["nodes"]] == ["gpu-h100-a"]


def test_bad_kubernetes_input(cli, tmp_path: Path):
    broken = tmp_path / "nodes.json"
    broken.write_text('{"kind": "List", "items": [')
    result = cli(["cluster", "--from-k8s", str(broken)])
    assert result.code == 2
    assert result.err.startswith(f"vram-advisor: error: no inventory could be planned: {broken}: not valid JSON")
    assert "kubectl get nodes -o json" in result.err and len(result.err.splitlines()) == 1
    listing = json.loads(K8S.read_text())
    node = listing["items"][1]
    node["metadata"]["labels"]["nvidia.com/gpu.memory"] = "lots"
    node["status"]["capacity"]["memory"] = "2Ti"
    listing["items"] = [node, listing["items"][2]]
    broken.write_text(json.dumps(listing))
    result = cli(["cluster", "--from-k8s", str(broken), "--json"])
    assert result.code == 0
    assert "items[0] (gpu-h100-a): metadata.labels['nvidia.com/gpu.memory']: expected a whole number" in result.err


@pytest.mark.parametrize(
    ("product", "name"),
    [
        ("NVIDIA-H100-80GB-HBM3", "NVIDIA H100 80GB HBM3"),
        ("NVIDIA-H100-80GB-HBM3-SHARED", "NVIDIA H100 80GB HBM3"),
        ("NVIDIA-A100-SXM4-40GB-MIG-1g.5gb", "NVIDIA A100-SXM4-40GB MIG 1g.5gb"),
        ("Tesla-T4", "Tesla T4"),
        ("NVIDIA-RTX-4000-Ada-Generation", "NVIDIA RTX 4000 Ada Generation"),
    ],
)
def test_gfd_product_names(product, name):
    assert k8s._gpu_name(product)[0] == name


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2113459340Ki", 2113459340 * 1024),
        ("1Ti", 2**40),
        ("900Gi", 900 * 2**30),
        ("16G", 16 * 10**9),
        ("129e6", 129 * 10**6),
        ("123", 123),
        ("1.5Gi", 3 * 2**29),
    ],
)
def test_kubernetes_quantities(text, value):
    assert units.parse_k8s_quantity(text) == value


@pytest.mark.parametrize("text", ["", "12 Gi", "Gi", "-1Gi", "1GB", "0x10"])
def test_bad_kubernetes_quantities(text):
    with pytest.raises(units.SizeError):
        units.parse_k8s_quantity(text)


# ---------------------------------------------------------------------------------------------------- Slurm


def test_slurm_nodes_from_gres_and_real_memory(cli):
    result = cli(["cluster", "--from-slurm", str(SLURM), "--json"])
    assert result.code == 0, result.err
    document = result.json()
    nodes = nodes_by_name(document)
    assert set(nodes) == {"dgx01", "dgx02", "hgx03", "l40s01", "cpu01"}
    assert nodes["dgx01"]["usable_vram_bytes"] == H100_USABLE
    # AutoDetect=nvml names the type after the NVML name: nvidia_h100_80gb_hbm3 is the same card
    assert nodes["hgx03"]["usable_vram_bytes"] == H100_USABLE
    assert nodes["l40s01"]["usable_vram_bytes"] == 4 * (46068 - 609) * MIB
    assert nodes["cpu01"]["gpu_count"] == 0
    # real_memory is in MB of 2^20 bytes
    assert nodes["dgx01"]["spare_ram_bytes"] == 2063937 * MIB - int(2063937 * MIB * 0.10)
    assert nodes["dgx01"]["interconnect"] == ["nvlink", "infiniband"]
    top = document["multi_node"][0]
    assert (top["model"], top["quant"], top["nodes"]) == ("deepseek-v4-pro", "fp8", ["dgx01", "dgx02"])
    assert top["interconnect"] == ["nvlink", "infiniband"]
    assert "nodes[4] (old01): gres: unknown GPU type 'tesla'" in result.err
    assert "nodes[5] (a100x): gres: GPU type 'a100' could be A100-40GB or A100-80GB" in result.err


@pytest.mark.parametrize(
    ("gres", "entries"),
    [
        ("gpu:h100:8(S:0-1)", [("h100", 8)]),
        ("gpu:a100:2,gpu:v100:2", [("a100", 2), ("v100", 2)]),
        ("gpu:h100:4(S:0,1),shard:h100:16", [("h100", 4)]),
        ("gpu:nvidia_h100_80gb_hbm3:8(S:0-1)", [("nvidia_h100_80gb_hbm3", 8)]),
        ("gpu:8", [(None, 8)]),
        ("gpu", [(None, 1)]),
        ("(null)", []),
        ("", []),
        ("mps:400", []),
    ],
)
def test_gres_strings(gres, entries):
    assert slurm.parse_gres(gres) == entries


def test_slurm_without_a_gpu_type_or_memory_is_reported(cli, tmp_path: Path):
    listing = json.loads(SLURM.read_text())
    first, second = listing["nodes"][0], listing["nodes"][1]
    first["gres"] = "gpu:8(S:0-1)"
    second["real_memory"] = 1
    listing["nodes"] = [first, second, listing["nodes"][3]]
    path = tmp_path / "nodes.json"
    path.write_text(json.dumps(listing))
    result = cli(["cluster", "--from-slurm", str(path), "--json"])
    assert result.code == 0
    assert "nodes[0] (dgx01): gres: 'gpu:8(S:0-1)' names no GPU type" in result.err
    assert "nodes[1] (dgx02): real_memory: 1 MB is not a real memory size" in result.err
    assert [n["hostname"] for n in result.json()["nodes"]] == ["l40s01"]


def test_older_slurm_json_with_wrapped_numbers_and_a_state_string(cli, tmp_path: Path):
    listing = {
        "nodes": [
            {"name": "n1", "state": "idle", "gres": "gpu:h100:8", "real_memory": {"set": True, "number": 1031000}}
        ]
    }
    path = tmp_path / "nodes.json"
    path.write_text(json.dumps(listing))
    result = cli(["cluster", "--from-slurm", str(path), "--json"])
    assert result.code == 0, result.err
    assert result.json()["nodes"][0]["usable_vram_bytes"] == H100_USABLE


# ------------------------------------------------------------------------------------- numbers in node labels

HUGE = "9" * 5000


@pytest.mark.parametrize("label", ["nvidia.com/gpu.count", "nvidia.com/gpu.memory"])
@pytest.mark.parametrize(
    ("value", "why"),
    [
        (HUGE, "a number of 5,000 digits is out of range"),
        ("²", "expected a whole number, got '²'"),
        ("٣", "expected a whole number"),
        ("-1", "expected a whole number, got '-1'"),
    ],
)
def test_a_label_number_no_parser_takes_skips_that_node_and_the_rest_is_planned(cli, tmp_path: Path, label, value, why):
    listing = json.loads(K8S.read_text())
    listing["items"][1]["metadata"]["labels"][label] = value  # gpu-h100-a
    path = tmp_path / "nodes.json"
    path.write_text(json.dumps(listing))
    result = cli(["cluster", "--from-k8s", str(path), "--json"])
    assert result.code == 0, result.err
    document = result.json()
    assert "gpu-h100-a" not in nodes_by_name(document) and "gpu-h100-b" in nodes_by_name(document)
    assert f"skipped {path}:items[1] (gpu-h100-a): metadata.labels[{label!r}]: {why}" in result.err
    assert document["skipped_count"] == 2  # this node and the fixture's GPU node without GFD labels
    assert max(len(line) for line in result.err.splitlines()) < 400


def test_only_bad_label_numbers_is_exit_2_in_one_short_line(cli, tmp_path: Path):
    listing = json.loads(K8S.read_text())
    node = listing["items"][1]
    node["metadata"]["labels"]["nvidia.com/gpu.count"] = HUGE
    path = tmp_path / "nodes.json"
    path.write_text(json.dumps({"kind": "List", "items": [node]}))
    result = cli(["cluster", "--from-k8s", str(path)])
    assert result.code == 2
    assert result.err.startswith("vram-advisor: error: no inventory could be planned: ")
    assert len(result.err.splitlines()) == 1 and len(result.err) < 400


@pytest.mark.parametrize(
    ("gres", "why"),
    [
        (f"gpu:h100:{HUGE}", "the GPU count: a number of 5,000 digits is out of range (0..4096)"),
        (f"gpu:{HUGE}", "the GPU count: a number of 5,000 digits is out of range (0..4096)"),
        ("gpu:h100:²", "the GPU count: expected a whole number, got '²'"),
        ("gpu:h100:5000", "the GPU count: 5000 is out of range (0..4096)"),
    ],
)
def test_a_gres_count_no_parser_takes_skips_that_node_and_the_rest_is_planned(cli, tmp_path: Path, gres, why):
    listing = json.loads(SLURM.read_text())
    listing["nodes"][0]["gres"] = gres  # dgx01
    path = tmp_path / "nodes.json"
    path.write_text(json.dumps(listing))
    result = cli(["cluster", "--from-slurm", str(path), "--json"])
    assert result.code == 0, result.err
    assert "dgx01" not in nodes_by_name(result.json()) and "dgx02" in nodes_by_name(result.json())
    line = next(line for line in result.err.splitlines() if "nodes[0] (dgx01)" in line)
    assert line.startswith(f"vram-advisor: skipped {path}:nodes[0] (dgx01): gres: gres entry '") and line.endswith(why)
    assert len(line) < 400


# ------------------------------------------------------------------- numbers the JSON reader refuses, in one node

BAD_NODE = "bad-node"


def _listing_with_raw(listing: dict, raw: str) -> str:
    """The listing as JSON text, with the placeholder ``"@@RAW@@"`` replaced by ``raw`` (text json.dumps cannot
    write: 5000 digits, NaN)."""
    return json.dumps(listing).replace('"@@RAW@@"', raw)


RAW_NUMBERS = [
    (HUGE, "a number of 5000 characters (at most 100)"),
    ("NaN", "NaN is not a number JSON allows"),
    ("-Infinity", "-Infinity is not a number JSON allows"),
    ("1e999", "a number too large for a float"),
]


@pytest.mark.parametrize("field", ["real_memory", "cores"])
@pytest.mark.parametrize(("raw", "why"), RAW_NUMBERS)
def test_a_slurm_node_with_a_number_json_refuses_is_skipped_and_the_rest_is_planned(cli, tmp_path, field, raw, why):
    """Issue 19: one node's ``"real_memory": <5000 digits>`` or ``NaN`` (even in a field the reader does not use)
    costs that node only, named with the field; before, the whole listing was refused (exit 2)."""
    listing = json.loads(SLURM.read_text())
    bad = dict(listing["nodes"][0], name=BAD_NODE, hostname=BAD_NODE)
    bad[field] = "@@RAW@@"
    listing["nodes"].append(bad)
    path = tmp_path / "nodes.json"
    path.write_text(_listing_with_raw(listing, raw))
    result = cli(["cluster", "--from-slurm", str(path), "--json"])
    assert result.code == 0, result.err
    assert BAD_NODE not in nodes_by_name(result.json()) and {"dgx01", "dgx02"} <= set(nodes_by_name(result.json()))
    position = len(listing["nodes"]) - 1
    assert f"vram-advisor: skipped {path}:nodes[{position}] ({BAD_NODE}): {field}: {why}\n" in result.err
    assert {"source": f"{path}:nodes[{position}] ({BAD_NODE})", "reason": f"{field}: {why}"} in result.json()["skipped"]


@pytest.mark.parametrize(("raw", "why"), RAW_NUMBERS)
def test_a_kubernetes_node_with_a_number_json_refuses_is_skipped_and_the_rest_is_planned(cli, tmp_path, raw, why):
    listing = json.loads(K8S.read_text())
    bad = json.loads(json.dumps(listing["items"][1]))  # gpu-h100-a
    bad["metadata"]["name"] = BAD_NODE
    bad["status"]["daemonEndpoints"] = {"kubeletEndpoint": {"Port": "@@RAW@@"}}
    listing["items"].insert(0, bad)
    path = tmp_path / "nodes.json"
    path.write_text(_listing_with_raw(listing, raw))
    result = cli(["cluster", "--from-k8s", str(path), "--json"])
    assert result.code == 0, result.err
    assert BAD_NODE not in nodes_by_name(result.json()) and "gpu-h100-a" in nodes_by_name(result.json())
    field = "status.daemonEndpoints.kubeletEndpoint.Port"
    assert f"vram-advisor: skipped {path}:items[0] ({BAD_NODE}): {field}: {why}\n" in result.err


def test_a_node_that_is_itself_a_refused_number_is_skipped(cli, tmp_path: Path):
    listing = json.loads(SLURM.read_text())
    listing["nodes"].insert(0, "@@RAW@@")
    path = tmp_path / "nodes.json"
    path.write_text(_listing_with_raw(listing, "NaN"))
    result = cli(["cluster", "--from-slurm", str(path), "--json"])
    assert result.code == 0, result.err
    assert f"vram-advisor: skipped {path}:nodes[0]: NaN is not a number JSON allows\n" in result.err
    assert "dgx01" in nodes_by_name(result.json())


@pytest.mark.parametrize(
    ("kind", "text", "why"),
    [
        # a refused number outside the node list: the document itself is wrong
        ("--from-slurm", '{"meta": {"slurm": {"version": NaN}}, "nodes": [@@NODE@@]}', "meta.slurm.version: NaN"),
        # the document's own limits (nesting, here inside a node) still refuse it whole
        ("--from-slurm", '{"nodes": [@@NODE@@, {"name": "deep", "x": ' + "[" * 70 + "]" * 70 + "}]}", "nested more"),
        # broken structure: the top level is not JSON
        ("--from-slurm", '{"nodes": [@@NODE@@, {"name": "cut", "real_memory": 5', "not valid JSON"),
        ("--from-k8s", '{"kind": "List", "items": [{"metadata": {"name": "n"}}], "x": 1e999}', "x: a number too large"),
    ],
)
def test_what_is_wrong_outside_one_node_still_refuses_the_listing(cli, tmp_path: Path, kind, text, why):
    good = json.dumps(json.loads(SLURM.read_text())["nodes"][0])
    path = tmp_path / "nodes.json"
    path.write_text(text.replace("@@NODE@@", good))
    result = cli(["cluster", kind, str(path), "--json"])
    assert result.code == 2
    assert result.err.startswith(f"vram-advisor: error: no inventory could be planned: {path}: ")
    assert why in result.err and len(result.err.splitlines()) == 1
