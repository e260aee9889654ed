"""A fleet's NDJSON lines are decoded straight into the inventory (``inventory.model.decode_line``, msgspec) where
that reads them exactly as the long way does (``boundedjson`` then ``from_dict``): a property over mutated and
hostile lines shows both routes give the same node or the same refusal."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from inputs_kit import dumps_loose, hostile_texts, inventory, line, mutated_inventory

from vram_advisor.fleet import fastlines, inputs, nodefacts
from vram_advisor.fleet.inputs import NodeInput, read_line
from vram_advisor.inventory import model as inv


def long_way(text: bytes, label: str | None = None) -> Any:
    """What ``read_line`` gave before the fast decoding: the bounded reader and ``from_dict``."""
    saved = inputs._decoded_facts
    inputs._decoded_facts = lambda _line: None  # type: ignore[assignment]
    try:
        return read_line("stdin", 1, text, label)
    finally:
        inputs._decoded_facts = saved


def same(text: bytes, label: str | None = None) -> None:
    fast, slow = read_line("stdin", 1, text, label), long_way(text, label)
    assert type(fast) is type(slow)
    assert fast == slow  # the same facts, or the same refusal and reason


@settings(max_examples=500, deadline=None)
@given(data=st.data())
def test_a_mutated_inventory_line_reads_the_same_both_ways(data: st.DataObject) -> None:
    document = data.draw(st.composite(lambda draw: mutated_inventory(draw))())
    same(dumps_loose(document).replace(b"\n", b" "))


@settings(max_examples=200, deadline=None)
@given(text=hostile_texts)
def test_a_hostile_text_reads_the_same_both_ways(text: bytes) -> None:
    same(text)


def test_a_plain_line_takes_the_fast_way_and_a_prefix_still_names_the_node() -> None:
    document = inventory(hostname="")
    text = line(document).rstrip(b"\n")
    assert inv.decode_line(text) is not None  # a probe's line decodes straight into the inventory
    found = read_line("stdin", 3, text, "node-7")
    assert isinstance(found, NodeInput) and found.facts.hostname == "node-7"
    same(text, "node-7")
    assert found.facts == nodefacts.read(document, "stdin:3")._replace(hostname="node-7")


def test_lines_past_a_limit_take_the_long_way_and_are_refused_with_it() -> None:
    base = dumps_loose(inventory())[:-1]
    long_number = base + b',"extra":1.' + b"1" * 120 + b"}"  # a number of more than 100 characters: refused
    assert not fastlines.plainly_bounded(long_number)
    same(long_number)
    nested = base + b',"extra":' + b"[" * 70 + b"]" * 70 + b"}"  # nested deeper than 64 levels: refused
    assert not fastlines.plainly_bounded(nested)
    same(nested)
