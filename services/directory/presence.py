"""Presence: heartbeats, and the agent.offline event of an agent that stopped beating.

An agent is `offline` once its last heartbeat is older than MOLTGRID_PRESENCE_TIMEOUT_SECONDS (or it said so);
`unknown` until its first heartbeat. Every directory replica sweeps for silent agents, but the transition is
decided in Postgres: the row is locked (SKIP LOCKED) and `offline_at` set only where it is still null, in
the same transaction as the event's outbox row, so `agent.offline` is written exactly once per silence. A
heartbeat arriving after the timeout but before any sweep writes the missed event itself, first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import asyncpg
import orjson

from shared.bus import Ctx, Op
from shared.crypto import Cipher
from shared.errors import BadRequest, NotFound
from shared.events import add_event
from shared.models import Request
from shared.timeutil import iso

OFFLINE_EVENT = "agent.offline"
MAX_METADATA = 4096  # bytes of JSON, as MoltGrid 1.0
SWEEP_BATCH = 500
Status = Literal["online", "busy", "idle", "offline"]

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


class Heartbeat(Request):
    status: Status = "online"
    metadata: dict[str, Any] | None = None  # at most MAX_METADATA bytes of JSON (400 beyond, as 1.0)


def offline_data(row: asyncpg.Record, reason: str) -> dict[str, Any]:
    return {
        "agent_id": row["agent_id"],
        "last_status": row["status"],
        "last_heartbeat_at": iso(row["heartbeat_at"]),
        "offline_at": iso(row["offline_at"]),
        "reason": reason,
    }


class Presence:
    def __init__(
        self, pool: asyncpg.Pool, cipher: Cipher, timeout_s: float, kick: Callable[[], None]
    ) -> None:
        self.pool, self.cipher, self.timeout_s, self.kick = pool, cipher, timeout_s, kick

    async def heartbeat(self, req: Heartbeat, ctx: Ctx) -> dict[str, Any]:
        agent_id = ctx.require_agent()
        raw = orjson.dumps(req.metadata) if req.metadata is not None else None
        if raw is not None and len(raw) > MAX_METADATA:
            raise BadRequest("metadata exceeds 4KB limit")
        metadata = self.cipher.encrypt(raw.decode()) if raw is not None else None
        emitted = False
        try:
            async with self.pool.acquire() as conn, conn.transaction():
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
                beat_at = await conn.fetchval(UPSERT, agent_id, req.status, metadata)
                if live and req.status == "offline":
                    row = await conn.fetchrow(
                        "SELECT agent_id, status, heartbeat_at, offline_at"
                        " FROM directory.presence WHERE agent_id = $1",
                        agent_id,
                    )
                    await add_event(conn, "directory", agent_id, OFFLINE_EVENT, offline_data(row, "reported"))
                    emitted = True
        except asyncpg.ForeignKeyViolationError:
            raise NotFound("Agent not found") from None
        if emitted:
            self.kick()
        return {"agent_id": agent_id, "status": req.status, "heartbeat_at": iso(beat_at)}

    async def sweep(self) -> int:
        """Declare every agent silent past the timeout offline, with its event (any replica, exactly once)."""
        total = 0
        while True:
            async with self.pool.acquire() as conn, conn.transaction():
                rows = await conn.fetch(SILENT, self.timeout_s, SWEEP_BATCH)
                for row in rows:
                    await add_event(
                        conn, "directory", row["agent_id"], OFFLINE_EVENT, offline_data(row, "timeout")
                    )
            total += len(rows)
            if rows:
                self.kick()
            if len(rows) < SWEEP_BATCH:
                return total

    async def statuses(self, agent_ids: list[str]) -> dict[str, str]:
        """The shown status of each agent (`unknown` before its first heartbeat)."""
        rows = await self.pool.fetch(
            f"SELECT a.agent_id, {EFFECTIVE} AS status FROM unnest($2::text[]) AS a(agent_id)"
            " LEFT JOIN directory.presence p ON p.agent_id = a.agent_id",
            self.timeout_s,
            agent_ids,
        )
        return {r["agent_id"]: r["status"] for r in rows}

    async def own(self, agent_id: str) -> dict[str, Any]:
        """The agent's own presence, metadata included (shown only to itself)."""
        r = await self.pool.fetchrow(
            f"SELECT {EFFECTIVE} AS status, p.heartbeat_at, p.metadata FROM (SELECT $2::text AS agent_id) a"
            " LEFT JOIN directory.presence p ON p.agent_id = a.agent_id",
            self.timeout_s,
            agent_id,
        )
        return {
            "heartbeat_status": r["status"],
            "heartbeat_at": iso(r["heartbeat_at"]),
            "heartbeat_metadata": orjson.loads(self.cipher.decrypt(r["metadata"])) if r["metadata"] else None,
        }

    async def fill(self, agents: list[dict[str, Any]], key: str = "agent_id") -> None:
        """Add `heartbeat_status` to each listed agent, in place."""
        if agents:
            found = await self.statuses([a[key] for a in agents])
            for agent in agents:
                agent["heartbeat_status"] = found.get(agent[key], "unknown")

    async def online_count(self) -> int:
        return int(
            await self.pool.fetchval(
                "SELECT count(*) FROM directory.presence p JOIN directory.agents a USING (agent_id) WHERE a.public"
                " AND p.offline_at IS NULL AND p.status <> 'offline' AND p.heartbeat_at >= now() - make_interval(secs => $1)",
                self.timeout_s,
            )
        )

    def ops(self) -> dict[str, Op]:
        return {"heartbeat": Op(self.heartbeat, Heartbeat)}
