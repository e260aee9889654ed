"""Known GPUs: NVML's real memory totals for common cards, for what-if specs and readers that see only a name.

Figures are NVML / nvidia-smi readings (MiB), not marketing sizes: an "80GB" H100 reports 81559 MiB. Source for
every row: NVIDIA/k8s-test-infra's ``tests/e2e/go/assertions/nvidiasmi/testdata/hardware/qx-*.xml`` captures
(``nvidia-smi -q -x``) and public nvidia-smi outputs (NVIDIA/nvbench#207, NVIDIA/open-gpu-kernel-modules#1266,
shkhln/libc6-shim#14). ``reserved_mib`` is the v2 ``reserved`` reading where one was captured, else None (unknown).
"""

from __future__ import annotations

import re

from vram_advisor.core.records import Record, dataclass
from vram_advisor.core.units import MIB
from vram_advisor.inventory.model import Vendor

SOURCE = "real NVML readings: NVIDIA/k8s-test-infra nvidia-smi captures and public nvidia-smi outputs"


@dataclass(frozen=True, eq=False, repr=False)
class Card(Record):
    """A GPU model with its NVML name and memory as NVML reports it."""

    key: str
    nvml_name: str
    vendor: Vendor
    total_mib: int
    reserved_mib: int | None
    aliases: tuple[str, ...]
    note: str = ""
    unified: bool = False
    #: CUDA compute capability ("10.0"), which decides engine paths: vLLM's MXFP4 indexer cache only on sm_10x,
    #: its FP4 MoE path only from sm_80 (vllm-project/recipes DeepSeek-V4-Flash.yaml; 1CatAI/1Cat-vLLM#82).
    compute_capability: str | None = None

    @property
    def total_bytes(self) -> int:
        return self.total_mib * MIB

    @property
    def reserved_bytes(self) -> int | None:
        return None if self.reserved_mib is None else self.reserved_mib * MIB


