"""Pydantic building blocks shared by service models."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

# Plain str: the NUL check lives in Request (a per-type validator would turn pydantic's
# string_too_long errors into generic too_long ones when combined with StringConstraints).
Text = str
Namespace = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:@\-]+$")]
AgentId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
Limit = Annotated[int, Field(ge=1, le=200)]
# Integers bound for Postgres integer/bigint columns and parameters: past them a 422, not a driver error.
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


def _has_nul(value: Any, depth: int = 0) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if depth > 64:
        return False
    if isinstance(value, dict):
        return any(_has_nul(k, depth + 1) or _has_nul(v, depth + 1) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_nul(v, depth + 1) for v in value)
    return False


class Request(BaseModel):
    """Base of every operation's request: unknown fields are ignored (as FastAPI does), and no text may
    contain NUL, which Postgres text and jsonb cannot store (refused as bad input, not a 500)."""

    model_config = ConfigDict(extra="ignore")

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_nul(cls, value: Any) -> Any:
        if _has_nul(value):
            raise ValueError("must not contain NUL characters")
        return value


def drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def json_value(value: Any, limit: int, what: str) -> Any:
    """Any JSON value but null, bounded like the seed's string payloads (string → characters)."""
    if value is None:
        raise PydanticCustomError("value_error", "Value error, {what} must not be null", {"what": what})
    size = len(value) if isinstance(value, str) else len(orjson.dumps(value))
    if size > limit:
        kind = "String" if isinstance(value, str) else "Serialised JSON value"
        raise PydanticCustomError(
            "string_too_long", f"{kind} should have at most {{max_length}} characters", {"max_length": limit}
        )
    return value


def bounded_json(limit: int, what: str) -> AfterValidator:
    """For `Annotated[Any, bounded_json(…)]`: a field holding any JSON value but null, bounded by `json_value`."""
    return AfterValidator(lambda value: json_value(value, limit, what))


def optional_bounded_json(limit: int, what: str) -> AfterValidator:
    """As `bounded_json`, but null (no value) is allowed."""
    return AfterValidator(lambda value: None if value is None else json_value(value, limit, what))
