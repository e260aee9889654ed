"""A small, dependency-free mutation tester: does the test selection notice when the planner's code is changed?

Each mutant is one small change to one source file, made on its syntax tree (``ast``): a comparison swapped
(``<`` and ``<=``, ``>`` and ``>=``, ``==`` and ``!=``), ``+`` and ``-`` (and ``+=``, ``-=``) swapped, ``and`` and
``or`` swapped, one operand of an ``and``/``or`` dropped, one member of ``x in (a, b)`` dropped, ``True`` and
``False`` swapped, an integer ``n`` made ``n + 1``, ``return X`` made ``return None``, or a ``not`` removed.
Docstrings, annotations, decorators, ``assert`` statements and string concatenations are left alone.

One mutant at a time is written into a temporary copy of ``src/`` (the working tree is never edited), which is put
first on ``PYTHONPATH`` of a pytest subprocess running the chosen tests with ``-x``. A mutant is *caught* when the
tests fail (or time out), and *survives* when they pass: a survivor is either an equivalent mutant (no input tells
it from the original) or a behaviour no test pins.

    python tools/mutate.py --limit 100 --seed 20        # a sample of 100 mutants over plan/ and core/units.py
    python tools/mutate.py --files src/vram_advisor/plan/choose.py --list
    python tools/mutate.py --select choose.py:73 --json  # the mutants of one line, as JSON
    python tools/mutate.py --rerun run.json              # only the survivors of an earlier --json run

The default test selection is the fast tests that exercise ``plan/``; the score is printed, and every survivor
(file:line and the change). Exit status: 0 when the run completed (whatever the score), 2 for bad arguments or a
test selection that fails without any mutant.
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import copy
import json
import os
import queue
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = SRC / "vram_advisor"
#: The fast tests that exercise ``plan/`` and ``core/units.py``, quickest first (``-x`` stops at the first failure).
DEFAULT_TESTS = (
    "tests/test_mutants.py",
    "tests/test_units.py",
    "tests/test_rules.py",
    "tests/test_require.py",
    "tests/test_rule9.py",
    "tests/test_check_core.py",
    "tests/test_estimate_*.py",
    "tests/test_speeds.py",
    "tests/test_numbers.py",
    "tests/test_whatif.py",
    "tests/test_family.py",
    "tests/test_machines_and_commands.py",
    "tests/test_engines_where_they_run.py",
    "tests/test_plans_run_as_printed.py",
    "tests/cluster/test_cluster_readers.py",
    "tests/test_copied_profile.py",
    "tests/test_profiles.py",
    "tests/test_hub.py",
)
PYTEST_FLAGS = ("-x", "-q", "-p", "no:cacheprovider", "--no-header")

COMPARE_SWAPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
}
BINOP_SWAPS: dict[type[ast.operator], type[ast.operator]] = {ast.Add: ast.Sub, ast.Sub: ast.Add}
BOOLOP_SWAPS: dict[type[ast.boolop], type[ast.boolop]] = {ast.And: ast.Or, ast.Or: ast.And}
#: Variants from here on drop one operand of ``and``/``or`` or one member of ``x in (a, b)``: variant - DROP.
DROP = 1000


@dataclass(frozen=True)
class Mutant:
    """One change: the file (relative to the repository), the node's position in ``ast.walk`` order, which change
    of that node (a chained comparison has one per operator), and what it does, in words."""

    file: str
    line: int
    node: int
    variant: int
    operator: str
    description: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class Outcome:
    mutant: Mutant
    result: str  # caught, survived, timeout
    seconds: float
    #: the first test that failed (pytest's short summary), for a caught mutant
    killed_by: str | None = None


# ------------------------------------------------------------------------------------------------ mutants


def _skipped_nodes(tree: ast.AST) -> set[int]:
    """The ids of nodes never mutated: docstrings, annotations, ``__all__`` and ``if TYPE_CHECKING:`` blocks."""
    skipped: set[int] = set()

    def skip(node: ast.AST | None) -> None:
        if node is not None:
            skipped.update(id(inner) for inner in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                skip(body[0])
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:  # @dataclass(frozen=True, ...): not behaviour worth a mutant
                skip(decorator)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            skip(node.returns)
            arguments = node.args
            for arg in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs):
                skip(arg.annotation)
            for star in (arguments.vararg, arguments.kwarg):
                if star is not None:
                    skip(star.annotation)
        elif isinstance(node, ast.AnnAssign):
            skip(node.annotation)
        elif _is_all(node) or isinstance(node, ast.Assert) or _is_type_checking(node):  # asserts: invariants
            skip(node)
    return skipped


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _is_all(node: ast.AST) -> bool:
    return isinstance(node, ast.Assign) and any(
        isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
    )


def _is_text(node: ast.expr) -> bool:
    """A string literal, an f-string, or ``"a" if c else "b"`` of them: ``+`` on it is concatenation."""
    if isinstance(node, ast.IfExp):
        return _is_text(node.body) and _is_text(node.orelse)
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))


def _changes(node: ast.AST) -> Iterator[tuple[int, str]]:
    """The changes this node can take: (variant, operator name)."""
    if isinstance(node, ast.Compare):
        for index, op in enumerate(node.ops):
            if type(op) in COMPARE_SWAPS:
                yield index, "compare"
        if len(node.ops) == 1 and isinstance(node.ops[0], ast.In | ast.NotIn):
            members = node.comparators[0]
            if isinstance(members, ast.Tuple | ast.List | ast.Set) and len(members.elts) >= 2:
                for index in range(len(members.elts)):
                    yield DROP + index, "drop-member"
    elif isinstance(node, ast.BinOp) and type(node.op) in BINOP_SWAPS:
        if not (_is_text(node.left) or _is_text(node.right)):
            yield 0, "arithmetic"
    elif isinstance(node, ast.AugAssign) and type(node.op) in BINOP_SWAPS:
        if not _is_text(node.value):
            yield 0, "arithmetic"
    elif isinstance(node, ast.BoolOp):
        yield 0, "boolean"
        for index in range(len(node.values)):
            yield DROP + index, "drop-condition"
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        yield 0, "true-false"
    elif isinstance(node, ast.Constant) and type(node.value) is int:
        yield 0, "integer"
    elif isinstance(node, ast.Return) and node.value is not None:
        if not (isinstance(node.value, ast.Constant) and node.value.value is None):
            yield 0, "return-none"
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield 0, "remove-not"


def _apply(node: ast.AST, variant: int) -> ast.AST | None:
    """Mutate ``node`` in place; returns a replacement node where the node itself is replaced (``not x`` -> x)."""
    if isinstance(node, ast.Compare) and variant >= DROP:
        members = node.comparators[0]
        assert isinstance(members, ast.Tuple | ast.List | ast.Set)
        del members.elts[variant - DROP]
    elif isinstance(node, ast.Compare):
        node.ops[variant] = COMPARE_SWAPS[type(node.ops[variant])]()
    elif isinstance(node, ast.BinOp | ast.AugAssign):
        node.op = BINOP_SWAPS[type(node.op)]()
    elif isinstance(node, ast.BoolOp) and variant >= DROP:
        del node.values[variant - DROP]
        if len(node.values) == 1:
            return node.values[0]
    elif isinstance(node, ast.BoolOp):
        node.op = BOOLOP_SWAPS[type(node.op)]()
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        node.value = not node.value
    elif isinstance(node, ast.Constant) and type(node.value) is int:
        node.value = node.value + 1
    elif isinstance(node, ast.Return):
        node.value = ast.Constant(value=None)
    elif isinstance(node, ast.UnaryOp):
        return node.operand
    return None


def _shown(node: ast.AST) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= 90 else text[:87] + "..."


def _replace_child(tree: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, name, new)
                return
            if isinstance(value, list):
                for index, item in enumerate(value):
                    if item is old:
                        value[index] = new
                        return


def mutated_source(source: str, mutant: Mutant) -> str:
    """The whole module with ``mutant`` applied (unparsed from its tree: comments and layout are not kept)."""
    tree = ast.parse(source)
    node = list(ast.walk(tree))[mutant.node]
    replacement = _apply(node, mutant.variant)
    if replacement is not None:
        _replace_child(tree, node, replacement)
    return ast.unparse(tree)


def mutants_of(path: Path) -> list[Mutant]:
    """Every mutant of one file, in a stable order."""
    return mutants_in(path.read_text(encoding="utf-8"), path.resolve().relative_to(ROOT).as_posix())


def mutants_in(source: str, relative: str) -> list[Mutant]:
    """Every mutant of ``source`` (the file ``relative``), in a stable order."""
    tree = ast.parse(source)
    skipped = _skipped_nodes(tree)
    found: list[Mutant] = []
    for index, node in enumerate(ast.walk(tree)):
        if id(node) in skipped:
            continue
        for variant, operator in _changes(node):
            before = _shown(node)
            changed = copy.deepcopy(node)
            replacement = _apply(changed, variant)
            after = _shown(replacement if replacement is not None else changed)
            if before == after:
                continue
            line = getattr(node, "lineno", 0)
            found.append(Mutant(relative, line, index, variant, operator, f"{before}  ->  {after}"))
    return found


# ------------------------------------------------------------------------------------------------ running


def default_files() -> list[Path]:
    return [*sorted((PACKAGE / "plan").rglob("*.py")), PACKAGE / "core" / "units.py"]


def expand_tests(patterns: list[str]) -> list[str]:
    """Test paths (globs relative to the repository; a ``::`` node id is kept as written)."""
    found: list[str] = []
    for pattern in patterns:
        if "::" in pattern or not any(ch in pattern for ch in "*?["):
            if "::" in pattern or (ROOT / pattern).exists():
                found.append(pattern)
            continue
        found.extend(sorted(path.relative_to(ROOT).as_posix() for path in ROOT.glob(pattern)))
    return found


def make_copy(base: Path) -> Path:
    """A private copy of ``src/`` (with the repository's ``profiles/`` beside it, as in a checkout)."""
    shutil.copytree(SRC, base / "src", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if (ROOT / "profiles").is_dir():
        (base / "profiles").symlink_to(ROOT / "profiles", target_is_directory=True)
    return base / "src"


def run_tests(copy_src: Path, tests: list[str], timeout: float) -> tuple[str, float, str | None]:
    """``caught``, ``survived`` or ``timeout``, the seconds the tests took, and the first test that failed."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(copy_src), env.get("PYTHONPATH", "")]))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    command = [sys.executable, "-m", "pytest", *PYTEST_FLAGS, *tests]
    started = time.monotonic()
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - started, None
    seconds = time.monotonic() - started
    if done.returncode == 0:
        return "survived", seconds, None
    lines = done.stdout.decode(errors="replace").splitlines()
    failed = next((line.split(" - ")[0] for line in lines if line.startswith(("FAILED ", "ERROR "))), None)
    return "caught", seconds, failed


def run_mutants(mutants: list[Mutant], tests: list[str], jobs: int, timeout: float, verbose: bool) -> list[Outcome]:
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="vram-advisor-mutants-") as temp:
        workers: queue.Queue[Path] = queue.Queue()
        for number in range(jobs):
            base = Path(temp) / f"w{number}"
            base.mkdir()
            workers.put(make_copy(base))
        sources = {m.file: (ROOT / m.file).read_text(encoding="utf-8") for m in mutants}

        def one(mutant: Mutant) -> Outcome:
            copy_src = workers.get()
            target = copy_src / Path(mutant.file).relative_to("src")
            try:
                target.write_text(mutated_source(sources[mutant.file], mutant), encoding="utf-8")
                result, seconds, failed = run_tests(copy_src, tests, timeout)
            finally:
                target.write_text(sources[mutant.file], encoding="utf-8")
                workers.put(copy_src)
            return Outcome(mutant, result, seconds, failed)

        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            for count, outcome in enumerate(pool.map(one, mutants), start=1):
                outcomes.append(outcome)
                if verbose:
                    by = f"  [{outcome.killed_by}]" if outcome.killed_by else ""
                    print(
                        f"[{count}/{len(mutants)}] {outcome.result:8} {outcome.mutant.where}  "
                        f"{outcome.mutant.description}{by}",
                        file=sys.stderr,
                        flush=True,
                    )
    return outcomes


# ------------------------------------------------------------------------------------------------ the command


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--files", nargs="+", help="source files to mutate (default: plan/ and core/units.py)")
    parser.add_argument("--tests", nargs="+", help="test files or globs run against each mutant (default: plan's)")
    parser.add_argument("--limit", type=int, help="run a sample of this many mutants (seeded by --seed)")
    parser.add_argument("--seed", type=int, default=20, help="the sample's seed (default 20)")
    parser.add_argument("--select", help="only mutants whose file:line contains this text, e.g. choose.py:73")
    parser.add_argument("--jobs", type=int, default=1, help="mutants tested at once (default 1)")
    parser.add_argument("--timeout", type=float, help="seconds per mutant before it counts as caught")
    parser.add_argument("--rerun", type=Path, help="test again only the survivors of an earlier --json result")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument("--json", action="store_true", help="the result as JSON on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    files = [Path(name).resolve() for name in args.files] if args.files else default_files()
    for path in files:
        if not path.is_file() or not path.is_relative_to(SRC):
            print(f"mutate: error: not a source file under src/: {path}", file=sys.stderr)
            return 2
    tests = expand_tests(list(args.tests or DEFAULT_TESTS))
    if not tests:
        print("mutate: error: no test files match", file=sys.stderr)
        return 2
    everything = [mutant for path in files for mutant in mutants_of(path)]
    chosen = [m for m in everything if args.select is None or args.select in m.where]
    if args.rerun is not None:
        earlier = json.loads(args.rerun.read_text(encoding="utf-8"))["mutants"]
        wanted = {(e["file"], e["node"], e["variant"], e["description"]) for e in earlier if e["result"] == "survived"}
        chosen = [m for m in chosen if (m.file, m.node, m.variant, m.description) in wanted]
    if args.limit is not None and args.limit < len(chosen):
        chosen = random.Random(args.seed).sample(chosen, args.limit)
    chosen.sort(key=lambda m: (m.file, m.line, m.node, m.variant))
    if args.list:
        for mutant in chosen:
            print(f"{mutant.where}  [{mutant.operator}]  {mutant.description}")
        print(f"{len(chosen)} of {len(everything)} mutants", file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory(prefix="vram-advisor-mutants-") as temp:
        result, seconds, failed = run_tests(make_copy(Path(temp)), tests, timeout=args.timeout or 1800)
    if result != "survived":
        print(f"mutate: error: the tests fail without any mutant: {failed or result}", file=sys.stderr)
        return 2
    timeout = args.timeout or max(60.0, 5 * seconds)
    if not args.quiet:
        print(
            f"{len(chosen)} of {len(everything)} mutants (seed {args.seed}); the tests take {seconds:.0f} s unmutated",
            file=sys.stderr,
        )
    outcomes = run_mutants(chosen, tests, args.jobs, timeout, verbose=not args.quiet)
    caught = sum(1 for o in outcomes if o.result != "survived")
    survivors = [o for o in outcomes if o.result == "survived"]
    score = caught / len(outcomes) if outcomes else 1.0
    if args.json:
        document = {
            "files": [p.relative_to(ROOT).as_posix() for p in files],
            "tests": tests,
            "generated": len(everything),
            "sampled": len(outcomes),
            "seed": args.seed if args.limit is not None else None,
            "caught": caught,
            "survived": len(survivors),
            "score": round(score, 4),
            "mutants": [
                dict(asdict(o.mutant), result=o.result, seconds=round(o.seconds, 1), killed_by=o.killed_by)
                for o in outcomes
            ],
        }
        print(json.dumps(document, indent=2))
        return 0
    print(f"mutation score: {caught}/{len(outcomes)} caught ({100 * score:.1f}%)")
    for outcome in survivors:
        print(f"survived: {outcome.mutant.where}  [{outcome.mutant.operator}]  {outcome.mutant.description}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
