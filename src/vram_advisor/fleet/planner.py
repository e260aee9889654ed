"""Planning across many nodes (pure): per-node recommendations, totals, groups of identical nodes, multi-node plans.

Each node is judged by the planner ``check`` uses (``plan.machine_of``, ``plan.evaluate``, ``plan.recommend``,
``plan.stretch_of``) on all of its GPUs: the admin's CUDA_VISIBLE_DEVICES says nothing about other machines, and the
``visible`` flags a probe wrote only reflect how the probe was launched there.

Scale: nodes are added one at a time and only a small record is kept per node. Identical machines share one evaluated
plan (cached by GPUs and RAM, then by ``Machine``; options by their vector of fits), so the work per node is a few
dictionary look-ups however large the fleet.

Multi-node plans: ``multinode``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import field
from typing import Any

from vram_advisor.catalog.profiles import Catalog, ModelProfile, QuantRow
from vram_advisor.core.records import Record, dataclass
from vram_advisor.fleet import nodefacts
from vram_advisor.fleet.inputs import NodeInput, Skipped
from vram_advisor.fleet.multinode import MultiNodePlan, Node, multi_node_plans
from vram_advisor.fleet.nodefacts import NodeFacts
from vram_advisor.fleet.ramsteps import RamSteps, class_key, spare_ram_of
from vram_advisor.inventory import model as inv
from vram_advisor.inventory.model import Gpu, Inventory
from vram_advisor.plan import rules as plan
from vram_advisor.plan.check_estimates import verdict_placement
from vram_advisor.plan.choose import Choice
from vram_advisor.plan.estimate import Placement
from vram_advisor.plan.estimate.speculative import Speculative, speculative_for
from vram_advisor.plan.rules import COMFORTABLE, MINIMUM, Machine, Option, Recommendation

SCHEMA = "vram-advisor/cluster/v1"
#: Skipped inputs kept for the report (all are counted; the rest are only counted).
MAX_SKIPPED_KEPT = 1000
#: A hostname longer than this (DNS allows 253) is not used as the node's name.
MAX_HOSTNAME = 255
_FIT_ORDER = {COMFORTABLE: 0, MINIMUM: 1}


@dataclass(frozen=True, repr=False)
class MachinePlan(Record):
    """The verdict for one distinct machine, shared by every node that is that machine."""

    machine: Machine
    options: tuple[Option, ...]
    recommendation: Recommendation
    stretch: Option | None
    #: What a person reads of this plan (recommendation and stretch, not the exact figures): nodes are grouped by it.
    verdict: tuple[str | None, ...]
    #: Where the recommendation runs by the estimate it was judged on (rule 9), for its speed; None otherwise.
    run_placement: Placement | None = None
    #: Drafting on the run (``decode_tokens_per_s.speculative``), as ``check`` reports it
    speculative: Speculative | None = None


def _verdict(recommendation: Recommendation, stretch: Option | None) -> tuple[str | None, ...]:
    option = recommendation.option
    return (
        recommendation.kind,
        option.key[0] if option else None,
        option.key[1] if option else None,
        option.fit if option else None,
        stretch.key[0] if stretch else None,
        stretch.key[1] if stretch else None,
        stretch.fit if stretch else None,
    )


@dataclass(eq=False, repr=False)
class HardwareGroup(Record):
    """Nodes with the same GPU model(s) and count: one row of the fleet table."""

    id: int
    gpus: tuple[tuple[str, int], ...]
    nodes: list[int] = field(default_factory=list)
    #: How many nodes got each verdict (``MachinePlan.verdict``), and one plan that gave it.
    verdicts: Counter[tuple[str | None, ...]] = field(default_factory=Counter)
    examples: dict[tuple[str | None, ...], int] = field(default_factory=dict)
    usable_min: int | None = None
    usable_max: int | None = None

    @property
    def gpu_count(self) -> int:
        return sum(count for _, count in self.gpus)

    @property
    def label(self) -> str:
        if not self.gpus:
            return "no GPU"
        return " + ".join(f"{count} × {name}" for name, count in self.gpus)


@dataclass(repr=False)
class ClusterPlan(Record):
    """Everything ``cluster`` reports."""

    base: bool
    nodes: list[Node]
    entries: list[MachinePlan]
    groups: list[HardwareGroup]
    multi_node: list[MultiNodePlan]
    skipped: list[Skipped]
    skipped_count: int
    #: Streams given up when their garbage budget was spent (where and why); the nodes read before still count.
    stopped: list[Skipped] = field(default_factory=list)

    @property
    def total_gpus(self) -> int:
        return sum(node.gpu_count for node in self.nodes)

    @property
    def total_usable_vram_bytes(self) -> int:
        return sum(node.usable_vram_bytes for node in self.nodes)

    @property
    def total_spare_ram_bytes(self) -> int:
        return sum(node.spare_ram_bytes for node in self.nodes)


def _gpu_models(gpus: tuple[tuple[str, int, int, bool], ...]) -> tuple[tuple[str, int], ...]:
    counts: Counter[str] = Counter(row[0] for row in gpus)
    return tuple(counts.items())


class ClusterPlanner:
    """Adds nodes one by one (``add``), keeps small records, and plans the fleet (``finish``)."""

    def __init__(
        self,
        catalog: Catalog,
        base: bool = False,
        sizes: str = "real",
        context_tokens: int = 32 * 1024,
        sequences: int = 1,
    ) -> None:
        self.catalog = catalog
        self.base = base
        #: ``--users``: the concurrent sequences at the context every plan's KV cache is for
        self.sequences = sequences
        #: "real" judges each node as ``check`` does by default (rule 9); "table" by the article's figures alone.
        self.sizes = sizes
        self.context_tokens = context_tokens
        self.ranked: list[tuple[ModelProfile, QuantRow]] = plan.ranking(*plan.candidates(catalog, base))
        self.nodes: list[Node] = []
        self.entries: list[MachinePlan] = []
        self.groups: list[HardwareGroup] = []
        self.skipped: list[Skipped] = []
        self.skipped_count = 0
        self.stopped: list[Skipped] = []
        self._by_key: dict[tuple[Any, ...], tuple[int, int, int]] = {}
        self._by_machine: dict[Machine, int] = {}
        self._by_fits: dict[tuple[str, ...], tuple[Option, ...]] = {}
        self._fits_cache_ok = True
        self._group_of: dict[tuple[tuple[str, int], ...], int] = {}
        self._names: set[str] = set()
        self._machines_seen: dict[tuple[object, ...], str] = {}
        #: Under rule 9, per hardware class: the spare RAM steps and the judged options of each step seen
        self._steps: dict[tuple[object, ...], RamSteps] = {}
        #: The entry of each distinct answer: the options judged (kept alive by ``_steps`` or ``_by_fits``), the
        #: GPUs' usable VRAM and count, the kind and the reason, which carries the spare RAM as printed
        self._by_answer: dict[tuple[int, int, int, str, str], int] = {}
        self._gpu_parts: dict[tuple[tuple[str, int, int, bool], ...], tuple[int, int, bool]] = {}

    # --------------------------------------------------------------------------------------- per machine

    def _entry_for(self, machine: Machine, facts: NodeFacts) -> int:
        """The plan of one machine. Under rule 9 (``--sizes real``) the GPUs themselves matter (the even split, the
        engine's overhead per GPU), so the options are judged once per hardware class and step of spare RAM."""
        if self.sizes == "real":
            judged, choices = self._judged(machine, facts)
            return self._append(machine, judged, choices)
        index = self._by_machine.get(machine)
        if index is not None:
            return index
        fits = tuple(plan.fit_of(quant, machine) for _, quant in self.ranked)
        found = self._by_fits.get(fits) if self._fits_cache_ok else None
        if found is not None:
            options = found
        else:
            options = plan.evaluate(self.catalog, machine, self.base)
            if tuple(option.fit for option in options) == fits:
                self._by_fits[fits] = options
            else:  # the planner grew a rule beyond fit_of: evaluate every machine
                self._fits_cache_ok = False
        index = self._append(machine, options)
        self._by_machine[machine] = index
        return index

    def _judged(
        self, machine: Machine, facts: NodeFacts
    ) -> tuple[tuple[Option, ...], Mapping[tuple[str, str], Choice]]:
        """The options judged on their real downloads (rule 9), once per hardware class and step of spare RAM
        (``ramsteps``): every node of a step gets the very options a lone ``check`` would judge on it."""
        key = class_key(facts, machine)
        steps = self._steps.get(key)
        step = steps.step(machine.spare_ram_bytes) if steps is not None else None
        if steps is not None and step in steps.judged:
            return steps.judged[step]
        from vram_advisor.plan.realfit import judge_for

        inventory = planning_inventory(facts)
        judge, made = judge_for(inventory, machine, self.catalog.engines, self.context_tokens, sequences=self.sequences)
        judged = (plan.evaluate(self.catalog, machine, self.base, judge=judge), made())
        if steps is None:
            steps = self._steps[key] = RamSteps.of(judged[1], [row for _, row in self.ranked], machine)
            step = steps.step(machine.spare_ram_bytes)
        assert step is not None
        steps.judged[step] = judged
        return judged

    def _machine(self, facts: NodeFacts) -> Machine:
        """``plan.machine_of(planning_inventory(facts))``, with the GPUs' part worked out once per GPU set."""
        gpus = self._gpu_parts.get(facts.gpus)
        if gpus is None:
            whole = plan.machine_of(planning_inventory(facts))
            gpus = self._gpu_parts[facts.gpus] = (whole.usable_vram_bytes, whole.gpu_count, whole.unified)
        usable, count, unified = gpus
        return Machine(usable, spare_ram_of(facts, unified), count, unified)

    def _append(
        self, machine: Machine, options: tuple[Option, ...], choices: Mapping[tuple[str, str], Choice] | None = None
    ) -> int:
        recommendation = plan.recommend(
            options, machine, real=choices is not None, label=plan.family_label(self.catalog)
        )
        shared = (id(options), machine.usable_vram_bytes, machine.gpu_count, recommendation.kind, recommendation.reason)
        index = self._by_answer.get(shared)
        if index is not None:  # another node of this step whose answer reads the same, to the letter
            return index
        stretch = plan.stretch_of(options, recommendation)
        run_placement, drafting = None, None
        chosen = recommendation.option
        if choices is not None and chosen is not None and chosen.key in choices:
            choice = choices[chosen.key]
            run_placement = verdict_placement(choice.estimate, recommendation.kind, chosen)
            if run_placement is not None:
                drafting = speculative_for(choice.estimate, run_placement, choice.engine, choice.download.repo)
        index = self._by_answer[shared] = len(self.entries)
        self.entries.append(
            MachinePlan(
                machine=machine,
                options=options,
                recommendation=recommendation,
                stretch=stretch,
                run_placement=run_placement,
                speculative=drafting,
                verdict=_verdict(recommendation, stretch),
            )
        )
        return index

    def _group_for(self, models: tuple[tuple[str, int], ...]) -> int:
        index = self._group_of.get(models)
        if index is None:
            index = len(self.groups)
            self.groups.append(HardwareGroup(id=index + 1, gpus=models))
            self._group_of[models] = index
        return index

    # ------------------------------------------------------------------------------------------- nodes

    def _unique_name(self, hostname: str | None, source: str) -> str:
        if hostname is not None and hostname.strip() and len(hostname) <= MAX_HOSTNAME:
            name = hostname if hostname not in self._names else f"{hostname} ({source})"
        else:
            name = source
        base, number = name, 1
        while name in self._names:
            number += 1
            name = f"{base} #{number}"
        self._names.add(name)
        return name

    def add(self, item: NodeInput) -> Skipped | None:
        """Plan one node. Returns ``Skipped`` when it is the same machine as a node already added."""
        source, facts = item
        fingerprint = nodefacts.fingerprint(facts, source)
        first = self._machines_seen.get(fingerprint) if fingerprint is not None else None
        if first is not None:
            why = "same hostname and GPU UUIDs" if facts.uuids else "same hostname and inventory, no GPU UUIDs"
            return self.skip(Skipped(source, f"same machine as {first} ({why}): counted once"))
        key = (facts.gpus, facts.ram_total_bytes, facts.ram_limit_bytes, facts.ram_bandwidth)
        cached = self._by_key.get(key)
        if cached is None:
            machine = self._machine(facts)
            entry = self._entry_for(machine, facts)
            cached = (entry, self._group_for(_gpu_models(facts.gpus)), machine.spare_ram_bytes)
            self._by_key[key] = cached
        entry_index, group_index, spare = cached
        usable = self.entries[entry_index].machine.usable_vram_bytes
        name = self._unique_name(facts.hostname, source)
        if fingerprint is not None:
            self._machines_seen[fingerprint] = name
        node_index = len(self.nodes)
        self.nodes.append(
            Node(
                name=name,
                source=source,
                hostname=facts.hostname,
                group=group_index,
                entry=entry_index,
                usable_vram_bytes=usable,
                gpu_count=len(facts.gpus),
                interconnect=facts.interconnect,
                hidden_gpus=facts.hidden_gpus,
                spare_ram_bytes=spare,
                measured=facts.measured,
            )
        )
        group = self.groups[group_index]
        group.nodes.append(node_index)
        verdict = self.entries[entry_index].verdict
        group.verdicts[verdict] += 1
        group.examples.setdefault(verdict, entry_index)
        group.usable_min = usable if group.usable_min is None else min(group.usable_min, usable)
        group.usable_max = usable if group.usable_max is None else max(group.usable_max, usable)
        return None

    def skip(self, skipped: Skipped) -> Skipped:
        """Record an input that was not planned (kept up to ``MAX_SKIPPED_KEPT``, all counted)."""
        self.skipped_count += 1
        if len(self.skipped) < MAX_SKIPPED_KEPT:
            self.skipped.append(skipped)
        return skipped

    def stop(self, stopped: Skipped) -> Skipped:
        """Record a stream that was given up (not counted as a skipped input: what it still held was not read)."""
        self.stopped.append(stopped)
        return stopped

    # ------------------------------------------------------------------------------------------ finish

    def _multi_node_rows(self) -> list[tuple[ModelProfile, QuantRow]]:
        """The rows a group of nodes is judged on: the article's, or under rule 9 each raised to its real need on
        the smallest group that could hold it (two of the fleet's largest nodes' GPU count)."""
        if self.sizes != "real" or not self.nodes:
            return self.ranked
        from vram_advisor.plan.realfit import group_row

        gpus = 2 * max(node.gpu_count for node in self.nodes)
        return [(model, group_row(model, row, self.context_tokens, gpus, self.sequences)) for model, row in self.ranked]

    def finish(self) -> ClusterPlan:
        return ClusterPlan(
            base=self.base,
            nodes=self.nodes,
            entries=self.entries,
            groups=self.groups,
            multi_node=multi_node_plans(self.nodes, self.groups, self._multi_node_rows()),
            skipped=self.skipped,
            skipped_count=self.skipped_count,
            stopped=self.stopped,
        )


# ------------------------------------------------------------------------------------------- multi-node


# ----------------------------------------------------------------------------------------- planner input

_GPU_CACHE: dict[tuple[str, int, int, bool], Gpu] = {}


def planning_inventory(facts: NodeFacts) -> Inventory:
    """An inventory carrying exactly what the planner reads (GPUs, all visible, and RAM), for ``plan.machine_of``."""
    gpus = []
    for row in facts.gpus:
        gpu = _GPU_CACHE.get(row)
        if gpu is None:
            name, total, reserved, unified = row
            gpu = Gpu(name=name, memory_total_bytes=total, memory_reserved_bytes=reserved or None, unified=unified)
            if len(_GPU_CACHE) < 4096:
                _GPU_CACHE[row] = gpu
        gpus.append(gpu)
    return Inventory(
        ram=inv.Ram(
            total_bytes=facts.ram_total_bytes,
            available_bytes=facts.ram_available_bytes,
            limit_bytes=facts.ram_limit_bytes,
            swap_total_bytes=facts.ram_swap_bytes,
            bandwidth=nodefacts.ram_reading(facts.ram_bandwidth),
        ),
        gpus=tuple(gpus),
        hostname=facts.hostname,
    )
