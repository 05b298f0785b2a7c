"""Messages: sending, the inbox, read marks, status and trace, and gateways' push reports."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from shared.models import INT64_MAX, AgentId, Request, Text, bounded_json

MAX_PAYLOAD = 10_000
Channel = Annotated[Text, StringConstraints(min_length=1, max_length=64)]
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


class DeadLetters(Request):
    limit: Annotated[int, Field(ge=1, le=200)] = 50


class PushedHop(Request):
    """A gateway's report: it wrote a message to the recipient's sockets."""

    message_id: MessageId
    gateway: Annotated[Text, StringConstraints(max_length=128)]
    sockets: Annotated[int, Field(ge=0, le=INT64_MAX)]
    at: float  # Unix seconds
