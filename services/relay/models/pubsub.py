"""Pub/sub: subscribing to channel patterns, publishing to a channel, listing channels."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from shared.models import Request, Text, bounded_json

MAX_PUBLICATION = 50_000  # 1.0's limit; any JSON value, not only strings
PubSubChannel = Annotated[Text, StringConstraints(min_length=1, max_length=128)]


class Subscribe(Request):
    channel: PubSubChannel


class Publish(Request):
    channel: PubSubChannel
    payload: Annotated[Any, bounded_json(MAX_PUBLICATION, "payload")]


class Channels(Request):
    limit: Annotated[int, Field(ge=1, le=1000)] = 200
