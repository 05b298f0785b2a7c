"""What agents acknowledged on their event stream (schema `relay`: event_cursors, acked_events): the cursor
up to which everything is acknowledged, and single events acknowledged by id.

Ids acknowledged one by one are bookkeeping, not data: an agent keeps at most `max_ids` of them (the newest;
a request carries at most 1,000, see models/events.py), trimmed in the acknowledging transaction under a
per-agent advisory lock, and none older than the 7 days the stream keeps events. An id trimmed away can only
make its event reappear in a backlog read; the cursor acknowledges any number of events in one row."""

from __future__ import annotations

import asyncpg

from services.relay.stores.errors import affected


class EventAckStore:
    def __init__(self, pool: asyncpg.Pool, max_ids: int = 0) -> None:
        self.pool, self.max_ids = pool, max_ids

    async def cursor(self, agent_id: str) -> int:
        return int(
            await self.pool.fetchval("SELECT cursor FROM relay.event_cursors WHERE agent_id = $1", agent_id)
            or 0
        )

    async def ack_cursor(self, agent_id: str, cursor: int) -> None:
        await self.pool.execute(
            "INSERT INTO relay.event_cursors (agent_id, cursor) VALUES ($1, $2) ON CONFLICT (agent_id)"
            " DO UPDATE SET cursor = greatest(relay.event_cursors.cursor, EXCLUDED.cursor), updated_at = now()",
            agent_id,
            cursor,
        )

    async def ack_ids(self, agent_id: str, event_ids: list[str]) -> int:
        """Record events acknowledged by id (1.0); returns how many were not acknowledged before. Ids older
        than the stream keeps events are dropped on the way."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('acks:' || $1))", agent_id)
            await conn.execute(
                "DELETE FROM relay.acked_events WHERE agent_id = $1 AND acked_at < now() - interval '7 days'",
                agent_id,
            )
            status = await conn.execute(
                "INSERT INTO relay.acked_events (agent_id, event_id) SELECT $1, unnest($2::text[])"
                " ON CONFLICT DO NOTHING",
                agent_id,
                list(dict.fromkeys(event_ids)),
            )
            if self.max_ids:
                await conn.execute(
                    "DELETE FROM relay.acked_events WHERE agent_id = $1 AND event_id IN (SELECT event_id"
                    " FROM relay.acked_events WHERE agent_id = $1 ORDER BY acked_at DESC, event_id OFFSET $2)",
                    agent_id,
                    self.max_ids,
                )
        return affected(status)

    async def acked_among(self, agent_id: str, event_ids: list[str]) -> set[str]:
        rows = await self.pool.fetch(
            "SELECT event_id FROM relay.acked_events WHERE agent_id = $1 AND event_id = ANY($2::text[])",
            agent_id,
            event_ids,
        )
        return {r["event_id"] for r in rows}

    async def purge_agent(self, conn: asyncpg.Connection, agent_id: str) -> int:
        """Inside the relay's purge transaction: the agent's acknowledgements (ids and cursor)."""
        ids = affected(await conn.execute("DELETE FROM relay.acked_events WHERE agent_id = $1", agent_id))
        return ids + affected(
            await conn.execute("DELETE FROM relay.event_cursors WHERE agent_id = $1", agent_id)
        )
