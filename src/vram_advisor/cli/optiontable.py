"""typer parameters generated from the check option table (``vram_advisor.options``), with typer's public API only:
each option becomes an ``Annotated[type, typer.Option(...)]`` parameter, and a command's signature is built from
them with ``inspect.Signature`` (typer reads a function's signature through ``inspect.signature``)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer

from vram_advisor.options import OPTIONS, CheckOption


def option_info(name: str) -> Any:
    """The ``typer.Option`` of the table's option ``name``: its flag, metavar, help and callback."""
    option = OPTIONS[name]
    return typer.Option(option.flag, metavar=option.metavar, help=option.help, callback=option.callback)


def annotation(option: CheckOption) -> Any:
    """The parameter's type, annotated with its ``typer.Option``: a flag is a bool, a repeatable option a list."""
    info = option_info(option.name)
    if option.kind == "flag":
        return Annotated[bool, info]
    if option.kind == "list":
        return Annotated[list[str] | None, info]
    if option.default is None:
        return Annotated[str | None, info]
    return Annotated[str, info]


def parameter(option: CheckOption) -> inspect.Parameter:
    """The command parameter of ``option``, named as its ``service.CheckRequest`` field, with its default."""
    default = False if option.kind == "flag" else option.default
    return inspect.Parameter(
        option.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation(option)
    )


def with_parameters(function: Callable[..., None], parameters: Sequence[inspect.Parameter]) -> Callable[..., None]:
    """``function`` (which takes ``**arguments``) given the signature ``parameters``, as typer reads it."""
    function.__dict__["__signature__"] = inspect.Signature(list(parameters), return_annotation=None)
    function.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
    return function
