"""Request models of the queue service's operations (seed limits from the contract, plus the additive fields:
leases, retry timing, dead letters, concurrency keys and the batch forms a worker fleet uses)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, StringConstraints, model_validator

from shared.models import INT32_MAX, AgentId, Request, Text, bounded_json, optional_bounded_json

MAX_PAYLOAD = 100_000  # characters of a string payload, or bytes of any other JSON value serialised
QueueName = Annotated[Text, StringConstraints(min_length=1, max_length=64)]
Priority = Annotated[int, Field(ge=0, le=10)]
LeaseSeconds = Annotated[int, Field(ge=1, le=43_200)]
JobId = Annotated[Text, StringConstraints(min_length=1, max_length=64)]
Status = Literal["pending", "processing", "completed", "dead_letter"]


class Submit(Request):
    payload: Annotated[Any, bounded_json(MAX_PAYLOAD, "payload")]
    queue_name: QueueName = "default"
    priority: Priority = 0
    # additive
    max_attempts: Annotated[int, Field(ge=1, le=100)] | None = None
    visibility_timeout: LeaseSeconds | None = None
    # Retry timing (docs/queue.md): "fixed" waits retry_delay_seconds before each retry, as both published
    # SDKs mean it; "exponential" waits uniform(0, min(max, base · 2^(n-1))). Unset: fixed when
    # retry_delay_seconds is given, else exponential with the settings' base and cap.
    retry_delay_seconds: Annotated[float, Field(ge=0, le=3600)] | None = None
    backoff: Literal["fixed", "exponential"] | None = None
    backoff_base_seconds: Annotated[float, Field(ge=0, le=3600)] | None = None
    backoff_max_seconds: Annotated[float, Field(ge=0, le=86_400)] | None = None
    # fairness and limits: claims go round-robin across the keys of a queue; at most concurrency_limit jobs
    # of this job's key are processing at once
    concurrency_key: Annotated[Text, StringConstraints(min_length=1, max_length=128)] | None = None
    concurrency_limit: Annotated[int, Field(ge=1, le=10_000)] | None = None

    @model_validator(mode="after")
    def _limit_needs_key(self) -> Submit:
        if self.concurrency_limit is not None and self.concurrency_key is None:
            raise ValueError("concurrency_limit needs a concurrency_key")
        return self

    delay_seconds: Annotated[float, Field(ge=0, le=2_592_000)] | None = None
    run_at: datetime | None = None
    dedup_key: Annotated[Text, StringConstraints(min_length=1, max_length=256)] | None = None


class SubmitBatch(Request):
    """MoltGrid 1.0's POST /v1/queue/batch: 1 to 100 jobs, each item a submit's fields."""

    items: Annotated[list[Submit], Field(min_length=1, max_length=100)]


class Claim(Request):
    queue_name: QueueName = "default"
    visibility_timeout: LeaseSeconds | None = None  # additive: this claim's lease, overriding the job's
    max_jobs: Annotated[int, Field(ge=1, le=100)] = 1  # above 1 the answer is a list of jobs


class JobRef(Request):
    job_id: JobId


class Complete(JobRef):
    # the seed's ?result= string; any JSON value in a body
    result: Annotated[Any, bounded_json(MAX_PAYLOAD, "result")] = ""
    attempt: Annotated[int, Field(ge=1, le=INT32_MAX)] | None = None  # the lease the claim returned


class Fail(JobRef):
    # "reason" is what the original SDK's queue_fail sends
    error: Annotated[
        Text, StringConstraints(max_length=10_000), Field(validation_alias=AliasChoices("error", "reason"))
    ] = ""
    attempt: Annotated[int, Field(ge=1, le=INT32_MAX)] | None = None
    retryable: bool = True


class Heartbeat(JobRef):
    attempt: Annotated[int, Field(ge=1, le=INT32_MAX)] | None = None
    extend_seconds: LeaseSeconds | None = None  # new lease from now; default: the job's visibility timeout
    progress: Annotated[Any, optional_bounded_json(10_000, "progress")] = None


def _distinct_jobs(items: list[Any]) -> list[Any]:
    ids = [item.job_id for item in items]
    if len(set(ids)) != len(ids):
        raise ValueError("each job_id may appear once in a batch")
    return items


class CompleteBatch(Request):
    items: Annotated[list[Complete], Field(min_length=1, max_length=100)]

    @model_validator(mode="after")
    def _distinct(self) -> CompleteBatch:
        _distinct_jobs(self.items)
        return self


class FailBatch(Request):
    items: Annotated[list[Fail], Field(min_length=1, max_length=100)]

    @model_validator(mode="after")
    def _distinct(self) -> FailBatch:
        _distinct_jobs(self.items)
        return self


class HeartbeatBatch(Request):
    items: Annotated[list[Heartbeat], Field(min_length=1, max_length=100)]

    @model_validator(mode="after")
    def _distinct(self) -> HeartbeatBatch:
        _distinct_jobs(self.items)
        return self


class List(Request):
    queue_name: QueueName = "default"
    status: Status | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20


class Stats(Request):
    queue_name: QueueName | None = None


class DeadLetterFilter(Request):
    queue_name: QueueName | None = None
    since: datetime | None = None  # dead-lettered at or after
    until: datetime | None = None  # dead-lettered before
    limit: Annotated[int, Field(ge=1, le=1000)] = 100


class DeadLetterList(DeadLetterFilter):
    offset: Annotated[int, Field(ge=0, le=INT32_MAX)] = 0  # 1.0's paging (GET /v1/queue/dead_letter)


class AgentRef(Request):
    agent_id: AgentId | None = None


class Empty(Request):
    pass
