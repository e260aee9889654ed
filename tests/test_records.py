"""``core.records.dataclass`` (the cheaper decorator every record uses) behaves as ``dataclasses.dataclass``: the same
class declared with each is compared field by field and method by method."""

from __future__ import annotations

import dataclasses
import inspect
import sys
from dataclasses import FrozenInstanceError, field
from functools import cached_property
from typing import Any, ClassVar

import pytest

from vram_advisor.core import records
from vram_advisor.core.records import Record


def declare(decorator: Any, **options: Any) -> Any:
    @decorator(repr=False, **options)
    class Point(Record):
        """A point with a default and a default factory."""

        x: int
        y: float = 2.5
        tags: list[str] = field(default_factory=list)
        label: str = field(default="p", compare=False)

        @cached_property
        def total(self) -> float:
            return self.x + self.y

    return Point


def fast_and_stdlib(**options: Any) -> tuple[Any, Any]:
    return declare(records.dataclass, **options), declare(dataclasses.dataclass, **options)


def shape(cls: Any) -> tuple[Any, ...]:
    fields = [
        (f.name, f.type, f.default, f.default_factory, f.compare, f.hash, f.init, f.kw_only)
        for f in dataclasses.fields(cls)
    ]
    params = cls.__dataclass_params__
    flags = tuple(getattr(params, name) for name in ("init", "repr", "eq", "order", "unsafe_hash", "frozen"))
    return (
        fields,
        flags,
        cls.__match_args__,
        str(inspect.signature(cls)),
        cls.__hash__ is None,
        [name for name in ("__eq__", "__setattr__", "__delattr__", "__hash__") if name in cls.__dict__],
        cls.__init__.__annotations__,
        cls.__doc__,
    )


@pytest.mark.parametrize("options", [{"frozen": True, "eq": False}, {"frozen": True}, {}, {"eq": False}])
def test_declared_alike(options: dict[str, Any]) -> None:
    fast, stdlib = fast_and_stdlib(**options)
    assert fast.__init__ is not stdlib.__init__
    assert shape(fast) == shape(stdlib)
    assert (
        not hasattr(fast, "tags") and fast.y == 2.5 and fast.label == "p"
    )  # class attributes as dataclasses leaves them


@pytest.mark.parametrize("options", [{"frozen": True, "eq": False}, {"frozen": True}, {}, {"eq": False}])
def test_instances_alike(options: dict[str, Any]) -> None:
    fast, stdlib = fast_and_stdlib(**options)
    for cls in (fast, stdlib):
        one, two = cls(1), cls(1, 2.5, [], label="q")
        assert (one.x, one.y, one.tags, one.label, one.total) == (1, 2.5, [], "p", 3.5)
        assert cls(1).tags is not cls(1).tags  # a new list each time
        assert (one == two) is options.get("eq", True)  # label is not compared
        assert (one == cls(2)) is False and one.__eq__(object()) is NotImplemented
        assert dataclasses.replace(one, x=5).x == 5 and dataclasses.asdict(one)["tags"] == []
        assert repr(one) == "Point(x=1, y=2.5, tags=[], label='p')"
        with pytest.raises(TypeError):
            cls()
    if options.get("eq", True) and options.get("frozen"):
        assert hash(fast(1, 2.0, ("a",))) == hash(stdlib(1, 2.0, ("a",))) == hash((1, 2.0, ("a",)))
        for cls in (fast, stdlib):
            with pytest.raises(TypeError, match="unhashable"):
                hash(cls(1))  # the default list


def test_frozen_alike() -> None:
    fast, stdlib = fast_and_stdlib(frozen=True)
    for cls in (fast, stdlib):
        point = cls(1)
        with pytest.raises(FrozenInstanceError, match="cannot assign to field 'x'"):
            point.x = 2
        with pytest.raises(FrozenInstanceError, match="cannot assign to field 'other'"):
            point.other = 2
        with pytest.raises(FrozenInstanceError, match="cannot delete field 'y'"):
            del point.y
        assert point.total == 3.5  # cached_property writes the instance dict, not through __setattr__


