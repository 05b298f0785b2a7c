"""Webhooks: registration (with the event types a webhook may subscribe to), the delivery log, replays."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from shared.models import Request, Text

# The seed's catalogue, plus the job events the queue publishes.
EVENT_TYPES: tuple[str, ...] = (
    "message.received",
    "job.completed",
    "job.failed",
    "job.dead_lettered",
    "marketplace.task_claimed",
    "marketplace.task_delivered",
    "marketplace.task_reviewed",
    "message.broadcast",
    "agent.offline",
)
# Task graphs (coordination service): one event per change of a task (docs/events.md).
EVENT_TYPES += tuple(
    f"task.{change}"
    for change in (
        "created",
        "claimed",
        "completed",
        "failed",
        "cancelled",
        "rejected",
        "waiting_input",
        "resumed",
        "reopened",
        "lease_expired",
        "released",
        "dependency_added",
        "unblocked",
    )
)
# Names the original's code accepted for the same events.
EVENT_ALIASES = {
    "marketplace.task.claimed": "marketplace.task_claimed",
    "marketplace.task.delivered": "marketplace.task_delivered",
    "marketplace.task.completed": "marketplace.task_reviewed",
}


class WebhookCreate(Request):
    url: Annotated[Text, StringConstraints(min_length=1, max_length=2048)]
    event_types: Annotated[
        list[Annotated[Text, StringConstraints(max_length=64)]], Field(min_length=1, max_length=20)
    ]
    secret: Annotated[Text, StringConstraints(max_length=128)] | None = None


class WebhookRef(Request):
    webhook_id: Annotated[Text, StringConstraints(min_length=1, max_length=64)]


class DeliveryRef(WebhookRef):
    delivery_id: Annotated[Text, StringConstraints(min_length=1, max_length=64)]


class Deliveries(WebhookRef):
    limit: Annotated[int, Field(ge=1, le=200)] = 50
