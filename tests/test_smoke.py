from conftest import inventory_dict


def test_check_json_on_an_inventory(cli, write_inventory):
    path = write_inventory(inventory_dict([{"name": "NVIDIA H100 80GB HBM3", "memory_total_bytes": 81559 * 2**20}]))
    result = cli(["check", "--inventory", path, "--json"])
    assert result.code == 0, result.err
    assert result.json()["tier"]["vram_gb"] == 80
