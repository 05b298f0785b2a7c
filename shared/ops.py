"""Operation groups: a service's handlers, declared once.

A group is a class whose `@op` methods are NATS operations. Each method is written
`async def name(self, req: Model, ctx: Ctx) -> ...`; the request model is read from the type hint of `req`
(a pydantic model, or `Any`/`dict` for an operation that takes no validated body), so an operation names its
model exactly once. The group's `prefix` is put before every operation's name (`vector_` + `search`), as
nats.py micro's `add_group` does for endpoints.

`@op(admin=True)` marks an operation only an admin session may call: the check lives in the bus, not in
each handler.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, get_type_hints

from pydantic import BaseModel

from shared.bus import Op

F = TypeVar("F", bound=Callable[..., Any])
_MARK = "__moltgrid_op__"


@dataclass(frozen=True, slots=True)
class _Declared:
    name: str | None
    admin: bool


def op(name: str | None = None, *, admin: bool = False) -> Callable[[F], F]:
    """Declare a method of an `OpGroup` as operation `prefix + (name or the method's name)`."""

    def mark(fn: F) -> F:
        setattr(fn, _MARK, _Declared(name, admin))
        return fn

    return mark


def request_model(fn: Callable[..., Any]) -> type[BaseModel] | None:
    """The pydantic model of an operation's request: the type hint of its first parameter after `self`."""
    params = [p for p in inspect.signature(fn).parameters if p != "self"]
    if not params:
        raise TypeError(f"operation {fn.__qualname__} takes no request parameter")
    hint = get_type_hints(fn).get(params[0])
    return hint if isinstance(hint, type) and issubclass(hint, BaseModel) else None


class OpGroup:
    """Base of every handler class: `ops()` collects its `@op` methods."""

    prefix: ClassVar[str] = ""

    def ops(self) -> dict[str, Op]:
        found: dict[str, Op] = {}
        for attr, fn in inspect.getmembers(type(self), inspect.isfunction):
            declared: _Declared | None = getattr(fn, _MARK, None)
            if declared is None:
                continue
            name = self.prefix + (declared.name or attr)
            if name in found:
                raise ValueError(f"{type(self).__name__} declares operation {name!r} twice")
            found[name] = Op(getattr(self, attr), request_model(fn), admin=declared.admin)
        return found


def merge_ops(*groups: dict[str, Op]) -> dict[str, Op]:
    """One service's operations from several groups; a name declared by two groups is a wiring error."""
    merged: dict[str, Op] = {}
    for group in groups:
        for name, operation in group.items():
            if name in merged:
                raise ValueError(f"operation {name!r} is declared by two groups")
            merged[name] = operation
    return merged
