"""One bounded reader for every JSON text that comes from outside (inventories, streams, cluster listings, user
profiles, Hub answers, MCP messages): limits on total size, nesting depth, number length and string length; NaN and
Infinity refused; invalid UTF-8 refused the same way from a file, a pipe or a socket.

``parse`` returns the value or raises ``JsonRefused`` (``where``: the field path, ``problem``: what is wrong, never
the input's content); ``load`` turns that into the caller's ``VramAdvisorError`` subclass, one line naming the
source and the field (exit 2). ``problem_of`` answers the same question without raising, for the stream reader.
``parse_keeping_refused`` leaves a refused number in the value as a marker (``refused_number`` finds it), for a
listing whose records are judged one by one: one node's NaN costs that node, not the whole listing.

How: ``json.loads`` with hooks that replace a refused number (too long, NaN, Infinity, a float that overflows)
by a marker, then one iterative walk over the value that checks depth, string sizes (and lone surrogates when asked)
and finds the markers with their path. Nesting deeper than Python's parser allows is caught as ``RecursionError``.
Costs one pass over the parsed value; nothing recursive, so hostile input cannot exhaust the stack.
"""

from __future__ import annotations

import functools
import json
import math
import re
from typing import Any, NoReturn

from vram_advisor.core.errors import VramAdvisorError
from vram_advisor.core.records import Record, dataclass

MIB = 1024 * 1024


@dataclass(frozen=True, repr=False)
class JsonLimits(Record):
    """The most a JSON text may hold: bytes in all, levels of nesting, characters of one number and of one string
    (keys included); ``reject_surrogates`` also refuses lone surrogates (``"\\ud800"``), which no encoder writes."""

    max_bytes: int = 4 * MIB
    max_depth: int = 64
    max_number_chars: int = 100
    max_string_chars: int = MIB
    reject_surrogates: bool = False
    #: Leave integers to Python's own decoder (no call per number; more than 4300 digits is still refused) where
    #: every integer used is range-checked by a typed reader anyway: inventory lines of a stream, 10,000s of them.
    fast_integers: bool = False


#: Limits for inventories, cluster listings and profiles (the caller sets ``max_bytes``).
DEFAULT_LIMITS = JsonLimits()


class JsonRefused(ValueError):
    """A JSON text refused: ``where`` is the field (``gpus[0].name``, or ``""`` for the text as a whole);
    ``syntax`` says whether the text is not JSON at all (rather than JSON beyond the limits)."""

    def __init__(self, where: str, problem: str, syntax: bool = False) -> None:
        super().__init__(f"{where}: {problem}" if where else problem)
        self.where = where
        self.problem = problem
        self.syntax = syntax


class _Refused:
    """Stands in the parsed value for a number that was refused, so that the walk can name its field."""

    __slots__ = ("problem",)

    def __init__(self, problem: str) -> None:
        self.problem = problem


#: How many numbers were refused so far, in all threads: a parse that changed it has a marker to find. (Read as a
#: hint only: another thread's refusal at the same time costs a needless walk, never a missed marker.)
_refusals = [0]


def _marker(problem: str) -> _Refused:
    _refusals[0] += 1
    return _Refused(problem)


def _constant(name: str) -> _Refused:
    return _marker(f"{name} is not a number JSON allows")


@functools.lru_cache(maxsize=8)
def _decoder(longest: int, fast_integers: bool = False) -> json.JSONDecoder:
    """A decoder that puts a marker in place of each refused number (too long, NaN, Infinity, a float that
    overflows); built once per limit, as ``json.loads`` with hooks would build one per call."""

    def parse_int(text: str) -> Any:
        if len(text) > longest:
            return _marker(f"a number of {len(text)} characters (at most {longest})")
        return int(text)

    def parse_float(text: str) -> Any:
        if len(text) > longest:
            return _marker(f"a number of {len(text)} characters (at most {longest})")
        value = float(text)
        if value in (math.inf, -math.inf):
            return _marker("a number too large for a float")
        return value

    return json.JSONDecoder(
        parse_int=None if fast_integers else parse_int, parse_float=parse_float, parse_constant=_constant
    )


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
#: A text that may hold a lone surrogate: one as such, or as a JSON escape.
_MAY_HOLD_SURROGATE = re.compile("[\ud800-\udfff]|\\\\u[dD][89a-fA-F]")