CARDS: tuple[Card, ...] = (
    Card(
        "RTX3090",
        "NVIDIA GeForce RTX 3090",
        "nvidia",
        24576,
        None,
        ("3090", "rtx3090", "geforcertx3090"),
        "newer drivers; older drivers report 24268 MiB",
        compute_capability="8.6",
    ),
    Card(
        "RTX3090TI",
        "NVIDIA GeForce RTX 3090 Ti",
        "nvidia",
        24564,
        None,
        ("3090ti", "rtx3090ti"),
        compute_capability="8.6",
    ),
    Card(
        "RTX4090",
        "NVIDIA GeForce RTX 4090",
        "nvidia",
        24564,
        None,
        ("4090", "rtx4090", "geforcertx4090"),
        compute_capability="8.9",
    ),
    Card(
        "RTX5090",
        "NVIDIA GeForce RTX 5090",
        "nvidia",
        32607,
        None,
        ("5090", "rtx5090", "geforcertx5090"),
        compute_capability="12.0",
    ),
    Card("RTX5070", "NVIDIA GeForce RTX 5070", "nvidia", 12227, 464, ("5070", "rtx5070"), compute_capability="12.0"),
    Card(
        "RTX6000ADA",
        "NVIDIA RTX 6000 Ada Generation",
        "nvidia",
        49140,
        None,
        ("rtx6000ada", "6000ada", "rtx6000adageneration"),
        "ECC off; 46068 MiB with ECC on",
        compute_capability="8.9",
    ),
    Card(
        "RTXPRO6000",
        "NVIDIA RTX PRO 6000 Blackwell Server Edition",
        "nvidia",
        97887,
        None,
        (
            "rtxpro6000",
            "pro6000",
            "rtxpro6000blackwell",
            "rtxpro6000blackwellserveredition",
            "rtxpro6000blackwellworkstationedition",
            "rtxpro6000blackwellmaxqworkstationedition",
        ),
        compute_capability="12.0",
    ),
    Card("T4", "Tesla T4", "nvidia", 15360, 448, ("t4", "teslat4"), compute_capability="7.5"),
    Card("L40S", "NVIDIA L40S", "nvidia", 46068, 609, ("l40s",), compute_capability="8.9"),
    Card("L40", "NVIDIA L40", "nvidia", 46068, None, ("l40",), compute_capability="8.9"),
    Card(
        "A100-40GB",
        "NVIDIA A100-SXM4-40GB",
        "nvidia",
        40960,
        518,
        ("a10040gb", "a100sxm440gb", "a100pcie40gb", "a10040g"),
        "newer drivers; older drivers report 40536 MiB",
        compute_capability="8.0",
    ),
    Card(
        "A100-80GB",
        "NVIDIA A100-SXM4-80GB",
        "nvidia",
        81920,
        None,
        ("a10080gb", "a100sxm480gb", "a10080gbpcie", "a100pcie80gb", "a10080g", "a800", "a80080gb"),
        "newer drivers; older drivers report 81251 MiB",
        compute_capability="8.0",
    ),
    Card(
        "H100-80GB",
        "NVIDIA H100 80GB HBM3",
        "nvidia",
        81559,
        480,
        ("h100", "h10080gb", "h10080gbhbm3", "h100sxm", "h100sxm580gb", "h100sxm", "h100pcie", "h10080g"),
        compute_capability="9.0",
    ),
    Card(
        "H100-NVL",
        "NVIDIA H100 NVL",
        "nvidia",
        95830,
        None,
        ("h100nvl", "h10094gb", "h10096gb"),
        compute_capability="9.0",
    ),
    Card(
        "H200",
        "NVIDIA H200",
        "nvidia",
        143771,
        None,
        ("h200", "h200141gb", "h200nvl", "h200sxm", "h200141g"),
        compute_capability="9.0",
    ),
    Card("B200", "NVIDIA B200", "nvidia", 183359, 728, ("b200", "b200180gb", "b200192gb"), compute_capability="10.0"),
    Card("GB200", "NVIDIA GB200", "nvidia", 189471, 742, ("gb200",), compute_capability="10.0"),
    Card("GB300", "NVIDIA GB300", "nvidia", 284208, 947, ("gb300",), compute_capability="10.3"),
    # HGX B300 ("NVIDIA B300 SXM6 AC", sm_103): 275040 MiB in public nvidia-smi outputs (driver 580.x); the GB300
    # superchip's GPU (284208 MiB, qx-gb300.xml) is a different part.
    Card(
        "B300",
        "NVIDIA B300 SXM6 AC",
        "nvidia",
        275040,
        None,
        ("b300", "b300sxm6ac", "b300sxm6", "hgxb300", "b300288gb"),
        "HGX B300 as nvidia-smi reports it (public outputs, driver 580.x); GB300 is separate",
        compute_capability="10.3",
    ),
    # V100 (sm_70): vLLM's FP4 MoE path needs sm_80, so V4's checkpoint does not run there (1CatAI/1Cat-vLLM #82).
    Card(
        "V100-32GB",
        "Tesla V100-SXM2-32GB",
        "nvidia",
        32768,
        None,
        ("v10032gb", "v100sxm232gb", "teslav100sxm232gb", "v100pcie32gb", "teslav10032gb"),
        "public nvidia-smi outputs (newer drivers)",
        compute_capability="7.0",
    ),
    Card(
        "V100-16GB",
        "Tesla V100-SXM2-16GB",
        "nvidia",
        16384,
        None,
        ("v10016gb", "v100sxm216gb", "teslav100sxm216gb", "v100pcie16gb", "teslav10016gb"),
        "newer drivers; older drivers report 16160 MiB",
        compute_capability="7.0",
    ),
    # GB10 (DGX Spark): NVML reports no memory of its own; the probe budgets its 121.7 GiB of MemTotal (nvitop#208)
    # less the OS reserve (policy.os_reserve_bytes): 109.5 GiB = 112128 MiB (probe/unified.py).
    Card(
        "GB10",
        "NVIDIA GB10",
        "nvidia",
        112128,
        None,
        ("gb10", "dgxspark", "spark"),
        "unified memory: the probe's budget from the DGX Spark's 121.7 GiB of RAM",
        unified=True,
        compute_capability="12.1",
    ),
    Card(
        "MI300X",
        "AMD Instinct MI300X",
        "amd",
        196592,
        None,
        ("mi300x", "instinctmi300x", "amdinstinctmi300x"),
    ),
)

_AMBIGUOUS: dict[str, str] = {
    "a100": "A100-40GB or A100-80GB",
    "rtx6000": "RTX6000ADA or RTXPRO6000",
    "v100": "V100-16GB or V100-32GB",
}


def normalise(name: str) -> str:
    """A card name reduced to lower-case letters and digits, without vendor words ("NVIDIA H100 80GB HBM3" -> "h10080gbhbm3")."""
    text = re.sub(r"[^a-z0-9]", "", name.lower())
    return re.sub(r"^(nvidia|amd)", "", text).replace("geforce", "").replace("instinct", "")


def _index() -> dict[str, Card]:
    table: dict[str, Card] = {}
    for card in CARDS:
        for alias in (*card.aliases, normalise(card.key), normalise(card.nvml_name)):
            table[normalise(alias)] = card
    return table


_BY_ALIAS = _index()


def lookup(name: str) -> Card | None:
    """The card a name refers to (a what-if token, a Slurm gres type, an NVML name), or None."""
    return _BY_ALIAS.get(normalise(name))


def ambiguity(name: str) -> str | None:
    """When a name could mean several cards, the choices to offer."""
    return _AMBIGUOUS.get(normalise(name))


def known_names() -> str:
    return ", ".join(card.key for card in CARDS)
