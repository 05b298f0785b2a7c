"""Request models of task graphs (limits as MoltGrid 1.0's TaskCreateRequest / TaskUpdateRequest)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from shared.models import INT64_MAX, AgentId, Request, Text, optional_bounded_json

TaskId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Status = Literal["pending", "running", "waiting_input", "completed", "failed", "cancelled", "rejected"]
MAX_RESULT = 10_000  # characters of a string result, or of an object's JSON
MAX_METADATA = 10_000
DEFAULT_LEASE_S = 300  # 1.0 leases a claim for five minutes


class TaskCreate(Request):
    title: Annotated[Text, StringConstraints(min_length=1, max_length=256)]
    description: Annotated[Text, StringConstraints(max_length=4000)] | None = None
    priority: Annotated[int, Field(ge=0, le=10)] = 0
    metadata: Annotated[dict[str, Any] | None, optional_bounded_json(MAX_METADATA, "metadata")] = None
    depends_on: Annotated[list[TaskId], Field(max_length=100)] | None = None  # additive: edges at creation


class TaskList(Request):
    status: Status | None = None
    creator: AgentId | None = None
    claimed_by: AgentId | None = None
    claimable: bool = False  # additive: only pending tasks whose dependencies have all completed
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    offset: Annotated[int, Field(ge=0, le=INT64_MAX)] = 0


class TaskRef(Request):
    task_id: TaskId


class TaskClaim(TaskRef):
    lease_seconds: Annotated[int, Field(ge=1, le=86_400)] = DEFAULT_LEASE_S  # additive


class TaskComplete(TaskRef):
    result: Annotated[str | dict[str, Any] | None, optional_bounded_json(MAX_RESULT, "result")] = None


class TaskUpdate(TaskComplete):
    status: Status


class TaskDependency(TaskRef):
    depends_on: TaskId
