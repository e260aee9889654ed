"""The V4 family since the article (issue 15): releases as data (preview, 0731, 0813) with --release, the reference
download of every row (contract rule 9's sizes), DeepSeek-V4.1-Flash as a packaged model with its own KV formula
and its engram tables on disk, and the API fallback that names today's API."""

from __future__ import annotations

import json
import shlex
from dataclasses import replace

import pytest

from conftest import GIB, gpu, inventory_dict
from vram_advisor.catalog import profiles
from vram_advisor.catalog.derive import scaled_vram, table_figures
from vram_advisor.catalog.downloads import computed_bytes, reference_download
from vram_advisor.catalog.releases import default_release, release_named, size_differences, with_release
from vram_advisor.catalog.userprofiles import default_catalog
from vram_advisor.core.errors import UsageError
from vram_advisor.inventory import model as inv
from vram_advisor.plan import estimate as est
from vram_advisor.plan.family import runs_as, successor_note
from vram_advisor.plan.rules import plan

V41 = "deepseek-v4.1-flash"
RTX_PRO_6000 = ("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", 97887)


# ------------------------------------------------------------------------------------------------ releases


def test_the_default_release_is_the_newest_official_one() -> None:
    catalog = default_catalog()
    flash, pro = catalog.model("deepseek-v4-flash"), catalog.model("deepseek-v4-pro")
    assert (flash.release, flash.hf_repo) == ("0731", "deepseek-ai/DeepSeek-V4-Flash-0731")
    assert (pro.release, pro.hf_repo) == ("0813", "deepseek-ai/DeepSeek-V4-Pro-0813")
    assert catalog.model("deepseek-v4-flash-base").release == "preview"
    releases = flash.releases
    assert default_release(releases) is release_named(flash, "0731")
    # an unofficial newer release does not win over an official one; without an official one the newest wins
    newer = replace(releases[0], id="1201", published="2026-12-01", official=False)
    assert default_release((*releases, newer)) is releases[1]
    assert default_release((releases[0], newer)) is newer


def test_every_release_has_a_repo_a_date_and_a_source() -> None:
    catalog = default_catalog()
    for model in catalog.models:
        assert model.releases, model.id
        for release in model.releases:
            assert release.repo.startswith("deepseek-ai/") and release.day.year == 2026
            assert f"{model.origin}#{release.source}" in catalog.sources


def test_with_release_picks_the_repo_and_files_and_names_unknown_ones() -> None:
    preview = with_release(default_catalog(), "preview")
    flash = preview.model("deepseek-v4-flash")
    assert flash.hf_repo == "deepseek-ai/DeepSeek-V4-Flash"
    assert flash.quant("fp8").published[0].stated == "148.66 GiB"
    assert flash.quant("q2").published[0].repo == "antirez/deepseek-v4-gguf"
    # 0731 names only V4-Flash: V4-Pro keeps its default (0813)
    only_flash = with_release(default_catalog(), "0731")
    assert only_flash.model("deepseek-v4-pro").release == "0813"
    with pytest.raises(UsageError, match=r"--release '0999'.*known: 0731, 0813, 0910, preview"):
        with_release(default_catalog(), "0999")


def test_release_sizes_say_where_they_differ_from_the_preview() -> None:
    catalog = default_catalog()
    (pro,) = size_differences(catalog.model("deepseek-v4-pro"))
    assert "892.7 GB, 27.7 GB (3.2%) larger than the preview's 865.0 GB" in pro
    lines = size_differences(catalog.model("deepseek-v4-flash"))
    assert any("166.9 GB, 7.3 GB (4.6%) larger than the preview's 159.6 GB" in line for line in lines)


