"""The small JSON helpers of ``report`` (shared by ``check``, ``cluster`` and ``models``): table figures written as
whole numbers or with 2 decimals, including the sizes of the smaller models."""

from __future__ import annotations

from conftest import gpu, inventory_dict
from vram_advisor.catalog.userprofiles import default_catalog
from vram_advisor.report import check as report


def test_json_number_writes_whole_figures_as_integers_and_others_with_two_decimals():
    assert report.json_number(1024.0) == 1024 and isinstance(report.json_number(1024.0), int)
    assert report.json_number(1228.8) == 1228.8
    assert report.json_number(4.683075271) == 4.68


def test_smaller_model_sizes_in_check_json_have_at_most_two_decimals(cli, write_inventory):
    catalogue = {(m.name, m.quant): m.size_gb for m in default_catalog().local_models}
    assert any(round(size, 2) != size for size in catalogue.values())  # the catalogue has finer figures
    inventory = inventory_dict([gpu("NVIDIA GeForce RTX 4090", 24564, 300)], ram_gib=64)
    document = cli(["check", "--json", "--inventory", write_inventory(inventory)]).json()
    smaller = document["alternatives"]["smaller_models"]
    assert smaller
    for model in smaller:
        exact = catalogue[(model["name"], model["quant"])]
        assert model["size_gb"] == report.json_number(exact)
    assert any(round(catalogue[(m["name"], m["quant"])], 2) != catalogue[(m["name"], m["quant"])] for m in smaller)
