"""CUDA_VISIBLE_DEVICES (and ROCm's variables) in every form, MIG, and what check says about them."""

from __future__ import annotations

import pytest

from conftest import MIB, gpu, inventory_dict
from vram_advisor.inventory import model as inv
from vram_advisor.inventory import visibility


def uuid(n: int) -> str:
    return f"GPU-{n:08x}-aaaa-bbbb-cccc-{n:012x}"


def four_h100() -> inv.Inventory:
    gpus = [gpu("NVIDIA H100 80GB HBM3", 81559, 480, uuid=uuid(0x10 + i), compute_capability="9.0") for i in range(4)]
    return inv.from_dict(inventory_dict(gpus))


def mixed() -> inv.Inventory:
    """NVML index 0: RTX 3090 (bus 01), index 1: RTX 4090 (bus 21); CUDA's fastest-first puts the 4090 first."""
    return inv.from_dict(
        inventory_dict(
            [
                gpu("NVIDIA GeForce RTX 3090", 24576, 0, uuid=uuid(0x3090), compute_capability="8.6"),
                gpu("NVIDIA GeForce RTX 4090", 24564, 0, uuid=uuid(0x4090), compute_capability="8.9"),
            ]
        )
    )


MIGS = [
    {"uuid": "MIG-aaaaaaaa-0000-0000-0000-000000000001", "memory_total_bytes": 19968 * MIB, "gpu_instance_id": 2,
     "compute_instance_id": 0, "memory_free_bytes": 19000 * MIB},
    {"uuid": "MIG-bbbbbbbb-0000-0000-0000-000000000002", "memory_total_bytes": 9856 * MIB, "gpu_instance_id": 3,
     "compute_instance_id": 0},
]  # fmt: skip


def mig_machine(second_plain: bool = True) -> inv.Inventory:
    gpus = [gpu("NVIDIA A100-SXM4-40GB", 40960, 518, uuid=uuid(0xA100), mig_enabled=True, mig_devices=MIGS)]
    if second_plain:
        gpus.append(gpu("NVIDIA A100-SXM4-40GB", 40960, 518, uuid=uuid(0xA101), mig_enabled=False))
    return inv.from_dict(inventory_dict(gpus))


def visible(inventory: inv.Inventory, **env: str) -> list[int]:
    applied = visibility.apply(inventory, env)
    return [g.index for g in applied.gpus if g.visible]


def notes(inventory: inv.Inventory, **env: str) -> str:
    return " | ".join(visibility.apply(inventory, env).notes)


# ---------------------------------------------------------------------------------------------------- forms


def test_unset_is_every_gpu_and_says_nothing():
    assert visible(four_h100()) == [0, 1, 2, 3]
    assert notes(four_h100()) == ""


def test_empty_is_no_gpu():
    assert visible(four_h100(), CUDA_VISIBLE_DEVICES="") == []
    assert "empty" in notes(four_h100(), CUDA_VISIBLE_DEVICES="")


def test_indices_in_any_order():
    assert visible(four_h100(), CUDA_VISIBLE_DEVICES="2,0") == [0, 2]
    assert "planning on 2 of 4 NVIDIA GPUs (GPU 2, GPU 0)" in notes(four_h100(), CUDA_VISIBLE_DEVICES="2,0")


def test_first_invalid_entry_ends_the_list():
    assert visible(four_h100(), CUDA_VISIBLE_DEVICES="0,2,-1,1") == [0, 2]
    assert "first invalid entry" in notes(four_h100(), CUDA_VISIBLE_DEVICES="0,2,-1,1")


def test_ordinal_past_the_end_ends_the_list():
    assert visible(four_h100(), CUDA_VISIBLE_DEVICES="1,7,2") == [1]


def test_ordinal_read_like_strtoul():
    assert visible(four_h100(), CUDA_VISIBLE_DEVICES="1gpu2, 3") == [1, 3]


def test_garbage_first_is_no_gpu():
    assert visible(four_h100(), CUDA_VISIBLE_DEVICES="gpu0") == []


def test_a_device_named_twice_is_no_device():
    assert visible(four_h100(), CUDA_VISIBLE_DEVICES="0,1,0") == []
    assert visible(four_h100(), CUDA_VISIBLE_DEVICES=f"1,{uuid(0x11)}") == []
    assert "twice" in notes(four_h100(), CUDA_VISIBLE_DEVICES="0,0")


def test_full_uuid_and_unique_prefix():
    assert visible(four_h100(), CUDA_VISIBLE_DEVICES=uuid(0x12)) == [2]
    assert visible(four_h100(), CUDA_VISIBLE_DEVICES="GPU-00000013") == [3]
    assert visible(four_h100(), CUDA_VISIBLE_DEVICES="gpu-00000013") == [3]


