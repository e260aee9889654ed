"""Decode speeds against measured runs (table-driven), the RAM bandwidth the machine class implies, the per-token
floor, and how a speed is printed (a range, never a bare figure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from calibration import MeasuredPoint, estimate_point, load_points
from conftest import gpu, inventory_dict
from vram_advisor.core import units
from vram_advisor.inventory import bandwidth as bw
from vram_advisor.inventory import model as inv
from vram_advisor.plan import estimate as est
from vram_advisor.plan.estimate import speed

POINTS_FILE = Path(__file__).parent / "fixtures" / "measured_speeds.json"
TOLERANCE, POINTS = load_points(POINTS_FILE)


def _id(point: MeasuredPoint) -> str:
    return f"row{point.row}-{point.model}-{point.quant}-{point.placement}"


@pytest.mark.parametrize("point", POINTS, ids=_id)
def test_every_measured_run_is_within_2x(point: MeasuredPoint) -> None:
    """tests/fixtures/measured_speeds.json (public measurements), row by row: the estimate is within 2x of the
    measurement, both ways (held-out rows too), with the RAM bandwidth the source states and with the one assumed for
    the machine's class."""
    for use_ram_bw in (True, False):
        result = estimate_point(point, use_ram_bw=use_ram_bw)
        assert result.speed is not None, f"row {point.row}: no estimate"
        ratio = result.speed.tokens_per_s / point.measured_tok_s
        assert 1 / TOLERANCE <= ratio <= TOLERANCE, (
            f"row {point.row} ({point.machine}, {point.model} {point.quant}, {point.placement}): estimate "
            f"{result.speed.text()} against {point.measured_text} measured ({point.source}): {ratio:.2f}x; RAM "
            f"{result.ram_bw_used}"
        )


def test_the_fixture_holds_every_speed_row_of_the_reference() -> None:
    assert TOLERANCE == 2.0
    assert {p.row for p in POINTS} == {1, 2, 3, 4, 5, 6}
    assert all(p.source for p in POINTS)
    assert any(p.held_out for p in POINTS) and not all(p.held_out for p in POINTS)


def test_the_table_drifting_beyond_2x_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test above bites: with the per-token floor gone (pure bandwidth arithmetic, as before issue 12), the
    GPU-resident runs land far above 2x."""
    monkeypatch.setattr(speed, "VLLM_LAYER_MS", 0.0)
    monkeypatch.setattr(speed, "VLLM_TP_LAYER_MS", 0.0)
    row6 = next(p for p in POINTS if p.row == 6)
    result = estimate_point(row6)
    assert result.speed is not None and result.speed.tokens_per_s / row6.measured_tok_s > TOLERANCE


# ------------------------------------------------------------------------------------------- the cases


def _placement(gpus: list[dict], ram_gib: float, model: str, quant: str, kind: str) -> est.Placement:  # type: ignore[type-arg]
    inventory = inv.from_dict(inventory_dict(gpus, ram_gib=ram_gib))
    machine = est.machine_view(inventory)
    estimate = est.estimate_option(default_model(model), default_model(model).quant(quant), 32768, machine)
    return next(p for p in estimate.placements if p.kind == kind)


def default_model(model_id: str):  # type: ignore[no-untyped-def]
    from vram_advisor.catalog.userprofiles import default_catalog

    return default_catalog().model(model_id)


def test_pro_fp8_on_8xh200_is_tens_not_hundreds() -> None:
    """Issue 12: 539 tok/s was printed for V4-Pro FP8 on 8 x H200; people measure 20-40 for GPU-resident V4."""
    placement = _placement([gpu("NVIDIA H200", 143771)] * 8, 2048, "deepseek-v4-pro", "fp8", est.PLACEMENT_GPU)
    estimate = speed.decode_speed(placement)
    assert estimate is not None
    assert 15 <= estimate.tokens_per_s <= 45
    assert placement.tokens_per_s_upper_bound is not None and placement.tokens_per_s_upper_bound > 500


def test_flash_on_one_h200_is_tens_not_hundreds() -> None:
    placement = _placement([gpu("NVIDIA H200", 143771)], 256, "deepseek-v4-flash", "q4", est.PLACEMENT_GPU)
    estimate = speed.decode_speed(placement)
    assert estimate is not None and 15 <= estimate.tokens_per_s <= 60


def test_tensor_parallelism_adds_latency_it_never_removes_it() -> None:
    two = _placement([gpu("NVIDIA H200", 143771)] * 2, 512, "deepseek-v4-flash", "fp8", est.PLACEMENT_GPU)
    eight = _placement([gpu("NVIDIA H200", 143771)] * 8, 512, "deepseek-v4-flash", "fp8", est.PLACEMENT_GPU)
    s2, s8 = speed.decode_speed(two), speed.decode_speed(eight)
    assert s2 is not None and s8 is not None
    assert s8.floor_ms > s2.floor_ms
    assert s8.tokens_per_s < 1.2 * s2.tokens_per_s  # 4x the bandwidth buys almost nothing at batch 1


# ------------------------------------------------------------------------------------------- RAM by machine class


@pytest.mark.parametrize(
    ("ram_gib", "rate", "words"),
    [
        (64, 76_800_000_000, "desktop"),
        (192, 76_800_000_000, "desktop"),
        (256, 307_200_000_000, "workstation"),
        (1024, 460_800_000_000, "single-socket"),
        (2048, 614_400_000_000, "two-socket"),
    ],
)
def test_ram_bandwidth_is_assumed_from_the_machine_class(ram_gib: int, rate: int, words: str) -> None:
    assumed = bw.ram_bandwidth(None, ram_gib * units.GIB)
    assert assumed.bytes_per_s == rate
    assert assumed.assumed is True
    assert words in assumed.source and "--ram-bw" in assumed.source


def test_a_2tb_server_is_not_two_ddr4_channels() -> None:
    assert (bw.ram_bandwidth(None, 2048 * units.GIB).bytes_per_s or 0) > 10 * bw.DEFAULT_RAM_BANDWIDTH.bytes_per_s  # type: ignore[operator]


def test_given_ram_bandwidth_is_not_assumed() -> None:
    given = bw.ram_bandwidth(100 * 10**9, 2048 * units.GIB)
    assert given.bytes_per_s == 100 * 10**9 and given.assumed is False and given.source == "--ram-bw"
    assert bw.ram_bandwidth(None, None) is bw.DEFAULT_RAM_BANDWIDTH


# ------------------------------------------------------------------------------------------------- printing


@pytest.mark.parametrize(("value", "text"), [(539.2, "540"), (26.34, "26"), (9.31, "9.3"), (0.844, "0.84"), (0, "0")])
def test_rates_print_to_two_significant_figures(value: float, text: str) -> None:
    assert speed.format_rate(value) == text


def test_a_speed_prints_as_a_range() -> None:
    estimate = speed.SpeedEstimate(26.0, 26 / 1.5, 26 * 1.5, 10.0, 28.0, "x")
    assert estimate.text() == "≈ 26 tok/s (17-39)"


def test_docs_speeds_table_is_current() -> None:
    """docs/speeds.md is what bench/speeds_table.py writes (regenerate it with --write after changing a constant)."""
    import importlib.util

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("speeds_table", root / "bench" / "speeds_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (root / "docs" / "speeds.md").read_text(encoding="utf-8") == module.INTRO + "\n" + module.table() + "\n"
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert readme == module.readme_with_table(readme)  # the README's estimate-vs-measured table too
