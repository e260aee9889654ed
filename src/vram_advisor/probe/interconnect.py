"""Links between GPUs and between machines: NVLink (from the GPUs' readings) and RDMA NICs from /sys.

``/sys/class/infiniband/<device>/ports/<n>/link_layer`` is ``InfiniBand`` or ``Ethernet`` (RoCE); only ports whose
``state`` is ACTIVE count. Entries read ``nvlink``, ``infiniband:mlx5_0``, ``roce:mlx5_2``.
"""

from __future__ import annotations

from collections.abc import Iterable

from vram_advisor.inventory.model import Gpu
from vram_advisor.probe.context import ProbeContext

SOURCE = "interconnect"


def read_interconnect(context: ProbeContext, gpus: Iterable[Gpu]) -> tuple[str, ...]:
    found: list[str] = []
    if any(gpu.nvlink for gpu in gpus):
        found.append("nvlink")
    base = context.path("/sys/class/infiniband")
    if not base.is_dir():
        return tuple(found)
    for device in sorted(base.iterdir()):
        ports = device / "ports"
        layers = set()
        for port in sorted(ports.iterdir()) if ports.is_dir() else []:
            state = context.read_text(port / "state", SOURCE, quiet_missing=True) or ""
            if "ACTIVE" not in state.upper():
                continue
            layer = (context.read_text(port / "link_layer", SOURCE, quiet_missing=True) or "").lower()
            layers.add("roce" if layer == "ethernet" else "infiniband")
        for layer in sorted(layers):
            found.append(f"{layer}:{device.name}")
    return tuple(found)
