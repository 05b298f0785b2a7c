"""Request models of the scenario operations."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from shared.models import AgentId, Request, Text

ScenarioId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
MAX_AGENTS = 100  # the original capped agent_count at 20; real runs are measured with 25 and more


class Create(Request):
    pattern: Annotated[Text, StringConstraints(max_length=64)]
    agent_count: Annotated[int, Field(ge=2, le=MAX_AGENTS)]
    name: Annotated[Text, StringConstraints(max_length=128)] | None = None
    timeout_seconds: Annotated[int, Field(ge=5, le=300)] = 60
    success_criteria: dict[str, Any] | None = None


class List(Request):
    pattern: Text | None = None
    status: Text | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20


class ScenarioRef(Request):
    scenario_id: ScenarioId


class AgentRef(Request):
    agent_id: AgentId | None = None


class Empty(Request):
    pass
