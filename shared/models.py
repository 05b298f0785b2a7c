"""Pydantic building blocks shared by service models."""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints


def _no_nul(value: str) -> str:
    # Postgres text cannot hold NUL; refuse it as bad input rather than fail at write time.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
Namespace = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:@\-]+$")]
AgentId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
Limit = Annotated[int, Field(ge=1, le=200)]


class Request(BaseModel):
    """Base of every operation's request: unknown fields are ignored (as FastAPI does)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


def drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}
