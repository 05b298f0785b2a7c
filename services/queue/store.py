"""All SQL of the jobs table (`queue.jobs` and its outbox): a job's life (submit, claim, heartbeat, complete,
fail), the lease sweep, dead letters, per-queue stats, counts, the agent purge and the admin view. One
statement per hot operation.

A claim is a lease: it sets status 'processing', bumps `attempts` (the lease number handed to the worker)
and sets `lease_expires_at`. Complete, fail and heartbeat succeed only while that lease is live and, when the
worker passes `attempt`, only for that lease, so a job is never completed twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from services.queue import models as m
from services.queue.retry import backoff_seconds
from shared import subjects
from shared.crypto import Cipher
from shared.errors import Conflict, NotFound
from shared.events import add_event, make_event, outbox_body
from shared.ids import new_id
from shared.timeutil import iso

NOT_PROCESSING = "Job not found or not in processing state"


@dataclass(frozen=True, slots=True)
class Defaults:
    """Per-job defaults a submit may override (settings: MOLTGRID_QUEUE_*)."""

    visibility_timeout: int = 300
    max_attempts: int = 3
    backoff_base: float = 1.0
    backoff_max: float = 300.0


SUBMIT = """
INSERT INTO queue.jobs (job_id, agent_id, queue_name, payload, priority, max_attempts, lease_seconds,
                        backoff_base, backoff_max, available_at, dedup_key)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, coalesce($10::timestamptz, now() + make_interval(secs => $11)), $12)
