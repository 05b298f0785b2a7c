"""Request models of the relay service (limits as observed in the original)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from shared.admin import AdminPage
from shared.models import INT64_MAX, AgentId, Request, Text, bounded_json

MAX_PAYLOAD = 10_000
# The seed's catalogue, plus the job events the queue publishes.
EVENT_TYPES = (
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
Channel = Annotated[Text, StringConstraints(min_length=1, max_length=64)]
# A publication's inbox channel is "pubsub:" + its pub/sub channel (up to 128 characters).
InboxChannel = Annotated[Text, StringConstraints(min_length=1, max_length=136)]
MessageId = Annotated[Text, StringConstraints(min_length=1, max_length=64)]


class Send(Request):
    to_agent: AgentId
    channel: Channel = "direct"
    payload: Annotated[Any, bounded_json(MAX_PAYLOAD, "payload")]


class Inbox(Request):
    # as the original: "direct"; "*" or an empty value = every channel (1.0 omits it for every channel, but the
    # seed's default wins)
    channel: Annotated[Text, StringConstraints(max_length=136)] = "direct"
    unread_only: bool = True
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    offset: Annotated[int, Field(ge=0, le=INT64_MAX)] = 0
    after: MessageId | None = None  # 1.0's cursor: the messages stored after this one, oldest first


class MessageRef(Request):
    message_id: MessageId


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


class AgentRef(Request):
    agent_id: AgentId | None = None


class Empty(Request):
    pass


__all__ = ["AdminPage"]


class Events(Request):
    # stream sequence; default: the agent's acknowledged cursor (and events acknowledged by id are skipped)
    after: Annotated[int, Field(ge=0, le=INT64_MAX)] | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 100
    wait: Annotated[float, Field(ge=0, le=30)] = 0  # long poll: seconds to wait for the first event
    types: Annotated[Text, StringConstraints(max_length=512)] | None = None  # comma-separated filter
    event_type: Annotated[Text, StringConstraints(max_length=64)] | None = None  # 1.0's one-type filter


class Ack(Request):
    """Our stream cursor, 1.0's event ids, or both."""

    cursor: Annotated[int, Field(ge=0, le=INT64_MAX)] | None = None
    event_ids: Annotated[
        list[Annotated[Text, StringConstraints(min_length=1, max_length=64)]] | None,
        Field(max_length=1000, validate_default=True),
    ] = None

    @field_validator("event_ids", mode="after")
    @classmethod
    def _one_of_them(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if value is None and info.data.get("cursor") is None:
            raise PydanticCustomError("missing", "Field required")
        return value


class DeadLetters(Request):
    limit: Annotated[int, Field(ge=1, le=200)] = 50


class PushedHop(Request):
    """A gateway's report: it wrote a message to the recipient's sockets."""

    message_id: MessageId
    gateway: Annotated[Text, StringConstraints(max_length=128)]
    sockets: Annotated[int, Field(ge=0, le=INT64_MAX)]
    at: float  # Unix seconds


# ── pub/sub (MoltGrid 1.0) ──────────────────────────────────────────────────
MAX_PUBLICATION = 50_000  # 1.0's limit; any JSON value, not only strings
PubSubChannel = Annotated[Text, StringConstraints(min_length=1, max_length=128)]


class Subscribe(Request):
    channel: PubSubChannel


class Publish(Request):
    channel: PubSubChannel
    payload: Annotated[Any, bounded_json(MAX_PUBLICATION, "payload")]


class Channels(Request):
    limit: Annotated[int, Field(ge=1, le=1000)] = 200
