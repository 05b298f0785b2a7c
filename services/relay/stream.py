"""Events for agents without inbound HTTP: read an agent's events from JetStream by stream sequence (the
cursor), optionally waiting for the first one (long poll). What was acknowledged is the EventAckStore's.

Each item is the envelope (`type` is the name the event is published and sent to webhooks under) plus the
field names 1.0's clients read, where `event_type` is 1.0's name for the same fact (docs/events.md has the
table): `relay_message` for `message.received`, `memory_changed` for `memory.changed`, and so on; a type
1.0 has no name for keeps its own. A type filter matches either name."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from nats.js import JetStreamContext

from shared import subjects
from shared.event_names import client_name, client_payload
from shared.events import follow

Acknowledged = Callable[[list[str]], Awaitable[set[str]]]


def matches(event: dict[str, Any], types: set[str]) -> bool:
    return event.get("type") in types or client_name(event) in types


def item(cursor: int, event: dict[str, Any]) -> dict[str, Any]:
    """An event as GET /v1/events lists it: the envelope with its cursor, plus 1.0's field names."""
    return {
        "cursor": cursor,
        **event,
        "event_id": event.get("id"),
        "event_type": client_name(event),
        "payload": client_payload(event),
        "created_at": event.get("time"),
    }


async def read_events(
    js: JetStreamContext,
    agent_id: str,
    after: int,
    limit: int,
    wait: float,
    types: set[str] | None,
    acknowledged: Acknowledged | None = None,
) -> list[dict[str, Any]]:
    """Events of `agent_id` with stream sequence > after (oldest first), each with its `cursor`; those whose
    ids `acknowledged` names are left out (checked in batches, one query each)."""
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + wait
    sub = await follow(js, subjects.agent_events(agent_id), after_seq=after)
    try:
        more = True
        while more and len(out) < limit:
            batch: list[dict[str, Any]] = []
            while len(batch) < limit - len(out):
                # until the first event to return: wait (long poll); then collect only what is already there
                idle = 0.05 if out or batch else max(0.05, deadline - time.monotonic())
                try:
                    msg = await sub.next_msg(timeout=idle)
                except Exception:  # nothing more right now
                    more = False
                    break
                event = orjson.loads(msg.data)
                if types and not matches(event, types):
                    continue
                batch.append(item(msg.metadata.sequence.stream, event))
            if batch and acknowledged is not None:
                done = await acknowledged([e["id"] for e in batch])
                batch = [e for e in batch if e["id"] not in done]
            out.extend(batch)
    finally:
        await sub.unsubscribe()
    return out