ON CONFLICT (agent_id, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
RETURNING job_id, status, queue_name, available_at > now() AS delayed, available_at"""

CLAIM = """
UPDATE queue.jobs SET status = 'processing', attempts = attempts + 1, started_at = now(),
       lease_expires_at = now() + make_interval(secs => coalesce($3::int, lease_seconds))
 WHERE job_id = (SELECT job_id FROM queue.jobs
                  WHERE agent_id = $1 AND queue_name = $2 AND status = 'pending' AND available_at <= now()
                  ORDER BY priority DESC, available_at LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING job_id, payload, priority, attempts, max_attempts, lease_expires_at, progress"""

# The lookup, the update and the job.completed outbox row in one round trip.
COMPLETE = """
WITH cur AS (SELECT job_id, status, attempts, lease_expires_at > now() AS live FROM queue.jobs
              WHERE job_id = $1 AND agent_id = $2 FOR UPDATE),
done AS (UPDATE queue.jobs j SET status = 'completed', completed_at = now(), result = $3, lease_expires_at = NULL
           FROM cur WHERE j.job_id = cur.job_id AND cur.status = 'processing' AND cur.live
            AND ($4::int IS NULL OR cur.attempts = $4)
         RETURNING j.queue_name),
ev AS (INSERT INTO queue.outbox (event_id, subject, body)
       SELECT $5, $6, jsonb_set($7::jsonb, '{data,queue_name}', to_jsonb(done.queue_name)) FROM done)
SELECT cur.status, cur.attempts, cur.live, EXISTS (SELECT 1 FROM done) AS done FROM cur"""

HEARTBEAT = """
UPDATE queue.jobs SET lease_expires_at = now() + make_interval(secs => coalesce($3::int, lease_seconds)),
       progress = coalesce($4, progress)
 WHERE job_id = $1 AND agent_id = $2 AND status = 'processing' AND lease_expires_at > now()
   AND ($5::int IS NULL OR attempts = $5)
RETURNING attempts, lease_expires_at"""

LEASE_STATE = """SELECT status, attempts, lease_expires_at > now() AS live FROM queue.jobs
                  WHERE job_id = $1 AND agent_id = $2"""

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


GET = """SELECT job_id, status, queue_name, priority, created_at, started_at, completed_at, result, attempts,
                max_attempts, available_at, lease_expires_at, dead_at, last_error, progress
           FROM queue.jobs WHERE job_id = $1 AND agent_id = $2"""


def refuse(row: asyncpg.Record | None, attempt: int | None) -> None:
    """Why a lease-bound operation did not apply: 404 (seed wording) or 409 (the caller's lease is gone)."""
    if row is None or (attempt is None and row["status"] != "processing"):
        raise NotFound(NOT_PROCESSING)
    if attempt is not None and (row["attempts"] != attempt or row["status"] != "processing"):
        raise Conflict(f"Lease lost: the job is {row['status']} and its current attempt is {row['attempts']}")
    raise Conflict("Lease expired: the job may have been claimed again")


class JobStore:
    def __init__(self, pool: asyncpg.Pool, cipher: Cipher, defaults: Defaults) -> None:
        self.pool, self.cipher, self.defaults = pool, cipher, defaults

    def dump(self, value: Any) -> str:
        return self.cipher.encrypt(orjson.dumps(value).decode())

    def load(self, stored: str | None) -> Any:
        return None if stored is None else orjson.loads(self.cipher.decrypt(stored))

    async def submit(self, agent_id: str, req: m.Submit) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            return await self._submit(conn, agent_id, req)

    async def submit_batch(self, agent_id: str, items: list[m.Submit]) -> list[dict[str, Any]]:
        """Every job of a batch in one transaction: all are stored, or none (a failure rolls back the lot)."""
        async with self.pool.acquire() as conn, conn.transaction():
            return [await self._submit(conn, agent_id, item) for item in items]

    async def _submit(self, conn: asyncpg.Connection, agent_id: str, req: m.Submit) -> dict[str, Any]:
        d = self.defaults
        row = await conn.fetchrow(
            SUBMIT,
            new_id("job", 16),
            agent_id,
            req.queue_name,
            self.dump(req.payload),
            req.priority,
            req.max_attempts or d.max_attempts,
            req.visibility_timeout or d.visibility_timeout,
            d.backoff_base if req.backoff_base_seconds is None else req.backoff_base_seconds,
            d.backoff_max if req.backoff_max_seconds is None else req.backoff_max_seconds,
            as_utc(req.run_at),
            float(req.delay_seconds or 0),
            req.dedup_key,
        )
        extra: dict[str, Any] = {}
        if row is None:  # the dedup key names a job submitted before (possibly concurrently)
            row = await conn.fetchrow(
                "SELECT job_id, status, queue_name, available_at > now() AS delayed, available_at FROM queue.jobs"
                " WHERE agent_id = $1 AND dedup_key = $2",
                agent_id,
                req.dedup_key,
            )
            if row is None:  # purged between the two statements: submit afresh
                return await self._submit(conn, agent_id, req)
            extra["deduplicated"] = True
        if row["delayed"]:
            extra["available_at"] = iso(row["available_at"])
        return {"job_id": row["job_id"], "status": row["status"], "queue_name": row["queue_name"], **extra}

    async def claim(self, agent_id: str, queue_name: str, lease: int | None) -> dict[str, Any] | None:
        row = await self.pool.fetchrow(CLAIM, agent_id, queue_name, lease)
        if row is None:
            return None
        return {
            "job_id": row["job_id"],
            "payload": self.load(row["payload"]),
            "priority": row["priority"],
            "queue_name": queue_name,
            "attempt": row["attempts"],
            "max_attempts": row["max_attempts"],
            "lease_expires_at": iso(row["lease_expires_at"]),
            "progress": self.load(row["progress"]),
        }

    async def complete(self, agent_id: str, job_id: str, result: Any, attempt: int | None) -> None:
        event = make_event(
            agent_id,
            "job.completed",
            {"job_id": job_id, "queue_name": None, "status": "completed", "result": result},
        )
        row = await self.pool.fetchrow(
            COMPLETE,
            job_id,
            agent_id,
            self.dump(result),
            attempt,
            event["id"],
            subjects.event(agent_id, "job.completed"),
            outbox_body(event),
        )
        if row is None or not row["done"]:
            refuse(row, attempt)

    async def heartbeat(self, agent_id: str, req: m.Heartbeat) -> dict[str, Any]:
        progress = None if req.progress is None else self.dump(req.progress)
        row = await self.pool.fetchrow(
            HEARTBEAT, req.job_id, agent_id, req.extend_seconds, progress, req.attempt
        )
        if row is None:
            refuse(await self.pool.fetchrow(LEASE_STATE, req.job_id, agent_id), req.attempt)
        return {
            "job_id": req.job_id,
            "status": "processing",
            "attempt": row["attempts"],
            "lease_expires_at": iso(row["lease_expires_at"]),
        }

    async def fail(self, agent_id: str, req: m.Fail) -> dict[str, Any]:
        """Retry later (backoff with full jitter) while attempts remain and the error is retryable; else dead-letter."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT status, attempts, max_attempts, backoff_base, backoff_max, queue_name,"
                " lease_expires_at > now() AS live FROM queue.jobs WHERE job_id = $1 AND agent_id = $2 FOR UPDATE",
                req.job_id,
                agent_id,
            )
            if (
                row is None
                or row["status"] != "processing"
                or not row["live"]
                or (req.attempt is not None and req.attempt != row["attempts"])
            ):
                refuse(row, req.attempt)
            retry = req.retryable and row["attempts"] < row["max_attempts"]
            data = {
                "job_id": req.job_id,
                "queue_name": row["queue_name"],
                "attempt": row["attempts"],
                "error": req.error,
            }
            if retry:
                delay = backoff_seconds(row["attempts"], row["backoff_base"], row["backoff_max"])
                retry_at = await conn.fetchval(
                    "UPDATE queue.jobs SET status = 'pending', available_at = now() + make_interval(secs => $3),"
                    " lease_expires_at = NULL, last_error = $4 WHERE job_id = $1 AND agent_id = $2"
                    " RETURNING available_at",
                    req.job_id,
                    agent_id,
                    delay,
                    req.error,
                )
                await add_event(
                    conn,
                    "queue",
                    agent_id,
                    "job.failed",
                    {**data, "status": "pending", "retry_at": iso(retry_at)},
                )
                return {
                    "job_id": req.job_id,
                    "status": "pending",
                    "attempt": row["attempts"],
                    "retry_at": iso(retry_at),
                }
            await conn.execute(
                "UPDATE queue.jobs SET status = 'dead_letter', dead_at = now(), lease_expires_at = NULL,"
                " last_error = $3 WHERE job_id = $1 AND agent_id = $2",
                req.job_id,
                agent_id,
                req.error,
            )
            await add_event(conn, "queue", agent_id, "job.failed", {**data, "status": "dead_letter"})
            await add_event(conn, "queue", agent_id, "job.dead_lettered", {**data, "status": "dead_letter"})
            return {
                "job_id": req.job_id,
                "status": "dead_letter",
                "attempt": row["attempts"],
                "retry_at": None,
            }

    async def get(self, agent_id: str, job_id: str) -> dict[str, Any] | None:
        r = await self.pool.fetchrow(GET, job_id, agent_id)
        if r is None:
            return None
        return {
            "job_id": r["job_id"],
            "status": r["status"],
            "queue_name": r["queue_name"],
            "priority": r["priority"],
            "created_at": iso(r["created_at"]),
            "started_at": iso(r["started_at"]),
            "completed_at": iso(r["completed_at"]),
            "result": self.load(r["result"]),
            # additive
            "attempts": r["attempts"],
            "max_attempts": r["max_attempts"],
            "available_at": iso(r["available_at"]),
            "lease_expires_at": iso(r["lease_expires_at"]),
            "dead_lettered_at": iso(r["dead_at"]),
            "last_error": r["last_error"],
            "progress": self.load(r["progress"]),
        }

    async def list_jobs(
        self, agent_id: str, queue_name: str, status: str | None, limit: int
    ) -> list[dict[str, Any]]:
        statuses = [status] if status else ["pending", "processing"]
        rows = await self.pool.fetch(
            "SELECT job_id, status, priority, created_at, completed_at FROM queue.jobs"
            " WHERE agent_id = $1 AND queue_name = $2 AND status = ANY($3::text[])"
            " ORDER BY priority DESC, created_at LIMIT $4",
            agent_id,
            queue_name,
            statuses,
            limit,
        )
        return [
            {
                "job_id": r["job_id"],
                "status": r["status"],
                "priority": r["priority"],
                "created_at": iso(r["created_at"]),
                "completed_at": iso(r["completed_at"]),
            }
            for r in rows
        ]

    async def sweep_leases(self, batch: int = 500) -> int:
        """Return lapsed leases to pending (or dead-letter them) and record their events; returns how many."""
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
        return len(rows)

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


def as_utc(value: datetime | None) -> datetime | None:
    """Naive datetimes from clients are taken as UTC (as the original did)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
