"""What-if overrides: ``--gpus SPEC`` and ``--ram SIZE`` replace what the probe saw, before planning.

``--gpus`` takes comma-separated ``[COUNTx]CARD`` or ``[COUNTx]SIZE`` items: ``8xH100-80GB``, ``2x96GB``,
``4xRTX4090``, ``1xRTX4090,1xRTX3090``. Card names resolve to NVML's real totals (``cards``); plain sizes are taken
at their value (``units.parse_size``: GB is read as the card's nominal GiB, like the article's tables).
"""

from __future__ import annotations

import re
from dataclasses import replace

from vram_advisor.core import units
from vram_advisor.core.errors import UsageError
from vram_advisor.inventory.model import Gpu, Inventory, Ram

MAX_GPUS = 4096
_ITEM = re.compile(r"^\s*(?:(\d+)\s*[x×*]\s*)?(.+?)\s*$", re.IGNORECASE)


def parse_gpus(spec: str) -> tuple[Gpu, ...]:
    """The GPUs a ``--gpus`` spec describes (empty for ``none`` or ``0``)."""
    text = spec.strip()
    if text.lower() in ("none", "0", "cpu"):
        return ()
    gpus: list[Gpu] = []
    for item in text.split(","):
        match = _ITEM.match(item)
        if not item.strip() or match is None or "\n" in item:
            raise UsageError(
                f"--gpus {spec!r}: {item.strip()!r} is not COUNTxCARD or COUNTxSIZE; expected e.g. 8xH100-80GB, "
                "2x96GB or 4xRTX4090"
            )
        count = int(match.group(1)) if match.group(1) else 1
        if count < 1 or count > MAX_GPUS:
            raise UsageError(f"--gpus {spec!r}: a count must be between 1 and {MAX_GPUS}, got {count}")
        gpus.extend(_describe(match.group(2), spec) for _ in range(count))
        if len(gpus) > MAX_GPUS:
            raise UsageError(f"--gpus {spec!r}: more than {MAX_GPUS} GPUs")
    return tuple(replace(gpu, index=i) for i, gpu in enumerate(gpus))


def _describe(token: str, spec: str) -> Gpu:
    from vram_advisor.inventory import cards  # only for --gpus

    card = cards.lookup(token)
    if card is not None:
        return Gpu(
            name=card.nvml_name,
            vendor=card.vendor,
            memory_total_bytes=card.total_bytes,
            memory_reserved_bytes=card.reserved_bytes,
            unified=card.unified,
        )
    choices = cards.ambiguity(token)
    if choices:
        raise UsageError(f"--gpus {spec!r}: {token!r} is ambiguous, say {choices}")
    try:
        size = units.parse_size(token)
    except units.SizeError as exc:
        if token.strip()[:1].isdigit() or token.strip()[:1] == ".":  # meant as a size: say what is wrong with it
            raise UsageError(f"--gpus {spec!r}: {exc}") from None
        raise UsageError(
            f"--gpus {spec!r}: unknown GPU {token!r}; use a size (2x96GB) or a card: {cards.known_names()}"
        ) from None
    if size <= 0:
        raise UsageError(f"--gpus {spec!r}: a GPU needs more than 0 bytes of memory")
    return Gpu(name=f"GPU with {token.strip()}", memory_total_bytes=size)


def describe(spec: str) -> str:
    """One note saying what a ``--gpus`` spec was read as (card readings and their source)."""
    from vram_advisor.inventory import cards

    read: list[str] = []
    for item in spec.split(","):
        match = _ITEM.match(item)
        token = match.group(2) if match else item.strip()
        card = cards.lookup(token)
        if card is not None:
            reserved = f", {card.reserved_mib} MiB reserved" if card.reserved_mib is not None else ", reserved unknown"
            read.append(f"{card.key} as NVML reports it ({card.total_mib} MiB{reserved})")
        else:
            read.append(f"{token} taken at its value")
    return f"what-if --gpus {spec}: {'; '.join(read)} [{cards.SOURCE}]"


def apply(inventory: Inventory, gpus: str | None = None, ram: str | None = None) -> Inventory:
    """The inventory with ``--gpus`` and ``--ram`` applied (each replaces what was probed or loaded)."""
    if gpus is not None:
        # the probe's notes about GPUs (e.g. "no NVIDIA driver") no longer describe the GPUs being judged
        kept = tuple(note for note in inventory.notes if not note.startswith("NVML"))
        inventory = inventory.replace(gpus=parse_gpus(gpus), notes=(*kept, describe(gpus)))
    if ram is not None:
        try:
            ram_bytes = units.parse_size(ram)
        except units.SizeError as exc:
            raise UsageError(f"--ram: {exc}") from None
        inventory = inventory.replace(
            ram=Ram(total_bytes=ram_bytes, available_bytes=None, limit_bytes=None),
            notes=(*inventory.notes, f"what-if --ram {ram}: {units.format_gib(ram_bytes)} of system RAM"),
        )
    return inventory
