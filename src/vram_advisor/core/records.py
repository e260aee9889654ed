"""The records (frozen dataclasses) of the program: one shared ``__repr__``, and a cheaper ``dataclass`` decorator.

``dataclasses.dataclass`` writes each method of each class (``__init__``, ``__setattr__``, ``__delattr__``,
``__eq__``, ``__hash__``, ``__repr__``) as source text and compiles it when the module is imported: with some sixty
records that was ~40 ms, a quarter of ``check``'s start-up (``bench/startup.py``). So:

* records are declared ``repr=False`` and inherit ``Record.__repr__``, which prints the same thing;
* modules import ``dataclass`` from here: it reads the fields as ``dataclasses`` does (the same ``Field`` objects,
  ``__dataclass_fields__``, ``__dataclass_params__``, so ``fields``, ``replace`` and ``asdict`` work), compiles
  ``__init__`` alone, and gives the class the same ``__setattr__``/``__delattr__`` (frozen), ``__eq__`` and
  ``__hash__`` as functions over the field names, with nothing to compile. A class the fast path does not cover
  (``order``, ``slots``, ``kw_only``, ``init=False`` fields, ``ClassVar``, ``InitVar``, dataclass bases, no docstring,
  ``repr=True``) goes to ``dataclasses.dataclass`` unchanged. Type checkers see ``dataclasses.dataclass`` itself.

The semantics are those of the standard library's (https://docs.python.org/3/library/dataclasses.html), method by
method: ``tests/test_records.py`` compares both on the same classes.
"""

from __future__ import annotations

import abc
import dataclasses
import sys
from dataclasses import FrozenInstanceError, fields
from functools import cache
from operator import attrgetter
from typing import TYPE_CHECKING, Any


class Record:
    """Mixin for dataclasses declared with ``repr=False``."""

    __slots__ = ()

    def __repr__(self) -> str:
        body = ", ".join(f"{field.name}={getattr(self, field.name)!r}" for field in fields(self))  # type: ignore[arg-type]
        return f"{type(self).__name__}({body})"


if TYPE_CHECKING:
    from dataclasses import dataclass as dataclass
else:

    def dataclass(cls=None, /, **options):
        """``dataclasses.dataclass`` with the same arguments, compiling only ``__init__`` (see the module)."""

        def wrap(cls):
            return _fast(cls, **options)

        return wrap if cls is None else wrap(cls)


#: What the fast path covers: the arguments that may differ from their defaults, and with which values.
_FAST = {"init": (True,), "repr": (False,), "eq": (True, False), "frozen": (True, False)}

_MISSING = dataclasses.MISSING
_stdlib_dataclass: Any = dataclasses.dataclass
#: The marker of a real field (not a ClassVar or InitVar): private to dataclasses, so a Python without it gets the
#: standard decorator for every class.
_FIELD = getattr(dataclasses, "_FIELD", None)
#: Python 3.13's dataclasses compare field by field (``self.a == other.a and ...``); before, as tuples, where an
#: object is equal to itself (a NaN field compares equal to the same NaN).
_FIELD_BY_FIELD_EQ = sys.version_info >= (3, 13)


class _Factory:
    """The default of a parameter whose field has a ``default_factory`` (as ``dataclasses`` does it)."""

    def __repr__(self) -> str:
        return "<factory>"


_HAS_DEFAULT_FACTORY = _Factory()


def _fast(cls: type, **options: Any) -> type:
    if _FIELD is None or any(value not in _FAST.get(name, ()) for name, value in options.items()):
        return dataclasses.dataclass(cls, **options)
    if options.get("repr", True):
        return dataclasses.dataclass(cls, **options)
    if not _plain(cls):
        return dataclasses.dataclass(cls, **options)
    eq, frozen = options.get("eq", True), options.get("frozen", False)
    own = _collect(cls, _params(eq, frozen))
    _set(cls, "__init__", _init(cls, own, frozen))
    if frozen:
        _set(cls, "__setattr__", _frozen_setattr(cls, own))
        _set(cls, "__delattr__", _frozen_delattr(cls, own))
    if eq:
        _set(cls, "__eq__", _eq(cls, [field for field in own if field.compare]))
    # __hash__ as dataclasses decides it (unsafe_hash is never on the fast path)
    explicit = cls.__dict__.get("__hash__", _MISSING)
    has_explicit_hash = not (explicit is _MISSING or (explicit is None and "__eq__" in cls.__dict__))
    if eq and not has_explicit_hash:
        if frozen:
            hashed = [field for field in own if (field.compare if field.hash is None else field.hash)]
            cls.__hash__ = _hash(cls, hashed)  # type: ignore[method-assign]
        else:
            cls.__hash__ = None  # type: ignore[assignment]
    return cls