def test_post_init_and_one_field() -> None:
    seen: list[float] = []
    nan = float("nan")
    for decorator in (records.dataclass, dataclasses.dataclass):

        @decorator(frozen=True, repr=False)
        class One(Record):
            """One field, seen after __init__."""

            value: float

            def __post_init__(self) -> None:
                seen.append(self.value)

        assert One(1.0) == One(1.0) and hash(One(1.0)) == hash((1.0,))
        # as the running Python's dataclasses decide: equal as tuples (the same object) before 3.13, field by field
        # (NaN is not NaN) from 3.13 on
        assert (One(nan) == One(nan)) is (sys.version_info < (3, 13))
        assert One(float("nan")) != One(float("nan"))
    assert len(seen) == 14 and seen[:3] == seen[7:10] == [1.0, 1.0, 1.0]  # one __post_init__ per instance


def test_what_the_fast_path_leaves_to_dataclasses() -> None:
    @records.dataclass(frozen=True, repr=False, order=True)
    class Ordered(Record):
        """Ordered records compare with <."""

        rank: int

    @records.dataclass(frozen=True, repr=False)
    class WithClassVar(Record):
        """A ClassVar is no field."""

        count: ClassVar[int] = 0
        value: int = 1

    @records.dataclass(frozen=True)
    class Shown:
        """dataclasses' own repr."""

        value: int

    assert Ordered(1) < Ordered(2)
    assert [f.name for f in dataclasses.fields(WithClassVar)] == ["value"] and WithClassVar().value == 1
    assert repr(Shown(3)).endswith("Shown(value=3)")
    with pytest.raises(ValueError, match="mutable default"):

        @records.dataclass(frozen=True, repr=False)
        class Mutable(Record):
            """A list default is refused, as dataclasses refuses it."""

            items: list[int] = []  # noqa: RUF012


@pytest.mark.parametrize("options", [{"frozen": True}, {}])
def test_instances_hold_the_same_dict_in_the_same_order(options: dict[str, Any]) -> None:
    # a frozen record's __init__ fills the instance's __dict__ in one update: the same keys, values and order as
    # dataclasses' one object.__setattr__ per field
    fast, stdlib = fast_and_stdlib(**options)
    made = [cls(3, 4.5, ["t"], label="z") for cls in (fast, stdlib)] + [cls(7) for cls in (fast, stdlib)]
    assert (
        list(vars(made[0]).items())
        == list(vars(made[1]).items())
        == [
            ("x", 3),
            ("y", 4.5),
            ("tags", ["t"]),
            ("label", "z"),
        ]
    )
    assert list(vars(made[2]).items()) == list(vars(made[3]).items())


def test_fields_behind_a_descriptor_are_set_through_it_as_dataclasses_do() -> None:
    class Slotted:
        """A base that holds ``x`` in a slot: object.__setattr__ sets the slot, not the instance's dict."""

        __slots__ = ("x",)

    class ReadOnly:
        """A base whose ``y`` is a property without a setter: object.__setattr__ refuses it."""

        @property
        def y(self) -> int:
            return 0

    for decorator in (records.dataclass, dataclasses.dataclass):

        @decorator(frozen=True, repr=False)
        class InSlot(Slotted, Record):
            """x in the base's slot, z in the dict."""

            x: int
            z: int = 2

        made = InSlot(1)
        assert (made.x, made.z, vars(made)) == (1, 2, {"z": 2})

        @decorator(frozen=True, repr=False)
        class BehindProperty(ReadOnly, Record):
            """y is the base's read-only property."""

            y: int

        with pytest.raises(AttributeError):
            BehindProperty(1)


def test_a_field_without_a_default_after_one_with_is_refused_as_dataclasses_refuses_it() -> None:
    for decorator in (records.dataclass, dataclasses.dataclass):
        with pytest.raises(TypeError, match="non-default argument 'b' follows default argument"):

            @decorator(frozen=True, repr=False)
            class Misordered(Record):
                """b has no default but a has one."""

                a: int = 1
                b: int
