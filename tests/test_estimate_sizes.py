"""Published file sizes beside the table's estimate, ``--sizes published``, and the profile fields behind them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import GIB, gpu, inventory_dict
from vram_advisor.catalog.profiles import load_catalog, packaged_dir
from vram_advisor.catalog.published import published_catalog
from vram_advisor.catalog.releases import with_release
from vram_advisor.catalog.userprofiles import default_catalog
from vram_advisor.core.errors import ProfileError
from vram_advisor.plan import estimate as est


def options_by_key(document: dict) -> dict[tuple[str, str], dict]:  # type: ignore[type-arg]
    return {(o["model"], o["quant"]): o for o in document["options"]}


def test_bits_per_weight_reproduce_the_published_gguf_files() -> None:
    """The profile's bits (ggml-common.h block sizes, the antirez composition) against real files (HF
    antirez/deepseek-v4-gguf): Q4_K experts 153.3 GiB, IQ2_XXS/Q2_K experts 80.8 GiB."""
    flash = default_catalog().model("deepseek-v4-flash")
    assert flash.architecture is not None
    for quant_id, published_gib in (("q4", 153.3), ("q2", 80.8)):
        row = flash.quant(quant_id)
        assert row.bits is not None
        computed = est.computed_weights_bytes(flash.architecture, row.bits)
        assert computed / GIB == pytest.approx(published_gib, rel=0.03)


def test_published_sizes_are_shown_with_a_warning_where_they_differ(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    path = write_inventory(inventory_dict([gpu("NVIDIA H100 80GB HBM3", 81559, 480)] * 2, ram_gib=512))
    document = cli(["check", "--sizes", "table", "--inventory", path, "--json", "--release", "preview"]).json()
    options = options_by_key(document)
    q4 = options[("deepseek-v4-flash", "q4")]
    assert q4["published_weights_bytes"] == 155_095_240_320  # unsloth's UD-Q4_K_XL GGUF of the preview
    assert q4["weights_basis"] == "table" and q4["weights_bytes"] == 80 * 10**9
    assert "larger than the table's 80.0 GB" in q4["size_warning"]
    q2 = options[("deepseek-v4-flash", "q2")]
    assert q2["published_weights_bytes"] == 86_720_111_200  # antirez's IQ2XXS-w2Q2K chat-v2 GGUF (80.8 GiB)
    assert q2["size_warning"] is not None
    fp8 = options[("deepseek-v4-flash", "fp8")]
    assert fp8["published_weights_bytes"] / GIB == pytest.approx(148.66, abs=0.01)
    assert fp8["size_warning"] is None  # 159.6 GB against the table's 159.61 GB
    pro_q4 = options[("deepseek-v4-pro", "q4")]
    assert pro_q4["published_weights_bytes"] is None
    assert "no published file" in pro_q4["size_warning"]


def test_sizes_published_drives_the_verdict_and_the_default_stays_the_table(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    # 2 x H100 = 158.2 GiB usable: the table's Flash Q4 (80 GB, safer 128 GB) is comfortable; the 155.1 GB file
    # scales its figures by 155.1/80 (minimum 186.1 GB), which this machine does not meet.
    path = write_inventory(inventory_dict([gpu("NVIDIA H100 80GB HBM3", 81559, 480)] * 2, ram_gib=512))
    table = cli(["check", "--sizes", "table", "--inventory", path, "--json", "--release", "preview"]).json()
    published = cli(["check", "--inventory", path, "--sizes", "published", "--json", "--release", "preview"]).json()
    assert options_by_key(table)[("deepseek-v4-flash", "q4")]["fit"] == "comfortable"
    assert table["estimate"]["sizes"] == "table"
    q4 = options_by_key(published)[("deepseek-v4-flash", "q4")]
    assert published["estimate"]["sizes"] == "published"
    assert q4["fit"] == "offload"
    size_gb = 155_095_240_320 / 10**9
    assert q4["weights_gb"] == pytest.approx(size_gb, abs=0.01)
    assert q4["min_vram_gb"] == pytest.approx(96 * size_gb / 80, abs=0.1)
    assert q4["weights_basis"] == "published"
    # rows without a published file keep the table's figures
    assert options_by_key(published)[("deepseek-v4-flash", "q5")]["min_vram_gb"] == 128


def test_published_catalog_keeps_rows_without_files() -> None:
    catalog = with_release(default_catalog(), "preview")
    swapped = published_catalog(catalog)
    pro = swapped.model("deepseek-v4-pro")
    assert pro.quant("q6") == catalog.model("deepseek-v4-pro").quant("q6")
    assert pro.quant("fp8").weights_bytes == 865 * 10**9


def test_bad_sizes_option_is_exit_2(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    path = write_inventory(inventory_dict([gpu("NVIDIA H100 80GB HBM3", 81559, 480)]))
    result = cli(["check", "--inventory", path, "--sizes", "bogus"])
    assert result.code == 2 and "--sizes" in result.err


# --------------------------------------------------------------------------------------- profile fields


def _profile_with(tmp_path: Path, change) -> Path:  # type: ignore[no-untyped-def]
    data = json.loads((packaged_dir() / "deepseek-v4.json").read_text(encoding="utf-8"))
    change(data)
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "deepseek-v4.json").write_text(json.dumps(data), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            lambda d: d["models"][1]["architecture"].update(csa_layers=22),
            "models[1].architecture.layers",
            "not the 43 layers",
        ),
        (
            lambda d: d["models"][0]["architecture"]["kv_rows"].update(int4={"main_bytes": 1, "indexer_bytes": 1}),
            "models[0].architecture.kv_rows.int4",
            "unknown KV format",
        ),
        (
            lambda d: d["models"][1]["quants"][3]["published"][0].update(size_gb=1),
            "models[1].quants[3].published[0].bytes",
            "exactly one",
        ),
        (
            lambda d: d["models"][1]["quants"][3]["published"][0].pop("bytes"),
            "models[1].quants[3].published[0].bytes",
            "a download needs its size",
        ),
        (
            lambda d: d["models"][1]["quants"][0]["bits"].update(source="nowhere"),
            "models[1].quants[0].bits.source",
            "not defined under 'sources'",
        ),
        (
            lambda d: d["models"][1]["quants"][0]["bits"].update(experts=0),
            "models[1].quants[0].bits.experts",
            "bits per weight",
        ),
        (
            lambda d: d["models"][0]["architecture"].update(params_total_b=1000),
            "models[0].architecture.params_total_b",
            "routed experts alone",
        ),
    ],
)
def test_profile_errors_name_the_file_and_field(tmp_path: Path, change, field: str, message: str) -> None:  # type: ignore[no-untyped-def]
    folder = _profile_with(tmp_path, change)
    with pytest.raises(ProfileError) as caught:
        load_catalog(folder)
    assert caught.value.message.startswith(f"profiles/deepseek-v4.json: {field}:")
    assert message in caught.value.message


def test_architecture_is_optional(tmp_path: Path) -> None:
    def strip(data: dict) -> None:  # type: ignore[type-arg]
        for model in data["models"]:
            model.pop("architecture")
            for row in model["quants"]:
                row.pop("bits", None)
                row.pop("published", None)

    catalog = load_catalog(_profile_with(tmp_path, strip))
    model = catalog.model("deepseek-v4-flash")
    assert model.architecture is None
    estimate = est.estimate_option(model, model.quant("q4"), 32768)
    assert estimate.kv is None and estimate.placements == ()
    assert estimate.unavailable is not None and "architecture" in estimate.unavailable
