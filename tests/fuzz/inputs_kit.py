"""Shared by the input-side fuzz tests: run the real CLI in-process on bytes, and check the properties every answer
must have (exit 0, 1 or 2; one stderr line for 2; never 3, never a traceback)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from vram_advisor.cli import main

#: Each property gets a few dozen examples, so the whole input-side suite stays near 30 s on a 2-core CI machine;
#: docs/fuzzing.md says how to run it long before a release (HYPOTHESIS_PROFILE=fuzz-long).
FAST = settings(
    max_examples=int(os.environ.get("VRAM_ADVISOR_FUZZ_EXAMPLES", "50")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

GIB = 1024**3
MIB = 1024**2


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    seconds: float


@contextlib.contextmanager
def _environ(env: Mapping[str, str | None] | None) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in (env or {})}
    for key, value in (env or {}).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run(args: list[str], stdin: bytes = b"", env: Mapping[str, str | None] | None = None) -> Outcome:
    """``vram-advisor ARGS`` in this process, with ``stdin`` as bytes (as a pipe would give them)."""
    saved = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    try:
        with _environ(env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
    finally:
        sys.stdin = saved
    return Outcome(code, out.getvalue(), err.getvalue(), time.perf_counter() - start)


def assert_clean(outcome: Outcome, *, one_input: bool = True) -> None:
    """Exit 0, 1 or 2; never an internal error or a traceback; exit 2 ends with exactly one error line (and with
    ``one_input``, that line is all of stderr)."""
    assert outcome.code in (0, 1, 2), outcome
    assert "Traceback" not in outcome.err and "internal error" not in outcome.err, outcome.err
    if outcome.code == 2:
        lines = outcome.err.strip("\n").split("\n")
        assert lines[-1].startswith("vram-advisor: error: "), outcome.err
        assert sum(line.startswith("vram-advisor: error: ") for line in lines) == 1, outcome.err
        if one_input:
            assert len(lines) == 1, outcome.err


def gpu(name: str = "NVIDIA H100 80GB HBM3", total_mib: int = 81559, index: int = 0) -> dict[str, Any]:
    return {"index": index, "vendor": "nvidia", "name": name, "memory_total_bytes": total_mib * MIB}


def inventory(hostname: str = "node", gpus: int = 8) -> dict[str, Any]:
    return {
        "schema": "vram-advisor/inventory/v1",
        "hostname": hostname,
        "gpus": [gpu(index=i) for i in range(gpus)],
        "ram": {"total_bytes": 512 * GIB, "available_bytes": 480 * GIB, "limit_bytes": None},
        "disks": [],
    }


def line(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode() + b"\n"


# ---------------------------------------------------------------------------------------------- strategies

json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=16,
)

#: Texts that broke a reader once, or might: each is a whole hostile JSON text (or not JSON at all).
HOSTILE_TEXTS = [
    b"{" * 1,
    b"[" * 100_000,
    b'{"a":' * 50_000,
    b"9" * 5000,
    b'{"x": ' + b"9" * 5000 + b"}",
    b'{"x": NaN}',
    b'{"x": -Infinity}',
    b'{"x": 1e999}',
    b'{"x": "\\ud800"}',
    b'{"x": "\xff\xfe"}',
    b"\xef\xbb\xbf{}",
    b"\x00" * 64,
    b"\x1b[31m{}\x1b[0m",
    b"",
    b"   \n\n",
]
hostile_texts = st.sampled_from(HOSTILE_TEXTS)


def dumps_loose(value: Any) -> bytes:
    """JSON as Python writes it, NaN and Infinity included (hostile on purpose), lone surrogates escaped."""
    return json.dumps(value, allow_nan=True).encode()


def mutated_inventory(draw: st.DrawFn) -> dict[str, Any]:
    """A valid inventory with one field (top level, a GPU's, the RAM's) replaced by any JSON value."""
    data = inventory(gpus=draw(st.integers(min_value=0, max_value=3)))
    where = draw(st.sampled_from(["top", "gpu", "ram"]))
    target = data if where == "top" else data["ram"] if where == "ram" or not data["gpus"] else data["gpus"][0]
    key = draw(st.sampled_from([*target.keys(), "extra"]))
    target[key] = draw(json_values)
    return data


# ------------------------------------------------------------------------------------------- the size cap

#: The most an inventory or a profile may hold (docs/inventory.md: 4 MiB). Written out here rather than imported
#: from the source, so that the properties that use it fail when the cap is removed or raised there.
SIZE_CAP = 4 * MIB
#: How far from the cap a padded input lands, either way (0: exactly the cap, which is still read).
CAP_MARGIN = 4096


def padded(document: dict[str, Any], size: int, how: str) -> bytes:
    """``document`` as compact JSON grown to exactly ``size`` bytes without changing what it says: spaces before,
    after or inside it, or an extra field (ignored by readers) holding a list of short strings."""
    text = json.dumps(document, separators=(",", ":")).encode()
    room = size - len(text)
    assert room >= 0, (size, len(text))
    if how == "before":
        return b" " * room + text
    if how == "after":
        return text + b" " * room
    if how == "inside":
        return b"{" + b" " * room + text[1:]
    frame = b'"padding":[],'
    room -= len(frame)
    item = b'"' + b"x" * 998 + b'"'  # 1000 bytes: far below any limit on one string
    count = max(0, (room + 1) // (len(item) + 1))
    body = b",".join([item] * count)
    body += b" " * (room - len(body))
    return b'{"padding":[' + body + b"]," + text[1:]


def near_the_cap(document: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """``document`` padded to a size within ``CAP_MARGIN`` bytes of ``SIZE_CAP``, over it half of the time."""
    return st.builds(
        lambda delta, how: padded(document, SIZE_CAP + delta, how),
        st.integers(min_value=-CAP_MARGIN, max_value=CAP_MARGIN),
        st.sampled_from(["before", "after", "inside", "field"]),
    )
