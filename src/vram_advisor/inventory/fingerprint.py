"""A machine's fingerprint: which machine a measured speed belongs to (``verify``'s calibration points).

Made of what stays the same on one machine and differs between two: the host name, the GPUs this process may use
(each by its UUID where the driver gave one, else by its name; the fingerprint of an inventory with a ``--gpus``
what-if is another machine's), and the total system RAM. Hashed (SHA-256, first 16 hex digits), so a point carries
no UUID or host name in the clear. Pure.
"""

from __future__ import annotations

import json

from vram_advisor.inventory.model import Inventory, MeasuredSpeed

PREFIX = "m1-"


def fingerprint(inventory: Inventory) -> str:
    """The machine's fingerprint, e.g. ``m1-3f2a9c0d5e7b1a46``."""
    import hashlib  # only where there are points to match: not on every check's start

    gpus = sorted(gpu.uuid or f"{gpu.name}" for gpu in inventory.visible_gpus)
    body = json.dumps(
        {"host": inventory.hostname or "", "gpus": gpus, "ram": inventory.ram.total_bytes},
        sort_keys=True,
        separators=(",", ":"),
    )
    return PREFIX + hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def own_points(inventory: Inventory) -> tuple[MeasuredSpeed, ...]:
    """The measured speeds an inventory carries that were measured on this very machine (same fingerprint) and are
    usable (a positive speed); a point from another machine, or an inventory changed by a what-if, applies to
    nothing."""
    if not inventory.measured:
        return ()
    mine = fingerprint(inventory)
    return tuple(
        point
        for point in inventory.measured
        if point.fingerprint == mine and point.decode_tokens_per_s > 0 and point.decode_tokens_per_s < 1e6
    )
