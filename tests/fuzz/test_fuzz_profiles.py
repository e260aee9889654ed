"""Fuzzing user profiles: whatever a file in the user's profile folder holds, ``check`` and ``models`` still work;
the file is skipped with one warning naming it, never its content."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from inputs_kit import (
    FAST,
    SIZE_CAP,
    assert_clean,
    dumps_loose,
    hostile_texts,
    inventory,
    json_values,
    line,
    near_the_cap,
    run,
)

from vram_advisor.catalog.userprofiles import packaged_raw_models

_MODEL, _SOURCES = next(iter(packaged_raw_models().values()))


def _profile(draw: st.DrawFn) -> bytes:
    """A user profile built like a packaged one (schema, sources, one model), with one field replaced."""
    model = json.loads(json.dumps(_MODEL))
    model["id"] = "fuzzed-model"
    data: dict[str, Any] = {"schema": "vram-advisor/profile/v1", "sources": _SOURCES, "models": [model]}
    target = draw(st.sampled_from(["top", "model", "quant"]))
    holder = data if target == "top" else model if target == "model" or not model.get("quants") else model["quants"][0]
    holder[draw(st.sampled_from(sorted(holder)))] = draw(json_values)
    return dumps_loose(data)


profiles = st.one_of(hostile_texts, json_values.map(dumps_loose), st.composite(_profile)(), st.binary(max_size=200))


@FAST
@given(raw=profiles)
def test_a_hostile_user_profile_never_breaks_check_or_models(tmp_path: Path, raw: bytes) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir(exist_ok=True)
    (folder / "hostile.json").write_bytes(raw)
    inventory_path = tmp_path / "inventory.json"
    inventory_path.write_bytes(line(inventory()))
    env = {"VRAM_ADVISOR_PROFILES": str(folder)}
    for args in (["models", "--json"], ["check", "--json", "--inventory", str(inventory_path)]):
        outcome = run(args, env=env)
        assert_clean(outcome)
        assert outcome.code in (0, 1), outcome.err  # the packaged profiles still answer
        warnings = [w for w in outcome.err.splitlines() if "ignoring user profile" in w]
        assert len(warnings) <= 1
        for warning in warnings:
            assert "hostile.json" in warning


def _valid_profile() -> dict[str, Any]:
    model = json.loads(json.dumps(_MODEL))
    model["id"] = "capped-model"
    return {"schema": "vram-advisor/profile/v1", "sources": _SOURCES, "models": [model]}


@FAST
@given(raw=near_the_cap(_valid_profile()))
def test_a_user_profile_past_the_4_mib_cap_is_skipped_naming_the_size(tmp_path: Path, raw: bytes) -> None:
    """Within a few KiB of the cap either way: at or under it the profile's model is listed, over it the file is
    skipped with one warning that names the cap. (The cap is written out in the test, so a cap removed from the
    source fails here.)"""
    folder = tmp_path / "profiles"
    folder.mkdir(exist_ok=True)
    (folder / "big.json").write_bytes(raw)
    outcome = run(["models", "--json"], env={"VRAM_ADVISOR_PROFILES": str(folder)})
    assert_clean(outcome)
    assert outcome.code == 0, outcome.err
    listed = "capped-model" in outcome.out
    if len(raw) > SIZE_CAP:
        assert not listed
        assert "ignoring user profile" in outcome.err and "big.json" in outcome.err, outcome.err
        assert "4 MiB" in outcome.err, outcome.err
    else:
        assert listed, (len(raw), outcome.err)
        assert "ignoring user profile" not in outcome.err
