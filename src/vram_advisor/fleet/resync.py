"""Finding one's place in JSON text read from a stream: the line number of a position, and where the next
inventory starts after an object that was cut off (a node killed mid-write, the next node's output written on, on
the same line or the same gathered lines).

Linear whatever the text holds, so that a hostile line costs no more than its length (``bench/stream_garbage.py``).
"""

from __future__ import annotations

import re

#: Where an inventory may start inside text that did not decode (its schema comes first, as the probe writes it).
_OBJECT_START = re.compile(r'\{\s*"schema"\s*:')
#: Cut-off objects looked past in one text; then its rest is one record. Each look costs a pass over the text
#: before it (a ``json.JSONDecodeError`` counts the lines up to the error): the bound keeps a hostile 4 MiB line
#: linear.
MAX_RESTARTS = 8


def next_start(text: str, start: int, failed: int) -> int | None:
    """Where to go on after the object at ``start`` failed to decode at ``failed``: the last inventory start
    (``{"schema":``) after ``start`` and at most 6 characters past ``failed``, or None.

    An object cut off and followed by the next one (``{"schema": ..., "gp{"schema": ...}``) is valid JSON up to the
    cut, so it fails at or after the next object's brace (up to 6 before it when cut inside an escape, ``\\u12``).
    Linear: that start is the only one left up to the failure, so the try after it starts past the failure; no
    stretch of the text is decoded or searched more than twice."""
    if '"schema"' not in text:  # nearly every line that is not an inventory: no regular expression to run
        return None
    found = None
    for match in _OBJECT_START.finditer(text, start + 1):
        if match.start() > failed + 6:
            break
        found = match.start()
    return found


class LineCounter:
    """The line number of a position in ``text`` (whose lines have the numbers ``numbers``), for positions that only
    move forward: each newline is counted once."""

    def __init__(self, text: str, numbers: list[int]) -> None:
        self.text = text
        self.numbers = numbers
        self.position = 0
        self.newlines = 0

    def __call__(self, position: int) -> int:
        if position < self.position:
            self.position, self.newlines = 0, 0
        self.newlines += self.text.count("\n", self.position, position)
        self.position = position
        return self.numbers[self.newlines]