def test_ambiguous_uuid_prefix_ends_the_list():
    assert visible(four_h100(), CUDA_VISIBLE_DEVICES="1,GPU-0000001") == [1]
    assert "more than one GPU" in notes(four_h100(), CUDA_VISIBLE_DEVICES="1,GPU-0000001")


def test_unknown_uuid_ends_the_list():
    assert visible(four_h100(), CUDA_VISIBLE_DEVICES="GPU-ffff,0") == []


def test_uuids_and_ordinals_mix():
    assert visible(four_h100(), CUDA_VISIBLE_DEVICES=f"3,{uuid(0x10)}") == [0, 3]


# ------------------------------------------------------------------------------------------ CUDA_DEVICE_ORDER


def test_fastest_first_is_the_default_order_on_mixed_gpus():
    assert visible(mixed(), CUDA_VISIBLE_DEVICES="0") == [1]  # CUDA 0 is the 4090 (8.9) on bus 21
    text = notes(mixed(), CUDA_VISIBLE_DEVICES="0")
    assert "CUDA_DEVICE_ORDER is not PCI_BUS_ID" in text and "0=GPU 1, 1=GPU 0" in text


def test_pci_bus_id_order_is_nvml_order():
    assert visible(mixed(), CUDA_VISIBLE_DEVICES="0", CUDA_DEVICE_ORDER="PCI_BUS_ID") == [0]
    assert "CUDA_DEVICE_ORDER" not in notes(mixed(), CUDA_VISIBLE_DEVICES="0", CUDA_DEVICE_ORDER="PCI_BUS_ID")


def test_uuids_need_no_order_warning():
    assert visible(mixed(), CUDA_VISIBLE_DEVICES=uuid(0x3090)) == [0]
    assert "CUDA_DEVICE_ORDER" not in notes(mixed(), CUDA_VISIBLE_DEVICES=uuid(0x3090))


def test_identical_gpus_need_no_order_warning():
    assert "CUDA_DEVICE_ORDER" not in notes(four_h100(), CUDA_VISIBLE_DEVICES="1")


def test_unknown_capability_falls_back_to_pci_order_with_a_warning():
    inventory = inv.from_dict(inventory_dict([gpu("GPU A", 1000), gpu("GPU B", 2000)]))
    assert visible(inventory, CUDA_VISIBLE_DEVICES="0") == [0]
    assert "read in PCI order" in notes(inventory, CUDA_VISIBLE_DEVICES="0")


# ------------------------------------------------------------------------------------------------------ MIG


def capacity(inventory: inv.Inventory, **env: str) -> int:
    from vram_advisor.plan.rules import usable_vram_bytes

    return usable_vram_bytes(visibility.apply(inventory, env))


def test_unset_with_a_mig_gpu_plans_on_its_first_instance_alone():
    applied = visibility.apply(mig_machine(), {})
    assert [g.visible for g in applied.gpus] == [True, False]
    assert applied.gpus[0].memory_total_bytes == 19968 * MIB
    assert applied.gpus[0].memory_free_bytes == 19000 * MIB
    assert capacity(mig_machine()) == 19968 * MIB
    assert "sees one MIG device" in " ".join(applied.notes)
    assert "19.5 GiB of the GPU's 40.0 GiB" in " ".join(applied.notes)
    assert applied.gpus[0].memory_total_bytes_whole_gpu == 40960 * MIB
    assert applied.gpus[1].memory_total_bytes_whole_gpu is None  # not planned on an instance: its own total stands


def test_a_mig_uuid_selects_that_instance():
    assert capacity(mig_machine(), CUDA_VISIBLE_DEVICES=MIGS[1]["uuid"]) == 9856 * MIB
    assert capacity(mig_machine(), CUDA_VISIBLE_DEVICES="MIG-bbbbbbbb") == 9856 * MIB  # unique prefix


def test_legacy_mig_form():
    assert capacity(mig_machine(), CUDA_VISIBLE_DEVICES=f"MIG-{uuid(0xA100)}/3/0") == 9856 * MIB


def test_the_parent_uuid_means_its_first_instance():
    assert capacity(mig_machine(), CUDA_VISIBLE_DEVICES=uuid(0xA100)) == 19968 * MIB


def test_ordinals_count_non_mig_gpus_first():
    # CUDA enumerates the plain A100 as 0 and the MIG instance as 1
    assert visible(mig_machine(), CUDA_VISIBLE_DEVICES="0") == [1]
    assert capacity(mig_machine(), CUDA_VISIBLE_DEVICES="0") == (40960 - 518) * MIB
    assert capacity(mig_machine(), CUDA_VISIBLE_DEVICES="1") == 19968 * MIB


def test_a_mig_device_hides_the_rest():
    assert visible(mig_machine(), CUDA_VISIBLE_DEVICES="0,1") == [0]
    assert "not visible beside it" in notes(mig_machine(), CUDA_VISIBLE_DEVICES="0,1")


