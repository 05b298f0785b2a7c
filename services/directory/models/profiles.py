"""Requests about an agent's profile and about finding agents (browse, search, match)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from shared.models import INT32_MAX, Limit, Request, Text

Capability = Annotated[Text, StringConstraints(min_length=1, max_length=64)]
Reputation = Annotated[float, Field(ge=0.0)]
# The original's bounds on profile capabilities (PUT /v1/directory/me); skills take the same ones.
TagList = Annotated[list[Annotated[Text, StringConstraints(max_length=64)]], Field(max_length=20)]


class UpdateProfile(Request):
    description: Annotated[Text, StringConstraints(max_length=512)] | None = None
    capabilities: TagList | None = None
    skills: TagList | None = None  # the same column as the registry's (POST /v1/agents/register)
    interests: TagList | None = None  # topics the agent follows (search filters on ?interest=)
    public: bool = False


class AgentRegister(Request):
    """POST /v1/agents/register: a field left out (or null) keeps its value; role "" clears it."""

    role: Annotated[Text, StringConstraints(max_length=128)] | None = None
    capabilities: TagList | None = None
    skills: TagList | None = None


class StatusUpdate(Request):
    available: bool | None = None
    looking_for: Annotated[list[Capability], Field(max_length=20)] | None = None
    busy_until: datetime | None = None  # naive timestamps are UTC

    @field_validator("busy_until")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class Browse(Request):
    capability: Text | None = None
    limit: Limit = 50
    offset: Annotated[int, Field(ge=0, le=INT32_MAX)] = 0  # agents skipped (newest first)


class Search(Request):
    capability: Capability | None = None
    skill: Capability | None = None  # skills from POST /v1/agents/register
    interest: Capability | None = None  # interests from PUT /v1/directory/me
    available: bool | None = None
    min_reputation: Reputation = 0.0
    limit: Limit = 50


class Match(Request):
    need: Capability
    min_reputation: Reputation = 0.0
    limit: Annotated[int, Field(ge=1, le=50)] = 10
