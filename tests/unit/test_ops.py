"""Operation groups: names, prefixes, admin marks and request models come from the declarations alone."""

from __future__ import annotations

from typing import Any

import pytest

from shared.bus import Ctx
from shared.models import Request
from shared.ops import OpGroup, merge_ops, op, request_model


class Put(Request):
    key: str


class Things(OpGroup):
    @op()
    async def put(self, req: Put, ctx: Ctx) -> dict[str, Any]:
        return {"key": req.key}

    @op("list")
    async def list_things(self, req: Any, ctx: Ctx) -> list[str]:
        return []

    @op(admin=True)
    async def wipe(self, req: Put, ctx: Ctx) -> None:
        return None

    async def helper(self, req: Put, ctx: Ctx) -> None:  # not an operation: no @op
        return None


class Vectors(Things):
    prefix = "vector_"


def test_a_group_lists_its_declared_operations_with_their_models() -> None:
    ops = Things().ops()
    assert sorted(ops) == ["list", "put", "wipe"]
    assert ops["put"].model is Put and not ops["put"].admin
    assert ops["list"].model is None  # an untyped body: no validation
    assert ops["wipe"].admin


def test_the_prefix_goes_before_every_name() -> None:
    assert sorted(Vectors().ops()) == ["vector_list", "vector_put", "vector_wipe"]


def test_the_model_is_read_from_the_type_hint() -> None:
    async def handler(req: Put, ctx: Ctx) -> None:
        return None

    async def raw(req: dict[str, Any], ctx: Ctx) -> None:
        return None

    assert request_model(handler) is Put
    assert request_model(raw) is None
    with pytest.raises(TypeError):
        request_model(lambda: None)


def test_two_groups_declaring_one_name_is_a_wiring_error() -> None:
    with pytest.raises(ValueError, match="declared by two groups"):
        merge_ops(Things().ops(), Things().ops())
    assert sorted(merge_ops(Things().ops(), Vectors().ops())) == sorted(
        ["list", "put", "wipe", "vector_list", "vector_put", "vector_wipe"]
    )
