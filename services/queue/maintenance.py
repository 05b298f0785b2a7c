"""SQL outside a job's hot path: the lease sweep, dead letters, per-queue stats, counts, purges, admin views."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.queue.store import as_utc
from shared.events import add_event
from shared.timeutil import iso

# Lapsed leases go back to pending at once (the worker died; nothing to wait for), or to the dead letters
# when that claim was the last attempt. SKIP LOCKED: replicas sweeping together split the work.
SWEEP = """
WITH lapsed AS (SELECT job_id FROM queue.jobs WHERE status = 'processing' AND lease_expires_at <= now()
                 ORDER BY lease_expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)
UPDATE queue.jobs j
   SET status = CASE WHEN j.attempts >= j.max_attempts THEN 'dead_letter' ELSE 'pending' END,
       dead_at = CASE WHEN j.attempts >= j.max_attempts THEN now() END,
       available_at = now(), lease_expires_at = NULL,
       last_error = 'lease expired (attempt ' || j.attempts || ')'
  FROM lapsed WHERE j.job_id = lapsed.job_id
RETURNING j.job_id, j.agent_id, j.queue_name, j.status, j.attempts, j.last_error"""

FILTER = """agent_id = $1 AND status = 'dead_letter' AND ($2::text IS NULL OR queue_name = $2)
            AND ($3::timestamptz IS NULL OR dead_at >= $3) AND ($4::timestamptz IS NULL OR dead_at < $4)"""

STATS = """
SELECT queue_name,
       count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE status = 'pending' AND available_at > now()) AS delayed,
       count(*) FILTER (WHERE status = 'processing') AS processing,
       count(*) FILTER (WHERE status = 'completed') AS completed,
       count(*) FILTER (WHERE status = 'dead_letter') AS dead_letter,
       extract(epoch FROM now() - min(created_at) FILTER (WHERE status = 'pending' AND available_at <= now()))
           AS oldest_pending_age_seconds
  FROM queue.jobs WHERE agent_id = $1 AND ($2::text IS NULL OR queue_name = $2)
 GROUP BY queue_name ORDER BY queue_name"""


class Maintenance:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def sweep_leases(self, batch: int = 500) -> list[asyncpg.Record]:
        """Return lapsed leases to pending (or dead-letter them) and record their events; returns the rows."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(SWEEP, batch)
            for r in rows:
                if r["status"] == "dead_letter":
                    await add_event(
                        conn,
                        "queue",
                        r["agent_id"],
                        "job.dead_lettered",
                        {
                            "job_id": r["job_id"],
                            "queue_name": r["queue_name"],
                            "status": "dead_letter",
                            "attempt": r["attempts"],
                            "error": r["last_error"],
                        },
                    )
        return rows

    async def dead_letters(
        self,
        agent_id: str,
        queue_name: str | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            f"SELECT job_id, queue_name, priority, attempts, max_attempts, last_error, created_at, dead_at"
            f" FROM queue.jobs WHERE {FILTER} ORDER BY dead_at DESC, job_id LIMIT $5 OFFSET $6",
            agent_id,
            queue_name,
            as_utc(since),
            as_utc(until),
            limit,
            offset,
        )
        return [
            {
                "job_id": r["job_id"],
                "queue_name": r["queue_name"],
                "status": "dead_letter",
                "priority": r["priority"],
                "attempts": r["attempts"],
                "max_attempts": r["max_attempts"],
                "last_error": r["last_error"],
                "created_at": iso(r["created_at"]),
                "dead_lettered_at": iso(r["dead_at"]),
            }
            for r in rows
        ]

    async def replay(self, agent_id: str, job_id: str) -> str | None:
        """Dead letter → pending with a fresh attempt budget; returns the status found (None: no such job)."""
        row = await self.pool.fetchrow(
            "WITH cur AS (SELECT job_id, status FROM queue.jobs WHERE job_id = $1 AND agent_id = $2 FOR UPDATE),"
            " upd AS (UPDATE queue.jobs j SET status = 'pending', attempts = 0, available_at = now(), dead_at = NULL"
            "          FROM cur WHERE j.job_id = cur.job_id AND cur.status = 'dead_letter' RETURNING j.job_id)"
            " SELECT cur.status FROM cur",
            job_id,
            agent_id,
        )
        return None if row is None else row["status"]

    async def replay_many(
        self,
        agent_id: str,
        queue_name: str | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
    ) -> int:
        status = await self.pool.execute(
            f"UPDATE queue.jobs SET status = 'pending', attempts = 0, available_at = now(), dead_at = NULL"
            f" WHERE job_id = ANY(ARRAY(SELECT job_id FROM queue.jobs WHERE {FILTER}"
            f" ORDER BY dead_at LIMIT $5 FOR UPDATE SKIP LOCKED))",
            agent_id,
            queue_name,
            as_utc(since),
            as_utc(until),
            limit,
        )
        return int(status.split()[-1])

    async def purge_dead_letters(
        self, agent_id: str, queue_name: str | None, since: datetime | None, until: datetime | None
    ) -> int:
        status = await self.pool.execute(
            f"DELETE FROM queue.jobs WHERE {FILTER}", agent_id, queue_name, as_utc(since), as_utc(until)
        )
        return int(status.split()[-1])

    async def stats(self, agent_id: str, queue_name: str | None) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(STATS, agent_id, queue_name)
        return [
            {
                **dict(r),
                "oldest_pending_age_seconds": None
                if r["oldest_pending_age_seconds"] is None
                else round(float(r["oldest_pending_age_seconds"]), 3),
            }
            for r in rows
        ]

    async def total_jobs(self) -> int:
        return int(await self.pool.fetchval("SELECT count(*) FROM queue.jobs"))

    async def jobs_of(self, agent_id: str) -> int:
        return int(await self.pool.fetchval("SELECT count(*) FROM queue.jobs WHERE agent_id = $1", agent_id))

    async def purge_agent(self, agent_id: str) -> int:
        status = await self.pool.execute("DELETE FROM queue.jobs WHERE agent_id = $1", agent_id)
        return int(status.split()[-1])

    async def admin_jobs(
        self, agent_id: str | None, status: str | None, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        where = "($1::text IS NULL OR agent_id = $1) AND ($2::text IS NULL OR status = $2)"
        rows = await self.pool.fetch(
            f"SELECT job_id, agent_id, queue_name, status, priority, attempts, max_attempts, length(payload) AS size,"
            f" created_at, started_at, completed_at, dead_at, last_error FROM queue.jobs WHERE {where}"
            f" ORDER BY created_at DESC LIMIT $3 OFFSET $4",
            agent_id,
            status,
            limit,
            offset,
        )
        total = await self.pool.fetchval(f"SELECT count(*) FROM queue.jobs WHERE {where}", agent_id, status)
        items = [
            {
                **{
                    k: r[k]
                    for k in (
                        "job_id",
                        "agent_id",
                        "queue_name",
                        "status",
                        "priority",
                        "attempts",
                        "max_attempts",
                        "last_error",
                    )
                },
                **{k: iso(r[k]) for k in ("created_at", "started_at", "completed_at")},
                "dead_lettered_at": iso(r["dead_at"]),
                "payload_chars": r["size"],
            }
            for r in rows
        ]
        return items, int(total)
