"""``vram-advisor cluster``: plan across many nodes from inventories (files, folders, stdin), Kubernetes node labels,
Slurm node records, or a probe run on every node of a Ray cluster.

Bad inputs are reported on stderr one by one (which one, why) and skipped; the rest is planned. A stream given up
for garbage (``inputs.Stopped``) keeps the nodes read before it, and one line at the end says where reading stopped
and how much was skipped. Exit 2 only when nothing at all could be planned, with one line that says why (each
skipped input, up to a few, and their number; or where reading stopped).

Long streams may be decoded with the help of a worker process; whether this machine has a CPU to spare for it is
decided here (``worker_allowed``), not in ``cluster_io``, which only reads.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vram_advisor.cli.app import BaseOpt, ContextOpt, JsonOpt, UsersOpt, app
from vram_advisor.cli.common import console
from vram_advisor.core.errors import InventoryError, UsageError
from vram_advisor.core.inputfiles import check_seconds, default_read_timeout
from vram_advisor.core.numbers import shown
from vram_advisor.fleet.inputs import (
    STDIN,
    NodeInput,
    Skipped,
    Stopped,
    inventory_inputs,
    node_inputs,
    parse_listing,
    path_inputs,
    read_text,
)
from vram_advisor.render import warn, write_line, write_text

if TYPE_CHECKING:
    from vram_advisor.fleet.planner import ClusterPlan, ClusterPlanner

#: Skipped inputs listed on stderr one by one; beyond this only their number is given (all are in --json).
MAX_SKIPS_SHOWN = 50
#: Skipped inputs named in the one error line when nothing could be planned.
MAX_SKIPS_IN_ERROR = 5
#: ``VRAM_ADVISOR_WORKERS=0`` keeps stream decoding in one process.
WORKERS_ENV = "VRAM_ADVISOR_WORKERS"
_ADDRESS = re.compile(r"^(auto|local|ray://\S+|[A-Za-z0-9_.\-\[\]:]+:\d{1,5})$")


def _skip_text(skipped: Skipped) -> str:
    from vram_advisor.render.cluster_view import printable

    return f"{printable(skipped.source, 200)}: {printable(skipped.reason, 400)}"


class _SkipReporter:
    """Writes each skipped input to stderr, up to ``MAX_SKIPS_SHOWN``: held back until a first node is planned (if
    none is, ``failure`` says it all in one line), then as they happen."""

    def __init__(self) -> None:
        self.count = 0
        self.planned = False
        self.held: list[Skipped] = []
        self.stopped: list[Skipped] = []

    def stop(self, stopped: Skipped) -> None:
        """A stream was given up (its garbage budget spent): said once, at the end, with what was skipped."""
        self.stopped.append(stopped)

    def __call__(self, skipped: Skipped) -> None:
        self.count += 1
        if not self.planned:
            if len(self.held) < MAX_SKIPS_SHOWN:
                self.held.append(skipped)
        elif self.count <= MAX_SKIPS_SHOWN:
            warn(f"skipped {_skip_text(skipped)}")

    def node_planned(self) -> None:
        """A node was planned: the inputs skipped so far are written, and the next ones as they come."""
        if not self.planned:
            self.planned = True
            for skipped in self.held:
                warn(f"skipped {_skip_text(skipped)}")
            self.held = []

    def finish(self, nodes: int) -> None:
        if self.planned and self.count > MAX_SKIPS_SHOWN:
            warn(f"... and {self.count - MAX_SKIPS_SHOWN} more inputs skipped ({self.count} in all; --json lists them)")
        for stopped in self.stopped:
            warn(
                f"{_skip_text(stopped)}; {self.count} input{'s' if self.count != 1 else ''} skipped in all; "
                f"planning the {nodes} node{'s' if nodes != 1 else ''} read"
            )

    def failure(self) -> InventoryError:
        """The one error line when nothing could be planned: the skipped input and why, or the first few; or where
        reading of a stream full of garbage stopped, and how much was skipped."""
        if self.stopped:
            return InventoryError(
                f"no inventory could be planned: {_skip_text(self.stopped[0])}; {self.count} "
                f"input{'s' if self.count != 1 else ''} skipped"
            )
        if self.count == 0:
            return InventoryError("no inventory could be planned: the input was empty")
        if self.count == 1:
            return InventoryError(f"no inventory could be planned: {_skip_text(self.held[0])}")
        named = "; ".join(_skip_text(skipped) for skipped in self.held[:MAX_SKIPS_IN_ERROR])
        more = self.count - min(len(self.held), MAX_SKIPS_IN_ERROR)
        return InventoryError(
            f"no inventory could be planned: {self.count} inputs skipped: {named}"
            + (f"; and {more} more" if more else "")
        )


def worker_allowed(environ: dict[str, str] | None = None, root: Path | None = None) -> bool:
    """Whether a worker process may help decode a long stream: not switched off (``VRAM_ADVISOR_WORKERS=0``), on
    Linux (``fork``), and at least two whole CPUs usable here (affinity and the container's CPU quota, as the probe
    reads them). Asked only once a stream is long, so short runs never pay for the look."""
    environ = dict(os.environ) if environ is None else environ
    if environ.get(WORKERS_ENV, "").strip() == "0" or not sys.platform.startswith("linux"):
        return False
    from vram_advisor.probe import cgroup, host
    from vram_advisor.probe.context import ProbeContext

    context = ProbeContext(root=root or Path("/"), environ=environ)
    try:
        limits = cgroup.read_limits(context)
    except Exception:  # a strange cgroup tree: judge by affinity alone
        limits = cgroup.CgroupLimits()
    usable = host.read_cpu(context, limits).usable_count
    return usable is not None and usable >= 2


def _split_ray_address(paths: list[str], ray: bool) -> tuple[list[str], str | None]:
    """With ``--ray``, a positional that is an address (``auto``, ``ray://head:10001``, ``head:6379``) and not an
    existing file is the cluster's address: ``cluster --ray [ADDRESS]``."""
    if not ray:
        return paths, None
    addresses = [p for p in paths if p != STDIN and _ADDRESS.match(p) and not Path(p).exists()]
    if len(addresses) > 1:
        raise UsageError(f"--ray takes one address, got {', '.join(addresses)}")
    rest = [p for p in paths if p not in addresses]
    return rest, addresses[0] if addresses else None


def _listing(path: str, kind: str, timeout_s: float) -> Iterator[NodeInput | Skipped]:
    if kind == "k8s":
        from vram_advisor.fleet.readers import k8s as reader
    else:
        from vram_advisor.fleet.readers import slurm as reader  # type: ignore[no-redef]
    try:
        text, name = read_text(path, reader.LISTING_LIMIT, reader.WHAT, timeout_s)
        data = parse_listing(text, name, reader.WHAT)
        del text
        yield from inventory_inputs(reader.read_nodes(data, name))
    except InventoryError as exc:
        source, _, reason = exc.message.partition(": ")
        yield Skipped(source or path, reason or exc.message)


def _ray_inputs(address: str | None, timeout_s: float) -> Iterator[NodeInput | Skipped]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from vram_advisor.fleet import ray as ray_scan

    progress = Progress(
        TextColumn("probing Ray nodes"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console(stderr=True),
        transient=True,
    )
    task = progress.add_task("probe", total=None)
    with progress:
        yield from node_inputs(
            ray_scan.scan(
                address,
                timeout_s,
                on_total=lambda total: progress.update(task, total=total),
                on_done=lambda done: progress.advance(task, done),
                warn=warn,
            )
        )


def _inputs(
    paths: list[str],
    ray: bool,
    ray_address: str | None,
    ray_timeout: float,
    from_k8s: str | None,
    from_slurm: str | None,
    follow_symlinks: bool,
    read_timeout: float,
) -> Iterator[NodeInput | Skipped]:
    for path in paths:
        yield from path_inputs(path, worker=worker_allowed, follow_symlinks=follow_symlinks, timeout_s=read_timeout)
    if from_k8s is not None:
        yield from _listing(from_k8s, "k8s", read_timeout)
    if from_slurm is not None:
        yield from _listing(from_slurm, "slurm", read_timeout)
    if ray:
        yield from _ray_inputs(ray_address, ray_timeout)


def _nodes_listed(text: str | None) -> int | None:
    """``--nodes``: a count (0 to list none) or ``all`` (None); not given, the view's own default."""
    if text is None:
        from vram_advisor.render.cluster_view import NODES_SHOWN

        return NODES_SHOWN
    if text.strip().lower() == "all":
        return None
    from vram_advisor.core.numbers import NumberError, parse_int

    try:
        return parse_int(text, 0, 10**9)
    except NumberError:
        raise UsageError(f"--nodes {shown(text)}: expected a number of nodes or all") from None


class _JsonStream:
    """``cluster --json`` for a large fleet, written as the nodes are planned: memory stays flat however many nodes
    come. Up to ``COMPACT_OVER_NODES`` nodes nothing is written here (the document is indented, written at the end);
    past them the one-line document begins, with the nodes so far, and each node follows as it is planned."""

    def __init__(self, planner: ClusterPlanner) -> None:
        from vram_advisor.report.cluster import COMPACT_OVER_NODES, CompactJson

        self.planner = planner
        self.writer = CompactJson(planner.base)
        self.after = COMPACT_OVER_NODES
        self.written = 0
        self.started = False

    def added(self) -> None:
        nodes = self.planner.nodes
        if not self.started:
            if len(nodes) <= self.after:
                return
            self.started = True
            _write(self.writer.head())
        while self.written < len(nodes):
            node = nodes[self.written]
            text = self.writer.node(node, self.planner.entries, self.planner.groups[node.group].id)
            _write(text if self.written == 0 else "," + text)
            self.written += 1

    def finish(self, result: ClusterPlan) -> None:
        _write(self.writer.tail(result) + "\n")
        sys.stdout.flush()


def _write(text: str) -> None:
    from vram_advisor.report.cluster import utf8_safe

    write_text(utf8_safe(text))


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Node records hold no reference cycles; the collector's repeated scans of the growing list of nodes would cost
    more than planning them, so it is paused while they are read."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@app.command()
def cluster(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[PATH]...",
            help="Inventories (probe --json): files, folders of *.json, or - for stdin (NDJSON or JSON objects one "
            "after another). With --ray, an ADDRESS (auto, ray://head:10001, head:6379) may be given here.",
            show_default=False,
        ),
    ] = None,
    json_output: JsonOpt = False,
    csv_output: Annotated[bool, typer.Option("--csv", help="One row per node as CSV, for spreadsheets.")] = False,
    ray: Annotated[
        bool,
        typer.Option("--ray", help="Probe every alive node of a Ray cluster (needs vram-advisor[ray] on all nodes)."),
    ] = False,
    ray_timeout: Annotated[
        float,
        typer.Option("--ray-timeout", metavar="SECONDS", min=1, help="How long to wait for the Ray nodes' answers."),
    ] = 120.0,
    from_k8s: Annotated[
        str | None,
        typer.Option(
            "--from-k8s", metavar="FILE", help="Read `kubectl get nodes -o json` (GPU Feature Discovery labels)."
        ),
    ] = None,
    from_slurm: Annotated[
        str | None,
        typer.Option("--from-slurm", metavar="FILE", help="Read `scontrol show nodes --json` (gres and real_memory)."),
    ] = None,
    read_timeout: Annotated[
        float | None,
        typer.Option(
            "--read-timeout",
            metavar="SECONDS",
            help="How long a pipe, FIFO or device may stay silent before reading it stops (exit 2; default 120, "
            "or $VRAM_ADVISOR_READ_TIMEOUT).",
            show_default=False,
        ),
    ] = None,
    follow_symlinks: Annotated[
        bool,
        typer.Option("--follow-symlinks", help="Also read a folder's symbolic links that lead out of the folder."),
    ] = False,
    base: BaseOpt = False,
    sizes: Annotated[
        str,
        typer.Option(
            "--sizes",
            metavar="real|table",
            help="Judge each node on the real downloads (default, as check does) or on the article's figures alone.",
        ),
    ] = "real",
    context: ContextOpt = None,
    users: UsersOpt = None,
    nodes: Annotated[
        str | None,
        typer.Option(
            "--nodes",
            metavar="N|all",
            help="How many nodes the human view lists, most headroom first (default: 20, for fleets of more than 20; "
            "all: every node).",
        ),
    ] = None,
) -> None:
    """Plan across many nodes: per node, per group of identical nodes, and what only several nodes together hold."""
    check_seconds(ray_timeout, "--ray-timeout")
    timeout_s = default_read_timeout() if read_timeout is None else check_seconds(read_timeout, "--read-timeout")
    paths, ray_address = _split_ray_address(list(paths or []), ray)
    if json_output and csv_output:
        raise UsageError("--json and --csv: choose one output")
    if not paths and not ray and from_k8s is None and from_slurm is None:
        raise UsageError("no inventories given: name files or folders, - for stdin, --ray, --from-k8s or --from-slurm")
    stdin_uses = paths.count(STDIN) + [from_k8s, from_slurm].count(STDIN)
    if stdin_uses > 1:
        raise UsageError("standard input (-) can be read only once")
    if STDIN in paths and sys.stdin.isatty():
        warn("reading inventories from the terminal: paste NDJSON and end with Ctrl-D (or pipe probe output in)")
    from vram_advisor.catalog.userprofiles import default_catalog, report_broken
    from vram_advisor.plan.rules import candidates

    listed = _nodes_listed(nodes)
    basis = sizes.strip().lower()
    if basis not in ("real", "table"):
        raise UsageError(f"--sizes {shown(sizes)}: expected real or table")
    from vram_advisor.fleet.planner import ClusterPlanner

    catalog = default_catalog()
    report_broken(catalog, [model.id for model in candidates(catalog, base)])
    from vram_advisor.options import check_served_tokens, parse_context, parse_users
    from vram_advisor.service import check_context_in_play

    in_play = candidates(catalog, base)
    tokens = parse_context(context, in_play)
    check_context_in_play(context, tokens, in_play)  # as check: never judged on the table alone for it
    sequences = parse_users(users)
    check_served_tokens(sequences, tokens)
    planner = ClusterPlanner(catalog, base=base, sizes=basis, context_tokens=tokens, sequences=sequences)
    report = _SkipReporter()
    # a Ray scan can still fail after the nodes piped in: then the JSON is written whole at the end, or not at all
    streaming = _JsonStream(planner) if json_output and not ray else None
    with _no_cycle_collection():
        for item in _inputs(paths, ray, ray_address, ray_timeout, from_k8s, from_slurm, follow_symlinks, timeout_s):
            if isinstance(item, Stopped):
                report.stop(planner.stop(item))
            elif isinstance(item, Skipped):
                report(planner.skip(item))
            else:
                duplicate = planner.add(item)
                if duplicate is not None:
                    report(duplicate)
                else:
                    report.node_planned()
                    if streaming is not None:
                        streaming.added()
        result = planner.finish()
    if not result.nodes:
        raise report.failure()
    report.finish(len(result.nodes))
    if streaming is not None and streaming.started:
        streaming.finish(result)
    elif json_output:
        from vram_advisor.report.cluster import cluster_json

        write_line(cluster_json(result))
    elif csv_output:
        from vram_advisor.report.cluster import write_csv

        write_csv(result, sys.stdout)
    else:
        from vram_advisor.render.cluster_view import cluster_view
        from vram_advisor.render.human import print_view

        print_view(cluster_view(result, listed, asked=nodes is not None), console())
