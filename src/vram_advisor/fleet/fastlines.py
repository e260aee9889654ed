"""Which NDJSON lines of a fleet may be decoded straight into the inventory (``inventory.model.decode_line``): those
certainly within the bounded reader's limits (``core.boundedjson``), so that the fast way reads them exactly as the
long way would; the others take the long way, which refuses them naming the limit. Pure.
"""

from __future__ import annotations

from typing import Any

from vram_advisor.core import boundedjson
from vram_advisor.core.boundedjson import JsonLimits
from vram_advisor.fleet import nodefacts
from vram_advisor.fleet.nodefacts import NodeFacts
from vram_advisor.inventory import model as inv
from vram_advisor.inventory.model import MAX_INVENTORY_BYTES

#: What one inventory line may hold (the bounded reader's limits; ``fleet.inputs`` reads lines with them).
LINE_LIMITS = boundedjson.JsonLimits(max_bytes=MAX_INVENTORY_BYTES, fast_integers=True)


#: JSON's number grammar (``-``, digits, ``.`` digits, ``e``, sign, digits) leaves a number of more than
#: ``max_number_chars`` (100) characters at least one run of this many digits: a line without such a run holds no
#: number the bounded reader refuses. (A stricter test than the reader's own: a line that fails it is simply read the
#: long way.)
_DIGIT_RUN = 32
#: Every digit as ``0``, everything else as a space (``bytes.translate``: a C pass over the line, where a regular
#: expression costs ~15 times as much).
_DIGITS_AS_ZERO = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_DIGIT_RUN_BYTES = b"0" * _DIGIT_RUN


def plainly_bounded(line: Any, limits: JsonLimits = LINE_LIMITS) -> bool:
    """Whether a line is certainly within the bounded reader's limits (``LINE_LIMITS``: size, nesting, strings,
    numbers), so that decoding it straight into the inventory reads it as that reader would; others take the long
    way, which refuses them with the limit they pass."""
    if len(line) > min(limits.max_bytes, limits.max_string_chars):
        return False
    if isinstance(line, bytes):
        if line.count(b"{") + line.count(b"[") > limits.max_depth:
            return False
        return _DIGIT_RUN_BYTES not in line.translate(_DIGITS_AS_ZERO)
    return False  # text lines (not from a pipe or a file) are few: the long way


def decoded_facts(line: Any) -> NodeFacts | None:
    """A line's facts the fast way, where it gives what the long way would; None: take the long way."""
    if not plainly_bounded(line):
        return None
    decoded = inv.decode_line(line)
    return None if decoded is None else nodefacts.from_inventory(decoded)
