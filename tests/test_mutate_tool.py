"""``tools/mutate.py`` makes the mutants it says it makes, one at a time, and leaves docstrings, annotations and
asserts alone (the tool itself runs pytest per mutant: too slow for the suite, see docs/development.md)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutate_tool", ROOT / "tools" / "mutate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def _namespace(source: str) -> dict[str, object]:
    namespace: dict[str, object] = {}
    exec(compile(source, "<mutant>", "exec"), namespace)
    return namespace


def test_the_98_percent_rule_gets_its_edge_mutant_and_it_changes_the_answer() -> None:
    tool = _tool()
    path = ROOT / "src" / "vram_advisor" / "core" / "units.py"
    mutants = tool.mutants_of(path)
    edge = next(
        m for m in mutants if m.operator == "compare" and ">= required_bytes * MEETS_NUMERATOR" in m.description
    )
    assert edge.file == "src/vram_advisor/core/units.py" and edge.description.endswith(
        "> required_bytes * MEETS_NUMERATOR"
    )
    source = path.read_text(encoding="utf-8")
    original, mutated = _namespace(source), _namespace(tool.mutated_source(source, edge))
    assert original["meets"](98, 100) is True  # type: ignore[operator]
    assert mutated["meets"](98, 100) is False  # type: ignore[operator]
    assert original["meets"](99, 100) is mutated["meets"](99, 100) is True  # type: ignore[operator]


SAMPLE = '''"""A module docstring: 1 < 2 and True."""
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    LIMIT: int = 3

__all__ = ["f"]


def f(x: int = 4, *args: int, flag: bool = True) -> bool:
    """Its docstring: x + 1."""
    assert x >= 0
    if not flag or x in (1, 2):
        return x < 10 and x - 1 == 2
    return x + 1 > 5
'''


def test_each_operator_is_made_and_docstrings_annotations_and_asserts_are_left_alone() -> None:
    mutants = _tool().mutants_in(SAMPLE, "src/sample.py")
    made = sorted((m.line, m.operator, m.description.split("  ->  ")[1]) for m in mutants)
    assert all(line >= 10 for line, _, _ in made)  # nothing in the docstring, TYPE_CHECKING block or __all__
    assert not [m for m in mutants if m.line == 12]  # the assert
    assert (10, "integer", "5") in made  # a default value is code
    assert (10, "true-false", "False") in made
    assert (13, "remove-not", "flag") in made
    assert (13, "boolean", "not flag and x in (1, 2)") in made
    assert (13, "drop-condition", "x in (1, 2)") in made and (13, "drop-condition", "not flag") in made
    assert (13, "drop-member", "x in (2,)") in made and (13, "drop-member", "x in (1,)") in made
    assert (14, "compare", "x <= 10") in made and (14, "compare", "x - 1 != 2") in made
    assert (14, "arithmetic", "x + 1") in made and (14, "boolean", "x < 10 or x - 1 == 2") in made
    assert (14, "return-none", "return None") in made and (15, "compare", "x + 1 >= 5") in made
    assert (15, "integer", "6") in made and (15, "arithmetic", "x - 1") in made
    assert len({(m.node, m.variant) for m in mutants}) == len(mutants)


def test_the_default_files_are_plan_and_units_and_the_cpu_only_survivor_is_among_their_mutants() -> None:
    tool = _tool()
    files = [path.relative_to(ROOT).as_posix() for path in tool.default_files()]
    assert "src/vram_advisor/core/units.py" in files and "src/vram_advisor/plan/choose.py" in files
    assert all(f.startswith("src/vram_advisor/plan/") for f in files if not f.endswith("units.py"))
    choose = ROOT / "src" / "vram_advisor" / "plan" / "choose.py"
    dropped = [m for m in tool.mutants_of(choose) if m.operator == "drop-member"]
    assert any(m.description.endswith("in (est.PLACEMENT_HYBRID,)") for m in dropped)
