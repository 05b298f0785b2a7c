"""Events for agents without inbound HTTP: read an agent's events from JetStream by stream sequence
(the cursor), optionally waiting for the first one (long poll); acknowledged cursors are kept here."""
from __future__ import annotations

from typing import Any

import asyncpg
import orjson
from nats.js import JetStreamContext

from shared import subjects
from shared.events import follow


async def read_events(js: JetStreamContext, agent_id: str, after: int, limit: int, wait: float,
                      types: set[str] | None) -> list[dict[str, Any]]:
    """Events of `agent_id` with stream sequence > after (oldest first), each with its `cursor`."""
    out: list[dict[str, Any]] = []
    sub = await follow(js, subjects.agent_events(agent_id), after_seq=after)
    try:
        idle = max(wait, 0.05)
        while len(out) < limit:
            try:
                msg = await sub.next_msg(timeout=idle)
            except Exception:  # nothing more right now
                break
            idle = 0.05  # after the first event, collect only what is already there
            event = orjson.loads(msg.data)
            if types and event.get("type") not in types:
                continue
            out.append({"cursor": msg.metadata.sequence.stream, **event})
    finally:
        await sub.unsubscribe()
    return out


async def acked_cursor(pool: asyncpg.Pool, agent_id: str) -> int:
    return int(await pool.fetchval("SELECT cursor FROM relay.event_cursors WHERE agent_id = $1", agent_id) or 0)


async def ack(pool: asyncpg.Pool, agent_id: str, cursor: int) -> None:
    await pool.execute(
        "INSERT INTO relay.event_cursors (agent_id, cursor) VALUES ($1, $2) ON CONFLICT (agent_id)"
        " DO UPDATE SET cursor = greatest(relay.event_cursors.cursor, EXCLUDED.cursor), updated_at = now()",
        agent_id, cursor)