@cache
def _params(eq: bool, frozen: bool) -> Any:
    """The ``__dataclass_params__`` that ``dataclasses`` gives a class declared with ``eq`` and ``frozen``."""

    template: Any = type("Template", (), {"__doc__": "A class for its parameters."})
    return _stdlib_dataclass(template, repr=False, eq=eq, frozen=frozen).__dataclass_params__


def _collect(cls: type, params: Any) -> list[dataclasses.Field[Any]]:
    """The fields of ``cls``, read as ``dataclasses`` reads them (every annotation is a field here: ``_plain``
    checked it), with the class attributes, ``__dataclass_fields__``, ``__dataclass_params__`` and
    ``__match_args__`` that it sets."""
    body = cls.__dict__
    own = []
    for name, annotation in body.get("__annotations__", {}).items():
        default: Any = getattr(cls, name, _MISSING)
        found: Any = default if isinstance(default, dataclasses.Field) else dataclasses.field(default=default)
        found.name, found.type = name, annotation
        found._field_type = _FIELD
        if found.kw_only is _MISSING:
            found.kw_only = False
        if found.default is not _MISSING and found.default.__class__.__hash__ is None:
            raise ValueError(
                f"mutable default {type(found.default)} for field {name} is not allowed: use default_factory"
            )
        own.append(found)
    for found in own:
        if isinstance(body.get(found.name), dataclasses.Field):
            if found.default is _MISSING:
                delattr(cls, found.name)
            else:
                setattr(cls, found.name, found.default)
    for name, value in body.items():
        if isinstance(value, dataclasses.Field) and name not in body.get("__annotations__", {}):
            raise TypeError(f"{name!r} is a field but has no type annotation")
    cls.__dataclass_params__ = params  # type: ignore[attr-defined]
    cls.__dataclass_fields__ = {found.name: found for found in own}  # type: ignore[attr-defined]
    if "__match_args__" not in body:
        cls.__match_args__ = tuple(found.name for found in own)  # type: ignore[attr-defined, misc]
    abc.update_abstractmethods(cls)
    return own


def _plain(cls: type) -> bool:
    """Whether the fast path covers ``cls``: a docstring, annotations in its body (as strings: ``from __future__
    import annotations``), no dataclass base, no ``ClassVar``, ``InitVar`` or ``KW_ONLY`` annotation, no field with
    ``init=False`` or ``kw_only``, no ``__setattr__``/``__delattr__`` of its own."""
    body = cls.__dict__
    if not body.get("__doc__") or "__setattr__" in body or "__delattr__" in body or "__annotations__" not in body:
        return False
    if any(hasattr(base, "__dataclass_fields__") for base in cls.__mro__[1:]):
        return False
    for name, annotation in body.get("__annotations__", {}).items():
        if not isinstance(annotation, str) or "ClassVar" in annotation or "InitVar" in annotation:
            return False
        if "KW_ONLY" in annotation:
            return False
        value = body.get(name)
        if isinstance(value, dataclasses.Field) and (not value.init or value.kw_only is True):
            return False
    return True


def _set(cls: type, name: str, function: Any) -> None:
    """Give ``cls`` the method ``name`` unless its body defines one (as dataclasses does)."""
    if name in cls.__dict__:
        return
    function.__qualname__ = f"{cls.__qualname__}.{name}"
    setattr(cls, name, function)


