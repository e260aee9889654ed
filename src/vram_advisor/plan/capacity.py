"""How many users the recommendation serves (``--users``): the most concurrent sequences at ``--context`` each that
still fit its placement, and the aggregate decode throughput of the users asked for.

The most users: the KV cache grows by one sequence's worth per user, everything else stays. All on the GPUs (or in
unified memory): as many as the placement's budget (vLLM's even tensor-parallel split, llama.cpp's usable VRAM) holds
beside the weights and overhead. CPU only: as many as spare RAM holds. GPU+RAM: each user's KV on the GPUs pushes
routed experts to RAM (``layers.split_experts``), so the most is the largest count whose split still leaves RAM
enough; mapped from the disk, the largest whose non-expert part still fits the GPUs (or RAM without GPUs).

Aggregate throughput: each decode step serves every user one token. The step reads the non-expert weights once, the
routed experts that the users' tokens pick between them (with experts used evenly, a layer of E experts with k per
token touches E x (1 - (1 - k/E)^N) distinct experts for N tokens), and pays the single-stream per-layer floor,
which grows by ``FLOOR_GROWTH`` for each user beyond the first (batched kernels do more work). Fitted on the two
public runs with a concurrency figure: FlashML-org/FreeToken#444 (V4-Flash, RTX 5090 + DDR4, experts in RAM: 25.7
tok/s single, 65.6 aggregate at 8) and vllm-project/vllm PR #40852 (V4-Flash, 2 RTX PRO 6000, vLLM TP=2: 37.8 single,
93 at 10). Printed as a range, ÷/x ``speed.RANGE_FACTOR``. Pure.
"""

from __future__ import annotations

from collections.abc import Callable

from vram_advisor.catalog.architecture import Architecture
from vram_advisor.core.records import Record, dataclass
from vram_advisor.plan.estimate.layers import split_experts
from vram_advisor.plan.estimate.option import Estimate
from vram_advisor.plan.estimate.placement import MachineView, Placement
from vram_advisor.plan.estimate.speed import SpeedEstimate, read_seconds, step_speed
from vram_advisor.plan.machine import PLACEMENT_CPU, PLACEMENT_GPU, PLACEMENT_HYBRID, PLACEMENT_NVME

#: The most concurrent sequences a plan is asked about (``options.MAX_USERS``) and counted up to here.
MOST_USERS = 4096
#: How much the per-step floor grows for each user beyond the first (see the module).
FLOOR_GROWTH = 0.1


@dataclass(frozen=True, eq=False, repr=False)
class Capacity(Record):
    """The users asked for, the most that fit the recommendation's placement, and their aggregate decode speed."""

    users: int
    max_users: int
    placement: str
    kv_per_user_bytes: int
    aggregate: SpeedEstimate | None


def kv_per_user(estimate: Estimate) -> int:
    """One sequence's KV cache at the context (the estimate's KV for its sequences, divided evenly)."""
    kv = estimate.kv
    if kv is None or kv.sequences <= 0:
        return 0
    return -(-kv.total_bytes // kv.sequences)


def most_users(placement: Placement, estimate: Estimate, machine: MachineView) -> int:
    """The most concurrent sequences at the context that still fit ``placement`` (at least 0, at most
    ``MOST_USERS``)."""
    per_user = kv_per_user(estimate)
    if per_user <= 0:
        return MOST_USERS
    kv_now = placement.kv_bytes
    weights = estimate.weights
    if placement.kind == PLACEMENT_GPU:
        budget = placement.budget_bytes if placement.budget_bytes is not None else machine.usable_vram_bytes
        return _clamp((budget - (placement.gpu_bytes - kv_now)) // per_user)
    if placement.kind == PLACEMENT_CPU:
        return _clamp((machine.spare_ram_bytes - (placement.ram_bytes - kv_now)) // per_user)
    if placement.kind == PLACEMENT_NVME and placement.kv_on == "ram":  # no GPU: RAM caches experts in what is left
        fixed = (weights.other_bytes or 0) + placement.overhead.total_bytes
        return _clamp((machine.spare_ram_bytes - fixed) // per_user)
    arch = estimate.model.architecture
    if arch is None or weights.other_bytes is None or weights.routed_bytes is None:
        return 0
    return _largest(lambda users: _split_fits(placement, arch, estimate, machine, users * per_user))


def _split_fits(placement: Placement, arch: Architecture, estimate: Estimate, machine: MachineView, kv: int) -> bool:
    weights = estimate.weights
    assert weights.other_bytes is not None and weights.routed_bytes is not None
    split = split_experts(
        machine.capacities,
        placement.overhead.per_device_bytes,
        arch.layers,
        weights.other_bytes,
        kv,
        weights.routed_bytes,
    )
    if split is None:
        return False
    return placement.kind != PLACEMENT_HYBRID or split.ram_routed_bytes <= machine.spare_ram_bytes


def _largest(fits: Callable[[int], bool]) -> int:
    """The largest count in 1..MOST_USERS for which ``fits`` holds (fits is monotone: more users never fit better);
    0 when even one does not."""
    if not fits(1):
        return 0
    low, high = 1, MOST_USERS
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def _clamp(count: int) -> int:
    return max(0, min(MOST_USERS, count))


def distinct_experts_share(arch: Architecture, users: int) -> float:
    """How many times one token's routed experts a decode step of ``users`` tokens reads: E x (1 - (1 - k/E)^N) / k
    distinct experts per layer, experts picked evenly."""
    experts, per_token = arch.routed_experts, arch.experts_per_token
    if experts <= 0 or per_token <= 0 or users <= 1:
        return 1.0
    return experts * (1 - (1 - per_token / experts) ** users) / per_token


def aggregate_speed(placement: Placement, estimate: Estimate, users: int) -> SpeedEstimate | None:
    """The aggregate decode speed (tokens per second, all users together) of ``users`` concurrent sequences."""
    single = placement.speed
    arch = estimate.model.architecture
    active = estimate.active
    if single is None or arch is None or active is None or users <= 1:
        return single
    share = distinct_experts_share(arch, users)
    routed_share = active.routed / active.total if active.total else 0.0
    seconds = 0.0
    for tier in placement.tiers:
        if tier.reads_per_token_bytes <= 0:
            continue
        reads = tier.reads_per_token_bytes * ((1 - routed_share) + routed_share * share)
        seconds += read_seconds(tier, reads) or 0.0  # a single-stream speed means every reading tier's is known
    floor = single.floor_ms * (1 + FLOOR_GROWTH * (users - 1))
    words = f"{single.floor_words}, +{FLOOR_GROWTH:.0%} per user beyond the first"
    return step_speed(users, seconds, floor, words)


def capacity(placement: Placement, estimate: Estimate, machine: MachineView) -> Capacity:
    """The recommendation's capacity on ``machine``: users asked for, the most that fit, and their throughput."""
    users = estimate.kv.sequences if estimate.kv is not None else 1
    return Capacity(
        users=users,
        max_users=most_users(placement, estimate, machine),
        placement="unified" if placement.kind == PLACEMENT_GPU and machine.unified else placement.kind,
        kv_per_user_bytes=kv_per_user(estimate),
        aggregate=aggregate_speed(placement, estimate, users) if users > 1 else None,
    )
