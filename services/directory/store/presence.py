"""Presence: the last heartbeat of each agent (directory.presence) and the agent.offline transition.

An agent is `offline` once its last heartbeat is older than the timeout (or it said so); `unknown` until
its first heartbeat. The transition is decided in Postgres: the row is locked (SKIP LOCKED for the sweep)
and `offline_at` set only where it is still null, in the same transaction as the event's outbox row, so
`agent.offline` is written exactly once per silence. A heartbeat arriving after the timeout but before any
sweep writes the missed event itself, first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import orjson

from services.directory.store.rows import domain_errors
from shared.crypto import Cipher
from shared.events import add_event
from shared.timeutil import iso

OFFLINE_EVENT = "agent.offline"
SWEEP_BATCH = 500

# The status shown for an agent: what it last said, unless it is silent past the timeout ($1 seconds).
EFFECTIVE = (
    "CASE WHEN p.agent_id IS NULL THEN 'unknown'"
    " WHEN p.offline_at IS NOT NULL OR p.heartbeat_at < now() - make_interval(secs => $1) THEN 'offline'"
    " ELSE p.status END"
)
SILENT = """
WITH due AS (SELECT agent_id FROM directory.presence
              WHERE offline_at IS NULL AND heartbeat_at < now() - make_interval(secs => $1)
              ORDER BY heartbeat_at LIMIT $2 FOR UPDATE SKIP LOCKED)
UPDATE directory.presence p SET offline_at = now() FROM due WHERE p.agent_id = due.agent_id AND p.offline_at IS NULL
RETURNING p.agent_id, p.status, p.heartbeat_at, p.offline_at
"""
UPSERT = """
INSERT INTO directory.presence AS p (agent_id, status, metadata, heartbeat_at, offline_at)
VALUES ($1, $2, $3, now(), CASE WHEN $2 = 'offline' THEN now() END)
ON CONFLICT (agent_id) DO UPDATE SET status = EXCLUDED.status, metadata = EXCLUDED.metadata,
    heartbeat_at = EXCLUDED.heartbeat_at,
    offline_at = CASE WHEN EXCLUDED.status = 'offline' THEN coalesce(p.offline_at, now()) END
RETURNING heartbeat_at
"""


def offline_data(row: asyncpg.Record, reason: str) -> dict[str, Any]:
    return {
        "agent_id": row["agent_id"],
        "last_status": row["status"],
        "last_heartbeat_at": iso(row["heartbeat_at"]),
        "offline_at": iso(row["offline_at"]),
        "reason": reason,
    }


class PresenceStore:
    def __init__(self, pool: asyncpg.Pool, cipher: Cipher, timeout_s: float) -> None:
        self._pool, self._cipher, self.timeout_s = pool, cipher, timeout_s

    async def beat(self, agent_id: str, status: str, metadata: bytes | None) -> tuple[str | None, bool]:
        """Record a heartbeat; returns (its time, whether an agent.offline event was written)."""
        sealed = self._cipher.encrypt(metadata.decode()) if metadata is not None else None
        emitted = False
        with domain_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                prev = await conn.fetchrow(
                    "SELECT agent_id, status, heartbeat_at, offline_at,"
                    " heartbeat_at < now() - make_interval(secs => $2) AS timed_out"
                    " FROM directory.presence WHERE agent_id = $1 FOR UPDATE",
                    agent_id,
                    self.timeout_s,
                )
                live = prev is not None and prev["offline_at"] is None
                if live and prev["timed_out"]:  # silent past the timeout, and no sweep got to it yet
                    row = await conn.fetchrow(
                        "UPDATE directory.presence SET offline_at = now() WHERE agent_id = $1"
                        " RETURNING agent_id, status, heartbeat_at, offline_at",
                        agent_id,
                    )
                    await add_event(conn, "directory", agent_id, OFFLINE_EVENT, offline_data(row, "timeout"))
                    live, emitted = False, True
                beat_at = await conn.fetchval(UPSERT, agent_id, status, sealed)
                if live and status == "offline":
                    row = await conn.fetchrow(
                        "SELECT agent_id, status, heartbeat_at, offline_at"
                        " FROM directory.presence WHERE agent_id = $1",
                        agent_id,
                    )
                    await add_event(conn, "directory", agent_id, OFFLINE_EVENT, offline_data(row, "reported"))
                    emitted = True
        return iso(beat_at), emitted

    async def sweep_batch(self) -> int:
        """Declare up to SWEEP_BATCH agents silent past the timeout offline, each with its event."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(SILENT, self.timeout_s, SWEEP_BATCH)
            for row in rows:
                await add_event(
                    conn, "directory", row["agent_id"], OFFLINE_EVENT, offline_data(row, "timeout")
                )
        return len(rows)

    async def statuses(self, agent_ids: list[str]) -> dict[str, str]:
        """The shown status of each agent (`unknown` before its first heartbeat)."""
        rows = await self._pool.fetch(
            f"SELECT a.agent_id, {EFFECTIVE} AS status FROM unnest($2::text[]) AS a(agent_id)"
            " LEFT JOIN directory.presence p ON p.agent_id = a.agent_id",
            self.timeout_s,
            agent_ids,
        )
        return {r["agent_id"]: r["status"] for r in rows}

    async def fill(self, agents: list[dict[str, Any]], key: str = "agent_id") -> None:
        """Add `heartbeat_status` to each listed agent, in place."""
        if agents:
            found = await self.statuses([a[key] for a in agents])
            for agent in agents:
                agent["heartbeat_status"] = found.get(agent[key], "unknown")

    async def own(self, agent_id: str) -> dict[str, Any]:
        """The agent's own presence, metadata included (shown only to itself)."""
        r = await self._pool.fetchrow(
            f"SELECT {EFFECTIVE} AS status, p.heartbeat_at, p.metadata FROM (SELECT $2::text AS agent_id) a"
            " LEFT JOIN directory.presence p ON p.agent_id = a.agent_id",
            self.timeout_s,
            agent_id,
        )
        return {
            "heartbeat_status": r["status"],
            "heartbeat_at": iso(r["heartbeat_at"]),
            "heartbeat_metadata": orjson.loads(self._cipher.decrypt(r["metadata"]))
            if r["metadata"]
            else None,
        }

    async def last_beat(self, agent_id: str) -> datetime | None:
        """When the agent last beat (a datetime), or None."""
        beat: datetime | None = await self._pool.fetchval(
            "SELECT heartbeat_at FROM directory.presence WHERE agent_id = $1", agent_id
        )
        return beat

    async def online_count(self) -> int:
        return int(
            await self._pool.fetchval(
                "SELECT count(*) FROM directory.presence p JOIN directory.agents a USING (agent_id) WHERE a.public"
                " AND p.offline_at IS NULL AND p.status <> 'offline'"
                " AND p.heartbeat_at >= now() - make_interval(secs => $1)",
                self.timeout_s,
            )
        )
