"""Request models of the scenario operations."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator

from shared.models import AgentId, Request, Text

ScenarioId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
MAX_AGENTS = 100  # the original capped agent_count at 20; real runs are measured with 25 and more
# The size parameters a scenario may set in success_criteria, and their largest values (docs/coordination.md).
SIZES = {
    "messages": 100_000,
    "total_tasks": 1_000_000,
    "tasks": 1_000,
    "max_rounds": 20,
    "bid_window_ms": 60_000,
}
# pub_sub_fanout delivers every message to every other agent: messages x (agent_count - 1) deliveries, all
# through one NATS connection; beyond this the server cuts the run's connection off as a slow consumer.
MAX_FANOUT_DELIVERIES = 100_000


class Create(Request):
    pattern: Annotated[Text, StringConstraints(max_length=64)]
    agent_count: Annotated[int, Field(ge=2, le=MAX_AGENTS)]
    name: Annotated[Text, StringConstraints(max_length=128)] | None = None
    timeout_seconds: Annotated[int, Field(ge=5, le=300)] = 60
    success_criteria: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _sizes(self) -> Create:
        criteria = self.success_criteria or {}
        for key, most in SIZES.items():
            value = criteria.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > most:
                raise ValueError(f"success_criteria.{key} may be at most {most}")
        messages = criteria.get("messages", 10)
        if self.pattern == "pub_sub_fanout" and isinstance(messages, (int, float)):
            deliveries = int(messages) * (self.agent_count - 1)
            if deliveries > MAX_FANOUT_DELIVERIES:
                raise ValueError(
                    f"pub_sub_fanout would make {deliveries} deliveries (messages x (agent_count - 1));"
                    f" at most {MAX_FANOUT_DELIVERIES}"
                )
        return self


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