def test_check_runs_the_0731_release_and_release_preview_the_preview(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    machine = write_inventory(inventory_dict([gpu("NVIDIA H200", 143771)] * 2, ram_gib=512))
    doc = cli(["check", "--inventory", machine, "--json"]).json()
    assert (doc["recommendation"]["model"], doc["recommendation"]["quant"]) == ("deepseek-v4-flash", "fp8")
    assert doc["releases"]["deepseek-v4-flash"]["release"] == "0731"
    assert "vllm serve deepseek-ai/DeepSeek-V4-Flash-0731 " in doc["run"]["command"]
    fp8 = next(o for o in doc["options"] if (o["model"], o["quant"]) == ("deepseek-v4-flash", "fp8"))
    assert fp8["release"] == "0731"
    assert fp8["reference_download"]["bytes"] == 166_886_535_336  # the 48 shards as the Hub lists them
    assert fp8["reference_download"]["repo"] == "deepseek-ai/DeepSeek-V4-Flash-0731"
    old = cli(["check", "--inventory", machine, "--json", "--release", "preview"]).json()
    assert old["releases"]["deepseek-v4-flash"]["release"] == "preview"
    assert "vllm serve deepseek-ai/DeepSeek-V4-Flash " in old["run"]["command"]
    # the verdict does not depend on the release here (the need does: 0731 carries the DSpark draft module)
    verdict = ("kind", "model", "quant", "fit")
    assert [old["recommendation"][key] for key in verdict] == [doc["recommendation"][key] for key in verdict]
    bad = cli(["check", "--inventory", machine, "--release", "0999"])
    assert bad.code == 2 and "--release '0999'" in bad.err and "Traceback" not in bad.err


def test_estimate_takes_a_release(cli) -> None:  # type: ignore[no-untyped-def]
    doc = cli(["estimate", "deepseek-v4-pro", "--quant", "fp8", "--no-machine", "--json", "--release", "preview"])
    assert doc.json()["release"]["release"] == "preview"
    assert doc.json()["download"]["bytes"] == 865 * 10**9
    bad = cli(["estimate", "deepseek-v4-pro", "--quant", "fp8", "--no-machine", "--release", "0731"])
    assert bad.code == 2 and "deepseek-v4-pro has no such release (known: preview, 0813)" in bad.err


# -------------------------------------------------------------------------------------- reference downloads


def test_reference_downloads_are_the_published_files_of_the_release() -> None:
    catalog = default_catalog()
    flash = catalog.model("deepseek-v4-flash")
    official = reference_download(flash, "fp8")
    assert (official.repo, official.bytes, official.computed, official.format) == (
        "deepseek-ai/DeepSeek-V4-Flash-0731",
        166_886_535_336,
        False,
        "safetensors",
    )
    preview_q2 = reference_download(flash, "q2", "preview")  # the smallest GGUF of the row: antirez's, one file
    assert preview_q2.bytes == 86_720_111_200 and preview_q2.repo == "antirez/deepseek-v4-gguf"
    assert preview_q2.files == ("DeepSeek-V4-Flash-IQ2XXS-w2Q2K-AProjQ8-SExpQ8-OutQ8-chat-v2.gguf",)
    assert preview_q2.basis == "published" and preview_q2.release == "preview" and preview_q2.engines == ("ds4",)
    q2 = reference_download(flash, "q2")  # 0731 (issue 18): the Q2 GGUFs people run, ~81 GiB, not 144 GiB
    assert q2.bytes == 86_720_111_488 and not q2.computed
    pro_0813 = reference_download(catalog.model("deepseek-v4-pro"), "fp8")
    assert pro_0813.bytes == 892_727_580_904 and pro_0813.repo == "deepseek-ai/DeepSeek-V4-Pro-0813"
    base = reference_download(catalog.model("deepseek-v4-flash-base"), "fp8")
    assert base.bytes == 294_670_000_000 and base.source == "article"


def test_computed_downloads_use_the_rows_own_bits_and_say_how_they_are_made() -> None:
    """Where nothing is published (0731 Q6, Pro Q4, the Base models), the size from the architecture at the row's
    own bits per weight - a Q2/Q3 GGUF requantizes the FP4 experts, nothing is floored to FP4 (contract rule 9) - and
    the conversion from the release's checkpoint that makes the file."""
    catalog = default_catalog()
    flash = catalog.model("deepseek-v4-flash")
    arch = flash.architecture
    assert arch is not None
    q6 = reference_download(flash, "q6")
    expected = round(arch.routed_params * 6.5625 / 8 + arch.other_params * 8.5 / 8)
    assert q6.computed and q6.bytes == expected == computed_bytes(arch, flash.quant("q6").bits)  # type: ignore[arg-type]
    assert q6.repo == "deepseek-ai/DeepSeek-V4-Flash-0731" and q6.format == "gguf" and q6.engines == ("llama.cpp",)
    assert q6.conversion is not None and q6.conversion.quantize_type == "Q6_K"
    assert q6.conversion.checkpoint_bytes == 166_886_535_336
    assert q6.disk_bytes == expected + 166_886_535_336 + q6.conversion.intermediate_bytes
    base_q2 = reference_download(catalog.model("deepseek-v4-flash-base"), "q2")
    base_arch = catalog.model("deepseek-v4-flash-base").architecture
    assert base_arch is not None
    assert base_q2.computed and base_q2.bytes == round(
        base_arch.routed_params * 2.25 / 8 + base_arch.other_params * 8.5 / 8
    )
    assert base_q2.bytes is not None and base_q2.bytes < 90 * 10**9


def test_every_option_of_every_packaged_model_has_a_reference_download() -> None:
    for name in (None, "preview"):
        catalog = with_release(default_catalog(), name)
        for model in catalog.models:
            for row in model.quants:
                download = reference_download(model, row)
                assert download.bytes is not None and download.bytes > 0, (model.id, row.id)
                assert download.source, (model.id, row.id)
                if row.id == "fp8":
                    assert download.repo == model.hf_repo and not download.computed, model.id
                    assert download.format == "safetensors", model.id


# ------------------------------------------------------------------------------------------- V4.1-Flash


def test_v41_flash_is_packaged_with_its_own_architecture() -> None:
    catalog = default_catalog()
    model = catalog.model(V41)
    arch = model.architecture
    assert arch is not None and arch.model_type == "deepseek_v41" and arch.kv_scheme == "global"
    assert (arch.layers, arch.hidden_size, arch.routed_experts, arch.moe_intermediate_size) == (40, 5120, 384, 2304)
    assert arch.params_total == 552 * 10**9 and arch.attention_heads is None  # unknown in the sources
    # the recipe's 557.2B of MXFP4 experts = routed experts + ~13.6B of DSpark experts
    assert 543 * 10**9 < arch.routed_params < 544 * 10**9
    assert arch.engram_params == 196_613_849_600
    # not one of the contract's rule-4 candidates: the default check plans V4 only
    assert V41 not in {m.id for m in profiles.load_catalog().models[:4]}


def test_v41_kv_is_a_quarter_of_v4_flash() -> None:
    """DeepSeek: V4.1-Flash's global KV is 890 B/token, "about a quarter of V4-Flash" (vLLM fp8 layouts)."""
    catalog = default_catalog()
    v41, v4 = catalog.model(V41).architecture, catalog.model("deepseek-v4-flash").architecture
    assert v41 is not None and v4 is not None
    context = 1_000_001  # not a multiple of 4 or 128
    new = est.kv_cache_bytes(v41, context, "fp8")
    old = est.kv_cache_bytes(v4, context, "fp8")
    assert new.compressed_bytes == 890 * context
    assert new.total_bytes == 890 * context + 40 * 128 * 584
    assert 0.2 <= new.compressed_bytes / old.compressed_bytes <= 0.3
    assert est.kv_cache_bytes(v41, 100, "bf16").swa_ring_bytes == 40 * 100 * 1024


def test_v41_rows_are_derived_by_the_rule_the_profile_states() -> None:
    """Each V4.1 row: the download less the engram tables (on disk) x the ratios of the same V4-Flash row."""
    catalog = default_catalog()
    v41, flash = catalog.model(V41), with_release(catalog, "preview").model("deepseek-v4-flash")
    arch = v41.architecture
    assert arch is not None
    for row in v41.quants:
        bits = row.bits
        assert bits is not None and bits.engram is not None and row.derived
        download = reference_download(v41, row).bytes
        assert download is not None
        engram = round(arch.engram_params * bits.engram / 8)
        min_vram, safer_vram = scaled_vram(flash.quant(row.id), download - engram)
        assert (row.weights, row.min_vram, row.safer_vram) == table_figures(download, min_vram, safer_vram), row.id


def test_estimate_v41_q2_agrees_with_the_published_q2_k(cli) -> None:  # type: ignore[no-untyped-def]
    doc = cli(["estimate", V41, "--quant", "q2", "--no-machine", "--json"]).json()
    weights = doc["weights"]
    published = 264_514_761_248  # 246.3 GiB, llama.cpp PR #28696
    parts = weights["routed_bytes"] + weights["other_bytes"] + weights["engram_bytes"]
    assert parts == weights["bytes"]
    assert abs(weights["bytes"] - published) / published <= 0.05
    assert abs(weights["computed_bytes"] - published) / published <= 0.05
    assert 59 * GIB < weights["engram_bytes"] < 61 * GIB  # 60.18 GiB parsed from the file (atlas #1059)
    for placement in doc["placements"]:
        assert placement["disk_bytes"] >= weights["engram_bytes"]
        assert any("engram tables" in note for note in placement["notes"])
    human = cli(["estimate", V41, "--quant", "q2", "--no-machine"])
    assert "engram tables 60.1 GiB (kept on disk)" in " ".join(human.out.split())


def test_check_plans_v41_flash_on_four_rtx_pro_6000(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    machine = write_inventory(inventory_dict([gpu(*RTX_PRO_6000, index=i) for i in range(4)], ram_gib=128))
    doc = cli(["check", "--inventory", machine, "--model", V41, "--json"]).json()
    rec = doc["recommendation"]
    assert (rec["kind"], rec["model"], rec["quant"]) == ("local", V41, "fp8")
    assert doc["run"]["placement"] == "gpu" and doc["run"]["fits"] is True
    words = shlex.split(doc["run"]["command"])
    assert words[:3] == ["vllm", "serve", "deepseek-ai/DeepSeek-V4.1-Flash"] and "deepseek_v41" in words
    assert any("engram" in note for note in doc["run"]["notes"])
    option = next(o for o in doc["options"] if o["quant"] == "fp8")
    assert option["reference_download"]["bytes"] == 510_313_353_565
    assert option["context_fits"] is True
    human = cli(["check", "--inventory", machine, "--model", V41, "--details"])
    assert human.code == 0 and "DeepSeek-V4.1-Flash FP8 runs from GPU memory" in human.out
    flat = " ".join(human.out.split())
    assert "of engram tables on disk" in flat and "decode ≈" in flat and "tok/s" in flat


def test_v41_flash_runs_where_v4_flash_would_not() -> None:
    """The default check's line: V4.1-Flash planned on the same machine, mentioned when V4-Flash runs nowhere."""
    catalog = default_catalog()
    machine = inv.from_dict(inventory_dict([gpu(*RTX_PRO_6000, index=i) for i in range(4)], ram_gib=128))
    main = plan(machine, catalog)
    view = est.machine_view(machine)
    estimates = {o.key: est.estimate_option(o.model, o.quant, 32768, view) for o in main.options}
    flash = runs_as(main.options, estimates, "deepseek-v4-flash")
    assert flash is not None and flash.quant == "fp8"
    without_flash = {key: value for key, value in estimates.items() if key[0] != "deepseek-v4-flash"}
    note = successor_note(main.options, without_flash, machine, catalog, 32768, machine=view)
    assert note is not None and note.older is None
    assert note.line.startswith("V4.1-Flash (newer than the article") and "where V4-Flash would not: FP8" in note.line
    assert "vram-advisor check --model deepseek-v4.1-flash" in note.line
    assert note.as_dict()["placement"] == "gpu"
    # here V4-Flash FP8 runs, and faster (it reads fewer bytes per token): no line
    assert successor_note(main.options, estimates, machine, catalog, 32768, machine=view) is None


def test_models_lists_the_releases_and_v41_flash_with_sources(cli) -> None:  # type: ignore[no-untyped-def]
    doc = cli(["models", "--json"]).json()
    by_id = {m["id"]: m for m in doc["models"]}
    assert by_id[V41]["source"] == "v41-recipe" and by_id[V41]["release"]["source"] == "v41-release"
    assert [r["release"] for r in by_id["deepseek-v4-flash"]["releases"]] == ["preview", "0731"]
    assert all(r["source"] for m in doc["models"] for r in m["releases"])
    assert by_id["deepseek-v4-pro"]["size_differences"]
    human = cli(["models"])
    flat = " ".join(human.out.split())
    assert "release 0731: deepseek-ai/DeepSeek-V4-Flash-0731, 2026-07-31, official (planned by default)" in flat
    assert "DeepSeek-V4.1-Flash" in human.out


def test_no_figure_in_the_v41_profile_is_without_a_source() -> None:
    data = json.loads((profiles.packaged_dir() / "deepseek-v41-flash.json").read_text())
    model = data["models"][0]
    for row in model["quants"]:
        assert row["source"] in data["sources"] and row["bits"]["source"] in data["sources"]
        for item in row.get("published", []):
            assert item["source"] in data["sources"]
    for row in model["architecture"]["kv_rows"].values():
        assert row["source"] in data["sources"]
    assert {model["params"]["source"], model["official_weights"]["source"]} <= set(data["sources"])


# ------------------------------------------------------------------------------------------------- API


def test_the_api_fallback_names_todays_api_with_dated_prices(cli, write_inventory) -> None:  # type: ignore[no-untyped-def]
    api = default_catalog().api
    assert api is not None and api.models == ("deepseek-flash", "deepseek-v4-pro") and api.checked == "2026-12-06"
    assert api.url == "https://api-docs.deepseek.com/quick_start/pricing"
    assert api.note is not None and "deepseek-v4-pro still serves V4-Pro" in api.note  # the 2026-09-11 walk-back
    served = {model.id: model for model in api.served}
    assert served["deepseek-flash"].serves.startswith("DeepSeek-V4.1-Flash")
    assert served["deepseek-v4-pro"].serves == "DeepSeek-V4-Pro-0813"
    flash = served["deepseek-flash"]
    assert (flash.input_cache_miss, flash.output, flash.prices_since, flash.currency) == (
        0.15,
        0.60,
        "2026-09-10",
        "USD",
    )
    retired = {alias.id: alias for alias in api.retired}
    assert set(retired) == {"deepseek-chat", "deepseek-reasoner", "deepseek-v4-flash", "deepseek-v4-flash-vision-exp"}
    assert retired["deepseek-chat"].since == "2026-07-24"
    machine = write_inventory(inventory_dict([gpu("NVIDIA GeForce RTX 4090", 24564)], ram_gib=32))
    doc = cli(["check", "--inventory", machine, "--json"]).json()
    assert doc["alternatives"]["api"]["models"] == ["deepseek-flash", "deepseek-v4-pro"]
    assert doc["alternatives"]["api"]["served"][1]["prices_per_million_tokens"]["output"] == 1.98
    assert doc["alternatives"]["api"]["source"] == "ds-api-pricing"
