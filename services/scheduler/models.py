"""Request models of the scheduler's operations (seed fields and limits from the contract, plus policies)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from services.queue.models import MAX_PAYLOAD, Priority, QueueName
from shared.models import AgentId, Request, Text, bounded_json

TaskId = Annotated[Text, StringConstraints(min_length=1, max_length=64)]


class Create(Request):
    cron_expr: Annotated[Text, StringConstraints(max_length=128)]
    payload: Annotated[Any, bounded_json(MAX_PAYLOAD, "payload")]
    queue_name: QueueName = "default"
    priority: Priority = 0
    # additive
    timezone: Annotated[Text, StringConstraints(min_length=1, max_length=64)] = "UTC"
    overlap: Literal["allow", "skip"] = "allow"
    catchup: Literal["skip", "once", "all"] = "once"
    catchup_window_seconds: Annotated[int, Field(ge=1, le=2_592_000)] = 3600
    enabled: bool = True


class TaskRef(Request):
    task_id: TaskId


class Toggle(TaskRef):
    enabled: bool = True


class Runs(TaskRef):
    limit: Annotated[int, Field(ge=1, le=200)] = 20


class SetClock(Request):
    """Test clock: give the offset, an absolute `now`, or seconds to advance by."""

    offset_seconds: float | None = None
    now: datetime | None = None
    advance_seconds: float | None = None


class AgentRef(Request):
    agent_id: AgentId | None = None


class Empty(Request):
    pass