def test_mig_mode_without_instances_is_no_cuda_device():
    inventory = inv.from_dict(inventory_dict([gpu("NVIDIA A100-SXM4-40GB", 40960, 518, mig_enabled=True)]))
    assert visible(inventory) == []
    assert "without MIG instances" in notes(inventory)


def test_all_gpus_ignores_the_variable_but_not_mig():
    applied = visibility.apply(mig_machine(), {"CUDA_VISIBLE_DEVICES": ""}, ignore=True)
    assert [g.visible for g in applied.gpus] == [True, False]
    assert applied.gpus[0].memory_total_bytes == 19968 * MIB
    assert any("--all-gpus" in n for n in applied.notes)


def test_applying_twice_is_applying_once():
    for env in ({}, {"CUDA_VISIBLE_DEVICES": MIGS[1]["uuid"]}, {"CUDA_VISIBLE_DEVICES": "1,0"}):
        once = visibility.apply(mig_machine(), env)
        assert visibility.apply(once, env) == once
    # a saved inventory planned on one instance can be re-planned on another
    first = visibility.apply(mig_machine(), {})
    other = visibility.apply(first, {"CUDA_VISIBLE_DEVICES": MIGS[1]["uuid"]})
    assert other.gpus[0].memory_total_bytes == 9856 * MIB
    assert other.gpus[0].memory_total_bytes_whole_gpu == 40960 * MIB
    assert sum("planning on MIG instance" in n for n in other.notes) == 1
    assert "9.6 GiB of the GPU's 40.0 GiB" in " ".join(other.notes)


def test_a_saved_inventory_is_judged_afresh_under_another_environment():
    """``probe --json`` under one environment, read back (JSON) and applied under another: the earlier notes go, the
    GPU's own total survives the file, and the result is what applying to the fresh inventory gives."""
    for saved_env, env in (
        ({}, {"CUDA_VISIBLE_DEVICES": MIGS[1]["uuid"]}),
        ({"CUDA_VISIBLE_DEVICES": "0"}, {}),
        ({"CUDA_VISIBLE_DEVICES": "1,0", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}, {"CUDA_VISIBLE_DEVICES": ""}),
    ):
        saved = inv.from_dict(inv.to_dict(visibility.apply(mig_machine(), saved_env)))
        again = visibility.apply(saved, env)
        fresh = visibility.apply(mig_machine(), env)
        assert again.notes == fresh.notes, saved_env
        assert [g.visible for g in again.gpus] == [g.visible for g in fresh.gpus]
        assert capacity(saved, **env) == capacity(mig_machine(), **env)
        assert again.gpus[0].memory_total_bytes_whole_gpu == 40960 * MIB


# ------------------------------------------------------------------------------------------- other vendors


def test_amd_follows_hip_and_rocr_not_cuda_when_nvidia_is_present():
    inventory = inv.from_dict(
        inventory_dict(
            [
                gpu("NVIDIA H100 80GB HBM3", 81559, 480),
                gpu("AMD Instinct MI300X", 196592, vendor="amd"),
                gpu("AMD Instinct MI300X", 196592, vendor="amd"),
            ]
        )
    )
    applied = visibility.apply(inventory, {"CUDA_VISIBLE_DEVICES": "0", "HIP_VISIBLE_DEVICES": "1"})
    assert [g.visible for g in applied.gpus] == [True, False, True]
    applied = visibility.apply(inventory, {"ROCR_VISIBLE_DEVICES": "1", "HIP_VISIBLE_DEVICES": "0"})
    assert [g.visible for g in applied.gpus] == [True, False, True]  # HIP indexes what ROCR left


def test_amd_alone_follows_cuda_visible_devices_like_hip():
    inventory = inv.from_dict(
        inventory_dict(
            [gpu("AMD Instinct MI300X", 196592, vendor="amd"), gpu("AMD Instinct MI300X", 196592, vendor="amd")]
        )
    )
    assert [g.visible for g in visibility.apply(inventory, {"CUDA_VISIBLE_DEVICES": "1"}).gpus] == [False, True]


def amd_pair() -> inv.Inventory:
    return inv.from_dict(
        inventory_dict(
            [gpu("AMD Instinct MI300X", 196592, vendor="amd"), gpu("AMD Instinct MI300X", 196592, vendor="amd")]
        )
    )


def test_without_nvidia_gpus_cuda_visible_devices_is_said_of_the_amd_gpus_alone():
    text = notes(amd_pair(), CUDA_VISIBLE_DEVICES="0")
    assert visible(amd_pair(), CUDA_VISIBLE_DEVICES="0") == [0]
    assert "NVIDIA GPUs" not in text and "past the last" not in text
    assert text == (
        "CUDA_VISIBLE_DEVICES=0 (HIP reads it when HIP_VISIBLE_DEVICES is unset and there is no NVIDIA GPU): "
        "planning on 1 of 2 AMD GPUs"
    )


