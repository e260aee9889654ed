"""``render.json_text``, the one JSON serialisation of every result, writes exactly what
``json.dumps(document, indent=indent, ensure_ascii=True)`` writes (plus a newline), for any JSON document: it indents
the C encoder's compact text with msgspec rather than run the standard library's pure-Python indenting encoder."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from vram_advisor.render import json_text

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
DOCUMENTS = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(document=DOCUMENTS, indent=st.sampled_from([None, 0, 1, 2, 4]))
def test_json_text_is_json_dumps_character_for_character(document: object, indent: int | None) -> None:
    assert json_text(document, indent=indent) == json.dumps(document, indent=indent, ensure_ascii=True) + "\n"


def test_json_text_keeps_the_standard_text_for_values_json_has_not() -> None:
    # json.dumps writes NaN and Infinity (not JSON): the output stays what it always was rather than failing
    document = {"a": [math.nan, math.inf, -math.inf], "b": {}}
    assert json_text(document) == json.dumps(document, indent=2, ensure_ascii=True) + "\n"


def test_json_text_escapes_every_non_ascii_character() -> None:
    text = json_text({"name": "Ünïcode \u2028 \U0001f600", "list": [[], {}]})
    assert text.isascii()
    assert json.loads(text) == {"name": "Ünïcode \u2028 \U0001f600", "list": [[], {}]}
