"""The package's layers, enforced: each subpackage imports only the layers below it, no two subpackages import each
other (directly or through others), and no module is over 500 lines. Reads the source with ``ast``; imports nothing
of the package, so a cycle cannot hide behind import order."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "vram_advisor"

# Low to high. A layer may import itself and any layer of a lower rank; peers (same rank) may not import each other.
RANKS: dict[str, int] = {
    "__init__": 0,  # the package itself: __version__
    "core": 0,
    "inventory": 1,
    "probe": 2,
    "catalog": 2,
    "plan": 3,
    "hub": 4,
    "engine": 4,  # the client of a running engine (verify): beside hub, the only network code
    "fleet": 5,
    "report": 6,
    "render": 7,
    "options": 7,  # the check option table (options.py): below service, agent and cli, which read it
    "service": 8,
    "agent": 9,
    "cli": 10,
    "__main__": 11,
}
MAX_LINES = 500

#: Outside libraries that only some layers may import (everything else may use the standard library freely).
ALLOWED_LIBRARIES: dict[str, set[str]] = {
    "click": set(),  # typer vendors click; use typer's public API only
    "typer": {"cli"},
    "rich": {"render", "cli"},
    "pynvml": {"probe"},
    "psutil": {"probe"},
    "huggingface_hub": {"hub"},
    "httpx": {"hub"},
    "ray": {"fleet"},
    "mcp": {"agent", "cli"},
    "uvicorn": {"agent"},
    "starlette": {"agent"},
    "h11": {"agent"},
    "prometheus_client": set(),  # tests only: its parser reads report/metrics.py's text
    "platformdirs": {"catalog"},
    "msgspec": {"inventory", "render"},  # the inventory declaration (inventory/model.py); indenting JSON output
}


def layer_of(module: str) -> str:
    """``vram_advisor.plan.rules`` -> ``plan``; ``vram_advisor`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every ``vram_advisor`` module a file imports, at any depth of the file (lazy imports count)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("vram_advisor"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "vram_advisor":
                found.update(f"vram_advisor.{alias.name}" for alias in node.names if alias.name != "__version__")
                if any(alias.name == "__version__" for alias in node.names):
                    found.add("vram_advisor")
            elif node.module.startswith("vram_advisor."):
                found.add(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import; use absolute vram_advisor imports")
    return found


def libraries_of(path: Path) -> set[str]:
    """The top-level names of the outside libraries a file imports (lazy imports count)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & ALLOWED_LIBRARIES.keys()


def source_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_module_belongs_to_a_known_layer() -> None:
    unknown = {layer_of(module_name(path)) for path in source_files()} - RANKS.keys()
    assert not unknown, f"modules outside the layer map: {sorted(unknown)}; add them to RANKS and CONTRIBUTING.md"


def test_at_most_eight_modules_sit_at_the_package_root() -> None:
    root = [p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    assert len(root) <= 8, root


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_higher_layer_or_a_peer(path: Path) -> None:
    own = layer_of(module_name(path))
    for target in imports_of(path):
        other = layer_of(target)
        if other == own:
            continue
        assert RANKS[other] < RANKS[own], f"{path.relative_to(PACKAGE)} ({own}) imports {target} ({other})"


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A path that returns to where it started in the directed graph ``edges`` (depth first), or None: the circle
    alone, without the path that led to it."""
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                path = [*trail, node]
                return [*path[path.index(nxt) :], nxt]
            if not state.get(nxt):
                found = visit(nxt, [*trail, node])
                if found is not None:
                    return found
        state[node] = 2
        return None

    for node in sorted(edges):
        if not state.get(node):
            found = visit(node, [])
            if found is not None:
                return found
    return None


def test_the_cycle_finder_finds_a_planted_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"b"}}) == ["b", "c", "b"]


def test_no_cycle_between_subpackages() -> None:
    edges: dict[str, set[str]] = {}
    for path in source_files():
        own = layer_of(module_name(path))
        edges.setdefault(own, set()).update(layer_of(t) for t in imports_of(path) if layer_of(t) != own)
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def module_edges(files: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the package modules it imports, every import counted: module level, function level (lazy) and under
    ``if TYPE_CHECKING:`` alike, so that no circle hides behind import order or a type-only import. ``from pkg import
    name`` points at ``pkg.name`` where that is a module, else at ``pkg``; a module's import of its own parent package
    is not an edge (the parent is imported first anyway)."""
    edges: dict[str, set[str]] = {}
    for name, path in files.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    targets.add(full if full in files else node.module)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        edges[name] = {t for t in targets if t in files and t != name and not name.startswith(t + ".")}
    return edges


def test_no_cycle_between_modules() -> None:
    """No two modules import each other, directly or through others, inside one folder or across folders: every
    import counts (lazy and ``TYPE_CHECKING`` ones too)."""
    cycle = find_cycle(module_edges({module_name(p): p for p in source_files()}))
    assert cycle is None, "module import cycle: " + " -> ".join(cycle or [])


def test_the_module_graph_sees_lazy_and_type_checking_circles(tmp_path: Path) -> None:
    """Plant a package whose circles hide behind a function-level import and behind ``TYPE_CHECKING``: both found."""
    package = tmp_path / "vram_advisor" / "plan"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from vram_advisor.plan import b\n")
    (package / "b.py").write_text("def f():\n    from vram_advisor.plan.a import x\n")
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from vram_advisor.plan.d import T\n"
    )
    (package / "d.py").write_text("import vram_advisor.plan.c\n")
    files = {
        ".".join(p.relative_to(tmp_path).with_suffix("").parts).removesuffix(".__init__"): p
        for p in sorted(tmp_path.rglob("*.py"))
    }
    edges = module_edges(files)
    assert edges["vram_advisor.plan.a"] == {"vram_advisor.plan.b"}
    assert edges["vram_advisor.plan.b"] == {"vram_advisor.plan.a"}
    assert edges["vram_advisor.plan.c"] == {"vram_advisor.plan.d"}
    assert edges["vram_advisor.plan.d"] == {"vram_advisor.plan.c"}
    assert find_cycle(edges) == ["vram_advisor.plan.a", "vram_advisor.plan.b", "vram_advisor.plan.a"]
    assert find_cycle({k: v for k, v in edges.items() if "plan.a" not in k}) == [
        "vram_advisor.plan.c",
        "vram_advisor.plan.d",
        "vram_advisor.plan.c",
    ]


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_over_500_lines(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines"


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_outside_libraries_stay_in_their_layer(path: Path) -> None:
    own = layer_of(module_name(path))
    for library in libraries_of(path):
        assert own in ALLOWED_LIBRARIES[library], f"{path.relative_to(PACKAGE)} ({own}) imports {library}"


def test_the_layer_check_sees_a_planted_upward_import(tmp_path: Path) -> None:
    """The checks above could pass by reading nothing: plant a violation and see it found."""
    planted = tmp_path / "planted.py"
    planted.write_text("def f():\n    from vram_advisor.render import warn\n    import rich.text\n")
    assert imports_of(planted) == {"vram_advisor.render"}
    assert libraries_of(planted) == {"rich"}
    assert RANKS[layer_of("vram_advisor.render")] > RANKS["plan"]


@pytest.mark.parametrize(
    "path", [p for p in source_files() if module_name(p).startswith("vram_advisor.render")], ids=str
)
def test_the_human_views_read_the_report_not_another_format(path: Path) -> None:
    # render/ builds the human views from the typed report (plan.check.CheckReport) alone: a view never reads the
    # JSON format (report/), so the two cannot drift apart by one depending on the other
    assert not {module for module in imports_of(path) if module.startswith("vram_advisor.report")}, path
