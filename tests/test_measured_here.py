"""The calibration store and what later answers do with it: points kept atomically, privately and bounded; shown
beside the speed of ``check``, ``estimate``, ``cluster`` and ``/metrics`` on the machine they were measured on only;
never changing a verdict, a fit or an exit code."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from vram_advisor.inventory import calibration
from vram_advisor.inventory import model as inv
from vram_advisor.inventory.fingerprint import fingerprint
from vram_advisor.inventory.model import MeasuredSpeed

EXAMPLES = Path(__file__).parent.parent / "examples"
NODE = EXAMPLES / "gpu-node-07.json"


def _point(
    inventory: inv.Inventory, speed: float = 22.4, at: str = "2026-12-07T10:00:00Z", **changes: object
) -> MeasuredSpeed:
    fields: dict[str, object] = {
        "fingerprint": fingerprint(inventory),
        "model": "deepseek-v4-pro",
        "quant": "q4",
        "placement": "gpu",
        "engine": "llama.cpp",
        "decode_tokens_per_s": speed,
        "measured_at": at,
        "tokens": 256,
    }
    fields.update(changes)
    return MeasuredSpeed(**fields)  # type: ignore[arg-type]


def _recommended(cli) -> tuple[dict[str, object], str]:  # type: ignore[no-untyped-def]
    document = cli(["check", "--inventory", str(NODE), "--json"]).json()
    rec = document["recommendation"]
    return rec, document["run"]["engine_id"]


def test_points_are_kept_private_atomic_and_bounded(tmp_path: Path) -> None:
    inventory = inv.load(str(NODE))
    store = tmp_path / "deep" / "calibration.json"
    for index in range(calibration.MAX_PER_KEY + 3):
        count, notes = calibration.add_point(_point(inventory, 10.0 + index, f"2026-12-07T10:00:{index:02d}Z"), store)
        assert notes == ()
    assert count == calibration.MAX_PER_KEY  # the newest per key
    points, _ = calibration.read_points(store)
    assert [p.decode_tokens_per_s for p in points][-1] == 10.0 + calibration.MAX_PER_KEY + 2
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in store.parent.iterdir()) == ["calibration.json", "calibration.json.lock"]  # no temp
    for index in range(calibration.MAX_POINTS + 10):
        calibration.add_point(
            _point(inventory, 5.0, f"2026-12-08T{index // 60:02d}:{index % 60:02d}:00Z", quant=f"q{index}"), store
        )
    points, _ = calibration.read_points(store)
    assert len(points) == calibration.MAX_POINTS


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"{not json", "not JSON"),
        (b'{"schema": "other", "points": []}', "not a"),
        (b"x" * (calibration.MAX_BYTES + 1), "over"),
    ],
)
def test_a_store_that_does_not_read_is_a_note_never_an_error(tmp_path: Path, content: bytes, words: str, cli) -> None:  # type: ignore[no-untyped-def]
    store = tmp_path / "calibration.json"
    store.write_bytes(content)
    os.chmod(store, 0o600)
    points, notes = calibration.read_points(store)
    assert points == () and len(notes) == 1 and words in notes[0]
    result = cli(["check", "--inventory", str(NODE), "--json"], env={"VRAM_ADVISOR_CALIBRATION": str(store)})
    assert result.code == 0 and "warning: calibration store" in result.err


def test_a_store_others_may_write_is_not_read(tmp_path: Path) -> None:
    inventory = inv.load(str(NODE))
    store = tmp_path / "calibration.json"
    calibration.add_point(_point(inventory), store)
    os.chmod(store, 0o666)
    points, notes = calibration.read_points(store)
    assert points == () and "others may write it" in notes[0]


def test_one_bad_point_is_skipped_and_the_rest_read(tmp_path: Path) -> None:
    inventory = inv.load(str(NODE))
    store = tmp_path / "calibration.json"
    calibration.add_point(_point(inventory), store)
    document = json.loads(store.read_text())
    document["points"].append({"model": "x", "decode_tokens_per_s": -1})
    document["points"].append({**document["points"][0], "decode_tokens_per_s": 0})
    store.write_text(json.dumps(document))
    points, notes = calibration.read_points(store)
    assert len(points) == 1 and "2 point(s)" in notes[0]


def test_the_point_for_this_machine_shows_beside_the_speed_and_changes_no_verdict(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    inventory = inv.load(str(NODE))
    rec, engine = _recommended(cli)
    plain = cli(["check", "--inventory", str(NODE), "--json"]).json()
    low, high = (
        plain["recommendation"]["decode_tokens_per_s"]["low"],
        plain["recommendation"]["decode_tokens_per_s"]["high"],
    )
    measured = round(low / 3, 2)  # far below the estimate's range: the range stretches to take it in
    store = tmp_path / "calibration.json"
    point = _point(
        inventory, measured, model=rec["model"], quant=rec["quant"], placement=rec["placement"], engine=engine
    )
    calibration.add_point(point, store)
    env = {"VRAM_ADVISOR_CALIBRATION": str(store)}
    shown = cli(["check", "--inventory", str(NODE), "--json"], env=env).json()
    speed = shown["recommendation"]["decode_tokens_per_s"]
    assert speed["measured_here"]["decode_tokens_per_s"] == measured
    assert speed["low"] == measured and speed["high"] == high
    assert "measured here: " in speed["text"] and "2026-12-07" in speed["text"]
    assert shown["measured"][0]["applies_to_recommendation"] is True
    # the verdict, every fit and the gate are the same with and without it
    for key in ("recommendation", "stretch", "options", "tier"):
        if key == "recommendation":
            assert {k: v for k, v in shown[key].items() if k != "decode_tokens_per_s"} == {
                k: v for k, v in plain[key].items() if k != "decode_tokens_per_s"
            }
        else:
            assert shown[key] == plain[key]
    required = f"{rec['model']}:{rec['quant']}"
    gates = [cli(["check", "--inventory", str(NODE), "--require", required], env=e).code for e in (env, {})]
    assert gates[0] == gates[1]
    human = cli(["check", "--inventory", str(NODE)], env=env).out
    assert "measured here:" in human
    ignored = cli(["check", "--inventory", str(NODE), "--json", "--no-calibration"], env=env).json()
    assert ignored["recommendation"]["decode_tokens_per_s"] == plain["recommendation"]["decode_tokens_per_s"]
    assert ignored["measured"] == []


def test_a_point_never_applies_to_another_machine_or_a_what_if(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    inventory = inv.load(str(NODE))
    rec, engine = _recommended(cli)
    store = tmp_path / "calibration.json"
    fields = {"model": rec["model"], "quant": rec["quant"], "placement": rec["placement"], "engine": engine}
    calibration.add_point(_point(inventory, 1.5, **fields), store)
    env = {"VRAM_ADVISOR_CALIBRATION": str(store)}
    other = json.loads(NODE.read_text())
    other["hostname"] = "gpu-node-08"
    other_path = tmp_path / "node-08.json"
    other_path.write_text(json.dumps(other))
    elsewhere = cli(["check", "--inventory", str(other_path), "--json"], env=env).json()
    assert elsewhere["recommendation"]["decode_tokens_per_s"]["measured_here"] is None
    assert elsewhere["measured"] == []
    what_if = cli(["check", "--inventory", str(NODE), "--ram", "4TB", "--json"], env=env).json()
    assert what_if["measured"] == []
    # an inventory carrying another machine's point (copied by hand) does not apply it either
    other["measured"] = [inv.plain_point(_point(inventory, 1.5, **fields))]
    other_path.write_text(json.dumps(other))
    carried = cli(["check", "--inventory", str(other_path), "--json"]).json()
    assert carried["measured"] == []


def test_probe_carries_the_points_and_cluster_and_metrics_report_them(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    inventory = inv.load(str(NODE))
    rec, engine = _recommended(cli)
    fields = {"model": rec["model"], "quant": rec["quant"], "placement": rec["placement"], "engine": engine}
    carried = inventory.replace(measured=(_point(inventory, 31.0, **fields),))
    lines = inv.dumps(carried) + "\n" + inv.dumps(inv.load(str(EXAMPLES / "workstation.json"))) + "\n"
    result = cli(["cluster", "-", "--json"], stdin=lines)
    assert result.code == 0, result.err
    nodes = {node["hostname"]: node for node in result.json()["nodes"]}
    node = nodes[inventory.hostname]
    assert node["measured"][0]["decode_tokens_per_s"] == 31.0
    assert node["recommendation"]["decode_tokens_per_s"]["measured_here"]["decode_tokens_per_s"] == 31.0
    assert "measured" not in nodes["workstation"]
    from vram_advisor.report.metrics import check_families, exposition

    path = tmp_path / "node.json"
    path.write_text(json.dumps(inv.to_dict(carried)))
    checked = cli(["check", "--inventory", str(path), "--json"]).json()
    text = exposition(check_families([checked]))
    expected = (
        f'vram_advisor_measured_decode_tokens_per_second{{model="{rec["model"]}",quant="{rec["quant"]}",'
        f'placement="{rec["placement"]}",engine="{engine}"}} 31'
    )
    assert expected in text