def _init(cls: type, own: list[dataclasses.Field[Any]] | tuple[dataclasses.Field[Any], ...], frozen: bool) -> Any:
    """The ``__init__`` of the fields ``own``, as dataclasses writes it: one compile per class.

    Two things keep the text short, since compiling is most of a record's cost: the defaults are given to the
    function as its ``__defaults__`` rather than named in the text, and a frozen record whose fields are plain
    entries of its ``__dict__`` fills them in one ``update`` (the same keys, values and order as dataclasses' one
    ``object.__setattr__`` per field; ``_plain_dict``).
    """
    names: dict[str, Any] = {
        "__dataclass_HAS_DEFAULT_FACTORY__": _HAS_DEFAULT_FACTORY,
        "__object_setattr": object.__setattr__,
    }
    parameters, defaults, body, values = ["self"], [], [], []
    for field in own:
        value = field.name
        if field.default_factory is not _MISSING:
            names[f"__dataclass_dflt_{field.name}__"] = field.default_factory
            defaults.append(_HAS_DEFAULT_FACTORY)
            value = (
                f"__dataclass_dflt_{field.name}__() if {field.name} is __dataclass_HAS_DEFAULT_FACTORY__ "
                f"else {field.name}"
            )
        elif field.default is not _MISSING:
            defaults.append(field.default)
        elif defaults:
            raise TypeError(f"non-default argument {field.name!r} follows default argument")
        parameters.append(field.name)
        values.append(f"{field.name!r}: {value}")
        if frozen:
            body.append(f"  __object_setattr(self, {field.name!r}, {value})")
        else:
            body.append(f"  self.{field.name} = {value}")
    if frozen and values and _plain_dict(cls, own):
        body = [f"  self.__dict__.update({{{', '.join(values)}}})"]
    if hasattr(cls, "__post_init__"):
        body.append("  self.__post_init__()")
    if not body:
        body.append("  pass")
    source = f"def __init__({', '.join(parameters)}):\n" + "\n".join(body)
    scope: dict[str, Any] = {}
    exec(source, names, scope)  # the text is built above from field names only
    function = scope["__init__"]
    function.__defaults__ = tuple(defaults) or None
    function.__annotations__ = {field.name: field.type for field in own} | {"return": None}
    return function


def _plain_dict(cls: type, own: list[dataclasses.Field[Any]] | tuple[dataclasses.Field[Any], ...]) -> bool:
    """Whether ``object.__setattr__(self, name, value)`` is the same as ``self.__dict__[name] = value`` for each field
    of ``cls``: its instances have a ``__dict__`` (no ``__slots__`` all the way up), and no class on the way up holds
    a data descriptor (a property, a slot) under a field's name."""
    if not any("__dict__" in klass.__dict__ for klass in cls.__mro__):
        return False
    for field in own:
        for klass in cls.__mro__:
            if field.name in klass.__dict__:
                found = type(klass.__dict__[field.name])
                if hasattr(found, "__set__") or hasattr(found, "__delete__"):
                    return False
                break
    return True


def _frozen_setattr(cls: Any, own: Any) -> Any:
    names = tuple(field.name for field in own)

    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)

    return __setattr__


def _frozen_delattr(cls: Any, own: Any) -> Any:
    names = tuple(field.name for field in own)

    def __delattr__(self: Any, name: str) -> None:
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)

    return __delattr__


def _values(compared: list[dataclasses.Field[Any]]) -> Any:
    """A function from a record to the tuple of the fields ``compared``, as dataclasses' ``(self.a, self.b,)``."""
    names = [field.name for field in compared]
    if len(names) >= 2:
        return attrgetter(*names)
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda record: (one(record),)
    return lambda record: ()


def _eq(cls: type, compared: list[dataclasses.Field[Any]]) -> Any:
    values = _values(compared)
    names = [field.name for field in compared]

    def __eq__(self: Any, other: Any) -> Any:
        if _FIELD_BY_FIELD_EQ:  # 3.13: ``if self is other: return True``, then ``self.a == other.a and ...``
            if self is other:
                return True
            if other.__class__ is not self.__class__:
                return NotImplemented
            result: Any = True
            for name in names:
                result = getattr(self, name) == getattr(other, name)
                if not result:
                    return result
            return result
        if other.__class__ is self.__class__:
            return values(self) == values(other)
        return NotImplemented

    return __eq__


def _hash(cls: type, hashed: list[dataclasses.Field[Any]]) -> Any:
    values = _values(hashed)

    def __hash__(self: Any) -> int:
        return hash(values(self))

    __hash__.__qualname__ = f"{cls.__qualname__}.__hash__"
    return __hash__
