"""How a GPU+RAM plan splits the routed experts by layer (contract rule 9: "the non-expert part and as many layers'
routed experts as fit within usable VRAM, the remaining routed experts within spare RAM").

llama.cpp does it with ``--n-cpu-moe N``, which keeps the routed-expert tensors of the first N layers in RAM
(ggml-org/llama.cpp PR #15077; asked to be planned in ggml-org/llama.cpp#27501 and lmstudio-bug-tracker#1673). The
layers are spread over the GPUs in device order (``--tensor-split``), so the split is computed GPU by GPU: each GPU
holds its share of the runtime overhead, its layers' non-expert weights and KV (spread evenly over the layers), and
the routed experts of the layers it holds beyond the first N. The first N layers are cheap, the last ones carry
their experts: filling the GPUs in order with as many layers as each can hold is the best split for a given N, and
N is the smallest for which every layer finds a GPU. On GPUs of different sizes each takes what its memory allows.
Pure arithmetic on integer bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from vram_advisor.core.records import Record, dataclass


@dataclass(frozen=True, eq=False, repr=False)
class ExpertSplit(Record):
    """Which layers' routed experts stay on the GPUs: the last ``on_gpu_layers`` of ``layers``, with each GPU's
    layer count in device order (``gpu_layers``: llama.cpp's ``--tensor-split``)."""

    layers: int
    on_gpu_layers: int
    routed_bytes: int
    gpu_layers: tuple[int, ...]

    @property
    def cpu_layers(self) -> int:
        """The first layers, whose routed experts stay in RAM (llama.cpp's ``--n-cpu-moe`` value)."""
        return self.layers - self.on_gpu_layers

    @property
    def gpu_routed_bytes(self) -> int:
        """The routed experts on the GPUs (experts are the same size in every layer)."""
        return self.routed_bytes * self.on_gpu_layers // self.layers if self.layers else 0

    @property
    def ram_routed_bytes(self) -> int:
        return self.routed_bytes - self.gpu_routed_bytes

    @property
    def partial(self) -> bool:
        """Some layers' experts on the GPUs and some in RAM."""
        return 0 < self.on_gpu_layers < self.layers


def _fill(rooms: Sequence[int], layers: int, cheap: int, layer_bytes: int, expert_bytes: int) -> tuple[int, ...] | None:
    """Each GPU's layer count when the layers are laid out in order over GPUs with ``rooms`` bytes each: the first
    ``cheap`` layers cost ``layer_bytes``, the others ``layer_bytes + expert_bytes``. None when some layer is left."""
    counts = []
    placed = 0
    for room in rooms:
        taken = 0
        if room > 0:
            first = max(0, cheap - placed)
            fits_cheap = room // layer_bytes if layer_bytes else layers
            taken = min(first, fits_cheap, layers - placed)
            room -= taken * layer_bytes
            if taken == first:
                dear = layer_bytes + expert_bytes
                taken += min(layers - placed - taken, room // dear if dear else layers)
        counts.append(taken)
        placed += taken
    return tuple(counts) if placed >= layers else None


def split_experts(
    capacities: Sequence[int],
    overhead_per_gpu: int,
    layers: int,
    other_bytes: int,
    kv_bytes: int,
    routed_bytes: int,
    most_layers: int | None = None,
) -> ExpertSplit | None:
    """The split that keeps the most layers' routed experts (at most ``most_layers``: 0 keeps them all in RAM, as
    ``-ot exps=CPU`` and ktransformers do) on GPUs of ``capacities`` bytes each (device order), each also holding
    ``overhead_per_gpu`` and its layers' share of ``other_bytes + kv_bytes``; None when the non-expert part alone
    does not fit (or there is no GPU or no layer)."""
    return _split(tuple(capacities), overhead_per_gpu, layers, other_bytes, kv_bytes, routed_bytes, most_layers)


@lru_cache(maxsize=1024)
def _split(
    capacities: tuple[int, ...],
    overhead_per_gpu: int,
    layers: int,
    other_bytes: int,
    kv_bytes: int,
    routed_bytes: int,
    most_layers: int | None,
) -> ExpertSplit | None:
    # cached: the GPU+RAM and the mmap plans of one option ask for the same split
    if not capacities or layers <= 0:
        return None
    rooms = [capacity - overhead_per_gpu for capacity in capacities]
    layer_bytes = -(-(other_bytes + kv_bytes) // layers)
    expert_bytes = -(-routed_bytes // layers)
    cap = layers if most_layers is None else max(0, min(layers, most_layers))
    if len(rooms) == 1:  # one GPU: every layer's non-expert part, then as many layers' experts as the rest holds
        left = rooms[0] - layers * layer_bytes
        if left < 0:
            return None
        most = min(cap, left // expert_bytes if expert_bytes else layers)
        return ExpertSplit(layers=layers, on_gpu_layers=most, routed_bytes=routed_bytes, gpu_layers=(layers,))
    if _fill(rooms, layers, layers, layer_bytes, expert_bytes) is None:
        return None
    # the layer split can never hold more experts than the summed rooms allow, and it loses at most about one layer
    # per GPU to the boundaries: the few counts just below that bound are tried first
    spare = sum(max(0, room) for room in rooms) - layers * layer_bytes
    high = min(cap, spare // expert_bytes if expert_bytes else layers)
    for tried in range(high, max(-1, high - 3), -1):
        counts = _fill(rooms, layers, layers - tried, layer_bytes, expert_bytes)
        if counts is not None:
            return ExpertSplit(layers=layers, on_gpu_layers=tried, routed_bytes=routed_bytes, gpu_layers=counts)
    low, high = 0, max(0, high - 3)  # ``low`` always fits
    while low < high:
        middle = (low + high + 1) // 2
        if _fill(rooms, layers, layers - middle, layer_bytes, expert_bytes) is not None:
            low = middle
        else:
            high = middle - 1
    counts = _fill(rooms, layers, layers - low, layer_bytes, expert_bytes)
    assert counts is not None
    return ExpertSplit(layers=layers, on_gpu_layers=low, routed_bytes=routed_bytes, gpu_layers=counts)
