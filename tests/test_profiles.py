"""The packaged profiles: every file validates, every figure has a source, and the tables are the article's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vram_advisor.catalog import profiles
from vram_advisor.core.errors import ProfileError

#: The source article's tables (https://www.knightli.com/en/2026/05/01/deepseek-v4-local-vram-quantization-table/),
#: extracted verbatim and kept here so CI always has them.
SEED = Path(__file__).resolve().parent / "fixtures" / "seed-deepseek-v4-vram-tables.md"
SHARED_SEED = Path(__file__).resolve().parents[2] / "shared" / "seed" / "deepseek-v4-vram-tables.md"


def test_packaged_profiles_validate():
    catalog = profiles.load_catalog()
    assert {m.id for m in catalog.models} >= {
        "deepseek-v4-pro",
        "deepseek-v4-flash",
        "deepseek-v4-pro-base",
        "deepseek-v4-flash-base",
    }
    for model in catalog.models:
        assert [row.id for row in model.quants][:6] == ["fp8", "q6", "q5", "q4", "q3", "q2"]
    assert len(catalog.quick_summary) == 9
    assert len(catalog.local_models) >= 15


def _source_refs(node):
    if isinstance(node, dict):
        if "source" in node:
            yield node["source"]
        for value in node.values():
            yield from _source_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _source_refs(value)


def test_every_figure_names_a_defined_source():
    for path in sorted(profiles.packaged_dir().glob("*.json")):
        data = json.loads(path.read_text())
        refs = list(_source_refs(data.get("models") or data.get("engines")))
        assert refs, path.name
        assert set(refs) <= set(data["sources"]), path.name


@pytest.mark.skipif(not SHARED_SEED.exists(), reason="shared/ is not beside this checkout")
def test_the_seed_copy_is_current():
    assert SEED.read_text() == SHARED_SEED.read_text()


def test_tables_match_the_seed_article():
    """Every quantization row of the profile appears verbatim as a row of the article's tables."""
    seed = SEED.read_text()
    catalog = profiles.load_catalog()
    for model in catalog.models[:4]:
        for row in model.quants:
            line = f"| {row.label} | {row.weights} | {row.min_vram} | {row.safer_vram} | {row.best_for} |"
            assert line in seed, line
    for tier in catalog.quick_summary:
        assert f"| {tier.vram} | {tier.realistic} | {tier.do_not_expect} |" in seed


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d["models"][0]["quants"][0].update(min_vram="lots"), "models[0].quants[0].min_vram"),
        (lambda d: d["models"][0]["quants"][0].update(source="nowhere"), "models[0].quants[0].source"),
        (lambda d: d["models"][0]["quants"][0].update(id="q7"), "models[0].quants[0].id"),
        (lambda d: d["models"][0]["quants"][1].update(safer_vram="1GB"), "models[0].quants[1].safer_vram"),
        (lambda d: d["models"][0].pop("params"), "models[0].params"),
        (lambda d: d["models"][0]["quants"].append(dict(d["models"][0]["quants"][0])), "models[0].quants[6].id"),
        (lambda d: d.update(schema="v0"), "schema"),
        (lambda d: d["candidates"].update(models=["deepseek-v4-pro"]), "candidates.models"),
        (lambda d: d["candidates"].pop("base_models"), "candidates.base_models"),
        (lambda d: d["candidates"].update(label=7), "candidates.label"),
        (lambda d: d["models"][1].update(succeeds={"note": "newer"}), "models[1].succeeds.model"),
        (lambda d: d["models"][1].update(engine_flags={"vllm": {"notes": []}}), "models[1].engine_flags.vllm.flags"),
        (lambda d: d["models"][1].update(engine_flags={"vllm": ["--x"]}), "models[1].engine_flags.vllm"),
    ],
)
def test_broken_profile_names_file_and_field(tmp_path, mutate, where):
    data = json.loads((profiles.packaged_dir() / "deepseek-v4.json").read_text())
    mutate(data)
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "deepseek-v4.json").write_text(json.dumps(data))
    with pytest.raises(ProfileError) as caught:
        profiles.load_catalog(folder)
    assert str(caught.value).startswith(f"profiles/deepseek-v4.json: {where}")


def test_not_json_profile(tmp_path):
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "broken.json").write_text("{")
    with pytest.raises(ProfileError, match=r"profiles/broken\.json: not valid JSON"):
        profiles.load_catalog(folder)


def test_the_candidates_successor_and_kv_scheme_are_profile_fields():
    """Which pair a check ranks (and under --base), which model is the newer line, and how the KV cache grows."""
    catalog = profiles.load_catalog()
    assert catalog.candidates is not None
    assert catalog.candidates.pair(False) == ("deepseek-v4-pro", "deepseek-v4-flash")
    assert catalog.candidates.pair(True) == ("deepseek-v4-pro-base", "deepseek-v4-flash-base")
    newer = [(m.id, m.succeeds.model) for m in catalog.models if m.succeeds is not None]
    assert newer == [("deepseek-v4.1-flash", "deepseek-v4-flash")]
    schemes = {m.id: m.architecture.kv_scheme for m in catalog.models if m.architecture is not None}
    assert schemes["deepseek-v4.1-flash"] == "global" and schemes["deepseek-v4-flash"] == "v4"
    assert set(catalog.model("deepseek-v4.1-flash").engine_flags) == {"vllm", "llama.cpp"}


def test_a_catalogue_without_candidates_plans_only_named_models(tmp_path):
    from vram_advisor.core.errors import UsageError
    from vram_advisor.plan.rules import candidates, family_label

    data = json.loads((profiles.packaged_dir() / "deepseek-v4.json").read_text())
    data.pop("candidates")
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "deepseek-v4.json").write_text(json.dumps(data))
    catalog = profiles.load_catalog(folder)
    assert family_label(catalog) == ""
    with pytest.raises(UsageError, match="candidates"):
        candidates(catalog, False)
