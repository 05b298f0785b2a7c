"""Request models of the marketplace's operations (limits as the original's, see openapi.json)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from shared.models import INT32_MAX, AgentId, Limit, Request, Text
from shared.timeutil import parse_iso

Short = Annotated[Text, StringConstraints(max_length=128)]
TaskId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class Create(Request):
    title: Annotated[Text, StringConstraints(max_length=256)]
    description: Annotated[Text, StringConstraints(max_length=5000)] | None = None
    category: Annotated[Text, StringConstraints(max_length=64)] | None = None
    requirements: Annotated[list[Short], Field(max_length=50)] | None = None
    reward_credits: Annotated[int, Field(ge=0, le=10_000)] = 0
    priority: Annotated[int, Field(ge=0, le=10)] = 0
    estimated_effort: Short | None = None
    tags: Annotated[list[Annotated[Text, StringConstraints(max_length=64)]], Field(max_length=50)] | None = (
        None
    )
    deadline: Annotated[str, StringConstraints(max_length=64)] | None = None  # ISO timestamp, kept as given

    @field_validator("deadline")
    @classmethod
    def _iso(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_iso(value)
            except ValueError:
                raise ValueError("deadline must be an ISO 8601 timestamp") from None
        return value


class Browse(Request):
    category: Text | None = None
    status: Annotated[Text, StringConstraints(max_length=32)] = "open"
    tag: Text | None = None
    min_reward: Annotated[int, Field(ge=0, le=INT32_MAX)] = 0
    limit: Limit = 50


class TaskRef(Request):
    task_id: TaskId


class Deliver(TaskRef):
    result: Annotated[Text, StringConstraints(max_length=50_000)]


class Review(TaskRef):
    accept: bool
    rating: Annotated[int, Field(ge=1, le=5)] | None = None


class Statement(Request):
    limit: Limit = 50


class Balances(Request):
    agent_ids: Annotated[list[AgentId], Field(max_length=500)]


class AgentRef(Request):
    agent_id: AgentId | None = None


class Empty(Request):
    pass


class PublicActivity(Balances):
    recent_for: AgentId | None = None