def test_without_nvidia_gpus_hip_visible_devices_is_named_when_it_wins():
    applied = visibility.apply(amd_pair(), {"CUDA_VISIBLE_DEVICES": "0", "HIP_VISIBLE_DEVICES": "1"})
    assert [g.visible for g in applied.gpus] == [False, True]
    assert list(applied.notes) == [
        "CUDA_VISIBLE_DEVICES=0 is not applied: there is no NVIDIA GPU, and the AMD GPUs follow HIP_VISIBLE_DEVICES, "
        "which is set",
        "HIP_VISIBLE_DEVICES=1: planning on 1 of 2 AMD GPUs",
    ]


def test_without_any_nvidia_or_amd_gpu_cuda_visible_devices_is_not_mentioned():
    apple = inv.from_dict(inventory_dict([gpu("Apple M2 Ultra GPU", 147456, vendor="apple", unified=True)]))
    assert notes(apple, CUDA_VISIBLE_DEVICES="0") == ""
    assert notes(inv.from_dict(inventory_dict([])), CUDA_VISIBLE_DEVICES="0") == ""


def test_apple_and_intel_are_always_visible():
    inventory = inv.from_dict(
        inventory_dict([gpu("Apple M2 Ultra GPU", 147456, vendor="apple", unified=True)], ram_gib=192)
    )
    assert visible(inventory, CUDA_VISIBLE_DEVICES="") == [0]


# --------------------------------------------------------------------------------------------------- check


@pytest.mark.parametrize(
    ("value", "count"),
    [(None, 4), ("", 0), ("1", 1), ("0,3", 2), ("0,2,-1,1", 2), (uuid(0x12), 1), ("GPU-00000013,0", 2)],
)
def test_check_plans_on_the_visible_gpus_and_says_so(cli, write_inventory, value, count):
    path = write_inventory(inv.to_dict(four_h100()))
    result = cli(["check", "--inventory", path, "--json"], env={"CUDA_VISIBLE_DEVICES": value})
    assert result.code == 0, result.err
    document = result.json()
    assert document["usable_vram_bytes"] == count * (81559 - 480) * MIB
    assert len(document["visible_gpus"]) == count
    assert document["cuda_visible_devices"] == value
    if value is not None:
        assert any(note.startswith("CUDA_VISIBLE_DEVICES") for note in document["notes"])


def test_check_all_gpus_ignores_the_variable(cli, write_inventory):
    path = write_inventory(inv.to_dict(four_h100()))
    result = cli(["check", "--inventory", path, "--json", "--all-gpus"], env={"CUDA_VISIBLE_DEVICES": "0"})
    assert result.json()["usable_vram_bytes"] == 4 * (81559 - 480) * MIB
    assert result.json()["cuda_visible_devices"] is None


def test_check_human_view_says_gpus_are_hidden(cli, write_inventory):
    path = write_inventory(inv.to_dict(four_h100()))
    result = cli(["check", "--inventory", path, "--details"], env={"CUDA_VISIBLE_DEVICES": "0"})
    assert result.code == 0, result.err
    assert "3 more GPU(s) hidden by CUDA_VISIBLE_DEVICES" in result.out
    assert "CUDA_VISIBLE_DEVICES=0: planning on 1 of 4 NVIDIA GPUs" in result.out.replace("\n", " ")


@pytest.mark.parametrize(("value", "shown"), [(None, [0, 1, 2, 3]), ("1,3", [1, 3]), ("", [])])
def test_what_if_gpus_are_filtered_by_the_variable_and_all_gpus_ignores_it(cli, write_inventory, value, shown):
    """``--gpus`` replaces the probed GPUs, which CUDA_VISIBLE_DEVICES would filter, so it filters these too; the
    probed machine (two RTX 4090) plays no part either way."""
    path = write_inventory(inventory_dict([gpu("NVIDIA GeForce RTX 4090", 24564, 300)] * 2))
    args = ["check", "--json", "--inventory", path, "--gpus", "4xH100-80GB"]
    document = cli(args, env={"CUDA_VISIBLE_DEVICES": value}).json()
    assert document["usable_vram_bytes"] == len(shown) * (81559 - 480) * MIB
    assert document["visible_gpus"] == shown
    everything = cli([*args, "--all-gpus"], env={"CUDA_VISIBLE_DEVICES": value}).json()
    assert everything["usable_vram_bytes"] == 4 * (81559 - 480) * MIB
    assert [g["name"] for g in everything["inventory"]["gpus"]] == ["NVIDIA H100 80GB HBM3"] * 4
