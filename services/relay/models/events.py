"""The event stream: reading after a cursor (or from what was acknowledged), and acknowledging."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from shared.models import INT64_MAX, Request, Text


class Events(Request):
    # stream sequence; default: the agent's acknowledged cursor (and events acknowledged by id are skipped)
    after: Annotated[int, Field(ge=0, le=INT64_MAX)] | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 100
    wait: Annotated[float, Field(ge=0, le=30)] = 0  # long poll: seconds to wait for the first event
    types: Annotated[Text, StringConstraints(max_length=512)] | None = None  # comma-separated filter
    event_type: Annotated[Text, StringConstraints(max_length=64)] | None = None  # 1.0's one-type filter


class Ack(Request):
    """Our stream cursor, 1.0's event ids, or both."""

    cursor: Annotated[int, Field(ge=0, le=INT64_MAX)] | None = None
    event_ids: Annotated[
        list[Annotated[Text, StringConstraints(min_length=1, max_length=64)]] | None,
        Field(max_length=1000, validate_default=True),
    ] = None

    @field_validator("event_ids", mode="after")
    @classmethod
    def _one_of_them(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if value is None and info.data.get("cursor") is None:
            raise PydanticCustomError("missing", "Field required")
        return value
