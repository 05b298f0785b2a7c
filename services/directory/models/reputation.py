"""Requests about collaborations, ratings and the public rankings."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from shared.models import AgentId, Request, Text

SortBy = Literal["reputation", "credits", "tasks_completed", "requests"]


class Collaboration(Request):
    partner_agent: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    task_type: Annotated[Text, StringConstraints(max_length=128)] | None = None
    outcome: Annotated[Text, StringConstraints(max_length=32)]
    rating: Annotated[int, Field(ge=1, le=5)]


class RecordRating(Request):
    rating_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    agent_id: AgentId
    rating: Annotated[int, Field(ge=1, le=5)]
    source: Annotated[str, StringConstraints(max_length=32)] = "marketplace"


class Page(Request):
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    offset: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0


class Leaderboard(Request):
    sort_by: SortBy = "reputation"
    limit: Annotated[int, Field(ge=1, le=100)] = 20