def decode_utf8(raw: bytes) -> str:
    """UTF-8 bytes as text (a leading byte-order mark dropped); ``JsonRefused`` names the first bad byte."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise JsonRefused("", f"not UTF-8 text (byte {exc.start + 1})") from None


def parse(text: str | bytes, limits: JsonLimits = DEFAULT_LIMITS) -> Any:
    """The value of one JSON text within ``limits``, or ``JsonRefused``."""
    return _parse(text, limits, keep_refused=False)[0]


def parse_keeping_refused(text: str | bytes, limits: JsonLimits = DEFAULT_LIMITS) -> tuple[Any, bool]:
    """``parse``, except that a refused number (too long, NaN, Infinity, a float that overflows) does not refuse the
    text: it stays in the value as a marker, which ``refused_number`` finds with its field, so that a caller reading
    a list of records (the nodes of a cluster listing) can refuse only the record that holds one. The other limits
    (size, nesting, strings) still refuse the whole text. The second value is False when the value holds no marker
    (True: it may hold one)."""
    return _parse(text, limits, keep_refused=True)


def _parse(text: str | bytes, limits: JsonLimits, keep_refused: bool) -> tuple[Any, bool]:
    if len(text) > limits.max_bytes:
        raise JsonRefused("", f"larger than {_size(limits.max_bytes)}, not read")
    text = decode_utf8(bytes(text)) if isinstance(text, bytes | bytearray) else text.removeprefix("\ufeff")
    refusals = _refusals[0]
    try:
        value = _decoder(limits.max_number_chars, limits.fast_integers).decode(text)
    except json.JSONDecodeError as exc:
        raise JsonRefused(
            "", f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})", syntax=True
        ) from None
    except RecursionError:
        raise JsonRefused("", f"JSON nested more than {limits.max_depth} levels deep, not read") from None
    except ValueError:  # fast_integers: an integer past Python's own limit
        raise JsonRefused("", "a number of more than 4300 digits, not read") from None
    refused = _refusals[0] != refusals
    if (
        refused
        or text.count("{") + text.count("[") > limits.max_depth  # else no value can nest deeper
        or len(text) > limits.max_string_chars  # else no string can be longer
        or (limits.reject_surrogates and _MAY_HOLD_SURROGATE.search(text))
    ):
        _check(value, limits, keep_refused)
    return value, refused


def raw_decode(text: str, position: int, limits: JsonLimits = DEFAULT_LIMITS) -> tuple[Any, int]:
    """``json.JSONDecoder.raw_decode`` within ``limits``: the value starting at ``position`` and where it ends.
    Raises ``json.JSONDecodeError`` for text that is not JSON, ``JsonRefused`` for JSON beyond the limits."""
    try:
        value, end = _decoder(limits.max_number_chars, limits.fast_integers).raw_decode(text, position)
    except RecursionError:
        raise JsonRefused("", f"JSON nested more than {limits.max_depth} levels deep, not read") from None
    except ValueError as exc:
        if isinstance(exc, json.JSONDecodeError):
            raise
        raise JsonRefused("", "a number of more than 4300 digits, not read") from None
    if end - position > limits.max_bytes:
        raise JsonRefused("", f"larger than {_size(limits.max_bytes)}, not read")
    check(value, limits)
    return value, end


def check(value: Any, limits: JsonLimits = DEFAULT_LIMITS) -> None:
    """Walk a parsed value (iteratively) and raise ``JsonRefused`` at the first field beyond ``limits``."""
    _check(value, limits, keep_refused=False)


def _check(value: Any, limits: JsonLimits, keep_refused: bool) -> None:
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    longest = limits.max_string_chars
    surrogates = limits.reject_surrogates
    while stack:
        item, where, depth = stack.pop()
        kind = type(item)
        if kind is dict:
            if depth >= limits.max_depth:
                _refuse(where, f"nested more than {limits.max_depth} levels deep")
            for key, child in item.items():
                if len(key) > longest or (surrogates and not key.isprintable() and _LONE_SURROGATE.search(key)):
                    _refuse(where or "top level", "a key that is too long or not valid text")
                stack.append((child, f"{where}.{key}" if where else key, depth + 1))
        elif kind is list:
            if depth >= limits.max_depth:
                _refuse(where, f"nested more than {limits.max_depth} levels deep")
            stack.extend((child, f"{where}[{i}]", depth + 1) for i, child in enumerate(item))
        elif kind is str:
            if len(item) > longest:
                _refuse(where, f"a string of {len(item)} characters (at most {longest})")
            if surrogates and not item.isprintable() and _LONE_SURROGATE.search(item):
                _refuse(where, "a lone surrogate (\\ud800-\\udfff), not valid text")
        elif kind is _Refused and not keep_refused:
            _refuse(where, item.problem)


def refused_number(value: Any) -> JsonRefused | None:
    """The first number left as a marker by ``parse_keeping_refused`` in ``value`` (its field relative to
    ``value``, and why it was refused), or None when there is none. Walks dicts and lists iteratively."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, where = stack.pop()
        kind = type(item)
        if kind is dict:
            stack.extend(reversed([(child, f"{where}.{key}" if where else key) for key, child in item.items()]))
        elif kind is list:
            stack.extend(reversed([(child, f"{where}[{i}]") for i, child in enumerate(item)]))
        elif kind is _Refused:
            return JsonRefused(_printable_path(where), item.problem)
    return None


def _refuse(where: str, problem: str) -> NoReturn:
    raise JsonRefused(_printable_path(where), problem)


def _printable_path(where: str) -> str:
    """A field path as it may be shown: keys come from the input, so control characters are escaped and long ones
    cut."""
    if not where.isprintable():
        where = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in _LONE_SURROGATE.sub("?", where))
    return where if len(where) <= 120 else where[:117] + "..."


def problem_of(text: str | bytes, limits: JsonLimits = DEFAULT_LIMITS) -> tuple[Any, str | None]:
    """``(value, None)`` for an acceptable JSON text, ``(None, reason)`` for one that is not."""
    try:
        return parse(text, limits), None
    except JsonRefused as exc:
        return None, str(exc)


def load(
    text: str | bytes,
    source: str,
    error: type[VramAdvisorError],
    limits: JsonLimits = DEFAULT_LIMITS,
) -> Any:
    """``parse``, with a refusal raised as ``error("<source>: <field>: <problem>")`` (one line, exit 2)."""
    try:
        return parse(text, limits)
    except JsonRefused as exc:
        raise error(f"{source}: {exc}") from None


def _size(count: int) -> str:
    return f"{count // MIB} MiB" if count >= MIB and count % MIB == 0 else f"{count} bytes"
