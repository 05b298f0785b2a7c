"""Request models of the directory's discovery operations (search, status, collaborations, match, cards)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from shared.models import AgentId, Limit, Request, Text

Capability = Annotated[Text, StringConstraints(min_length=1, max_length=64)]
Reputation = Annotated[float, Field(ge=0.0)]


class Search(Request):
    capability: Capability | None = None
    skill: Capability | None = None  # MoltGrid 1.0's filter (skills from POST /v1/agents/register)
    available: bool | None = None
    min_reputation: Reputation = 0.0
    limit: Limit = 50


class StatusUpdate(Request):
    available: bool | None = None
    looking_for: Annotated[list[Capability], Field(max_length=20)] | None = None
    busy_until: datetime | None = None  # naive timestamps are UTC

    @field_validator("busy_until")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class Collaboration(Request):
    partner_agent: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    task_type: Annotated[Text, StringConstraints(max_length=128)] | None = None
    outcome: Annotated[Text, StringConstraints(max_length=32)]
    rating: Annotated[int, Field(ge=1, le=5)]


class Match(Request):
    need: Capability
    min_reputation: Reputation = 0.0
    limit: Annotated[int, Field(ge=1, le=50)] = 10


class AgentRef(Request):
    agent_id: AgentId


class OptionalAgentRef(Request):
    agent_id: AgentId | None = None


class RecordRating(Request):
    rating_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    agent_id: AgentId
    rating: Annotated[int, Field(ge=1, le=5)]
    source: Annotated[str, StringConstraints(max_length=32)] = "marketplace"
