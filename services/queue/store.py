"""All SQL of the jobs table (`queue.jobs` and its outbox): a job's life (submit, claim, heartbeat, complete,
fail), the lease sweep, dead letters, per-queue stats, counts, the agent purge and the admin view. One
statement per hot operation.

A claim is a lease: it sets status 'processing', bumps `attempts` (the lease number handed to the worker)
and sets `lease_expires_at`. Complete, fail and heartbeat succeed only while that lease is live and, when the
worker passes `attempt`, only for that lease, so a job is never completed twice. Claims take pending jobs by
priority, then by fair tag (migrations/0002: round-robin across the concurrency keys of a queue), then age,
with FOR UPDATE SKIP LOCKED so replicas never lease one job twice.
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
INSERT INTO queue.jobs (job_id, agent_id, queue_name, payload, priority, max_attempts, lease_seconds, backoff,
                        backoff_base, backoff_max, available_at, dedup_key, concurrency_key, concurrency_limit,
                        fair_tag)
VALUES ($2, $1, $3, $4, $5, $6, $7, $8, $9, $10, coalesce($11::timestamptz, now() + make_interval(secs => $12)),
        $13, $14, $15, queue.next_fair_tag($1, $3, $14))
ON CONFLICT (agent_id, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
RETURNING job_id, status, queue_name, max_attempts, available_at > now() AS delayed, available_at"""

# SUBMIT for up to 100 jobs: each parameter an array; a key's jobs get consecutive tags from its next one.
SUBMIT_MANY = """
WITH items AS (
    SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::int[], $8::text[],
                         $9::real[], $10::real[], $11::timestamptz[], $12::float8[], $13::text[], $14::text[],
                         $15::int[])
        WITH ORDINALITY AS i(job_id, queue_name, payload, priority, max_attempts, lease_seconds, backoff,
                             backoff_base, backoff_max, run_at, delay, dedup_key, concurrency_key,
                             concurrency_limit, n))
INSERT INTO queue.jobs (job_id, agent_id, queue_name, payload, priority, max_attempts, lease_seconds, backoff,
                        backoff_base, backoff_max, available_at, dedup_key, concurrency_key, concurrency_limit,
                        fair_tag)
SELECT job_id, $1, queue_name, payload, priority, max_attempts, lease_seconds, backoff, backoff_base,
       backoff_max, coalesce(run_at, now() + make_interval(secs => delay)), dedup_key, concurrency_key,
       concurrency_limit,
       queue.next_fair_tag($1, queue_name, concurrency_key)
           + row_number() OVER (PARTITION BY queue_name, concurrency_key ORDER BY n) - 1
  FROM items ORDER BY n
ON CONFLICT (agent_id, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
RETURNING job_id, status, queue_name, max_attempts, available_at > now() AS delayed, available_at"""

DEDUPLICATED = """SELECT job_id, status, queue_name, max_attempts, available_at > now() AS delayed, available_at
                    FROM queue.jobs WHERE agent_id = $1 AND dedup_key = $2"""

CLAIMED = "j.job_id, j.payload, j.priority, j.attempts, j.max_attempts, j.lease_expires_at, j.progress, j.fair_tag, j.available_at"
LEASE = """status = 'processing', attempts = j.attempts + 1, started_at = now(),
       lease_expires_at = now() + make_interval(secs => coalesce($3::int, j.lease_seconds))"""
RUNNING = """(SELECT count(*) FROM queue.jobs r WHERE r.agent_id = $1 AND r.queue_name = $2
               AND r.concurrency_key = {key} AND r.concurrency_key <> '' AND r.status = 'processing')"""

# Up to $4 claimable jobs in claim order (priority, then fair tag: round-robin across keys, then age). Jobs
# without a concurrency limit are leased at once; the best candidates of limited keys whose running count
# looked under the limit come back unleased, for claim_limited to lease exactly under the key's lock.
CLAIM = f"""
WITH picked AS (
    SELECT job_id, concurrency_key, concurrency_limit IS NOT NULL AS limited FROM queue.jobs j
     WHERE agent_id = $1 AND queue_name = $2 AND status = 'pending' AND available_at <= now()
       AND (concurrency_limit IS NULL OR concurrency_limit > {RUNNING.format(key="j.concurrency_key")})
     ORDER BY priority DESC, fair_tag, available_at LIMIT $4 FOR UPDATE SKIP LOCKED),
leased AS (
    UPDATE queue.jobs j SET {LEASE} FROM picked WHERE j.job_id = picked.job_id AND NOT picked.limited
    RETURNING {CLAIMED})
SELECT true AS leased, * FROM leased
UNION ALL
SELECT false, job_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM picked WHERE limited"""

# Under the advisory locks of the candidates' keys: lease each key's candidates up to its free slots.
CLAIM_LIMITED = f"""
WITH cand AS (
    SELECT job_id, concurrency_key, concurrency_limit, priority, fair_tag, available_at FROM queue.jobs
     WHERE job_id = ANY($4::text[]) AND agent_id = $1 AND status = 'pending' FOR UPDATE SKIP LOCKED),
ranked AS (
    SELECT job_id, concurrency_limit,
           row_number() OVER (PARTITION BY concurrency_key ORDER BY priority DESC, fair_tag, available_at) AS n,
           {RUNNING.format(key="cand.concurrency_key")} AS running
      FROM cand)
UPDATE queue.jobs j SET {LEASE} FROM ranked
 WHERE j.job_id = ranked.job_id AND ranked.running + ranked.n <= ranked.concurrency_limit
RETURNING {CLAIMED}"""

# The lookups, the updates and the job.completed outbox rows of up to 100 jobs in one round trip.
COMPLETE = """
WITH items AS (SELECT * FROM unnest($2::text[], $3::text[], $4::int[], $5::text[], $6::text[])
                 AS i(job_id, result, attempt, event_id, body)),
cur AS (SELECT j.job_id, j.status, j.attempts, j.lease_expires_at > now() AS live, i.result, i.attempt, i.event_id,
               i.body FROM queue.jobs j JOIN items i USING (job_id) WHERE j.agent_id = $1 FOR UPDATE OF j),
done AS (UPDATE queue.jobs j SET status = 'completed', completed_at = now(), result = cur.result,
                lease_expires_at = NULL
           FROM cur WHERE j.job_id = cur.job_id AND cur.status = 'processing' AND cur.live
            AND (cur.attempt IS NULL OR cur.attempts = cur.attempt)
         RETURNING j.job_id, j.queue_name, cur.event_id, cur.body),
ev AS (INSERT INTO queue.outbox (event_id, subject, body)
       SELECT event_id, $7, jsonb_set(body::jsonb, '{data,queue_name}', to_jsonb(queue_name)) FROM done)
SELECT i.job_id, cur.status, cur.attempts, cur.live, done.job_id IS NOT NULL AS done
  FROM items i LEFT JOIN cur USING (job_id) LEFT JOIN done USING (job_id)"""

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
       last_error = 'lease expired (attempt ' || j.attempts || ')',
       fair_tag = CASE WHEN j.attempts >= j.max_attempts THEN j.fair_tag
                       ELSE queue.next_fair_tag(j.agent_id, j.queue_name, j.concurrency_key) END
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
                max_attempts, available_at, lease_expires_at, dead_at, last_error, progress, agent_id,
                concurrency_key, concurrency_limit
           FROM queue.jobs WHERE job_id = $1 AND agent_id = $2"""


def refusal(row: asyncpg.Record | None, attempt: int | None) -> NotFound | Conflict:
    """Why a lease-bound operation did not apply: 404 (seed wording) or 409 (the caller's lease is gone)."""
    if row is None or row["status"] is None or (attempt is None and row["status"] != "processing"):
        return NotFound(NOT_PROCESSING)
    if attempt is not None and (row["attempts"] != attempt or row["status"] != "processing"):
        return Conflict(
            f"Lease lost: the job is {row['status']} and its current attempt is {row['attempts']}"
        )
    return Conflict("Lease expired: the job may have been claimed again")


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
        """Every job of a batch in one statement (one transaction): all are stored, or none. Each key's jobs are
        tagged one after another in item order, as single submits in that order would be."""
        columns = [self._columns(item) for item in items]
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(SUBMIT_MANY, agent_id, *(list(col) for col in zip(*columns, strict=True)))
            stored = {r["job_id"]: r for r in rows}
            out = []
            for item, col in zip(items, columns, strict=True):
                row = stored.get(col[0])
                out.append(
                    self._answer(row, False)
                    if row is not None
                    else await self._deduplicated(conn, agent_id, item)
                )
            return out

    def _columns(self, req: m.Submit) -> tuple[Any, ...]:
        """A submit's column values, in SUBMIT's parameter order after the agent ($1)."""
        d = self.defaults
        fixed = req.backoff == "fixed" or (req.backoff is None and req.retry_delay_seconds is not None)
        if fixed:  # wait exactly this long before each retry
            base = req.retry_delay_seconds if req.retry_delay_seconds is not None else 0.0
        else:
            base = next(
                (v for v in (req.backoff_base_seconds, req.retry_delay_seconds) if v is not None),
                d.backoff_base,
            )
        return (
            new_id("job", 16),
            req.queue_name,
            self.dump(req.payload),
            req.priority,
            req.max_attempts or d.max_attempts,
            req.visibility_timeout or d.visibility_timeout,
            "fixed" if fixed else "exponential",
            base,
            d.backoff_max if req.backoff_max_seconds is None else req.backoff_max_seconds,
            as_utc(req.run_at),
            float(req.delay_seconds or 0),
            req.dedup_key,
            req.concurrency_key or "",
            req.concurrency_limit,
        )

    async def _submit(self, conn: asyncpg.Connection, agent_id: str, req: m.Submit) -> dict[str, Any]:
        row = await conn.fetchrow(SUBMIT, agent_id, *self._columns(req))
        return self._answer(row, False) if row is not None else await self._deduplicated(conn, agent_id, req)

    async def _deduplicated(self, conn: asyncpg.Connection, agent_id: str, req: m.Submit) -> dict[str, Any]:
        """The job an earlier submit (possibly concurrent, or an earlier item of the batch) made with this
        dedup key."""
        row = await conn.fetchrow(DEDUPLICATED, agent_id, req.dedup_key)
        if row is None:  # purged between the two statements: submit afresh
            return await self._submit(conn, agent_id, req)
        return self._answer(row, True)

    @staticmethod
    def _answer(row: asyncpg.Record, deduplicated: bool) -> dict[str, Any]:
        extra: dict[str, Any] = {"deduplicated": True} if deduplicated else {}
        if row["delayed"]:
            extra["available_at"] = iso(row["available_at"])
        return {
            "job_id": row["job_id"],
            "status": row["status"],
            "queue_name": row["queue_name"],
            "max_attempts": row["max_attempts"],
            **extra,
        }

    async def claim(
        self, agent_id: str, queue_name: str, lease: int | None, max_jobs: int = 1
    ) -> list[dict[str, Any]]:
        """Lease up to max_jobs jobs, in claim order. A job whose key has a concurrency limit is leased only
        under that key's advisory lock after counting the key's running jobs, so the limit holds exactly
        across replicas; every other job is leased by the one statement, as a single claim always was."""
        leased: list[asyncpg.Record] = []
        for _ in range(3):  # another round only when a limited key had fewer free slots than it looked
            rows = await self.pool.fetch(CLAIM, agent_id, queue_name, lease, max_jobs - len(leased))
            leased += [r for r in rows if r["leased"]]
            limited = [r["job_id"] for r in rows if not r["leased"]]
            if not limited:
                break
            got = await self._claim_limited(agent_id, queue_name, lease, limited)
            leased += got
            if len(got) == len(limited) or len(leased) >= max_jobs:
                break
        leased.sort(key=lambda r: (-r["priority"], r["fair_tag"], r["available_at"]))
        return [
            {
                "job_id": r["job_id"],
                "payload": self.load(r["payload"]),
                "priority": r["priority"],
                "queue_name": queue_name,
                "attempt": r["attempts"],
                "max_attempts": r["max_attempts"],
                "lease_expires_at": iso(r["lease_expires_at"]),
                "progress": self.load(r["progress"]),
            }
            for r in leased
        ]

    async def _claim_limited(
        self, agent_id: str, queue_name: str, lease: int | None, job_ids: list[str]
    ) -> list[asyncpg.Record]:
        async with self.pool.acquire() as conn, conn.transaction():
            keys = await conn.fetch(
                "SELECT DISTINCT concurrency_key FROM queue.jobs WHERE job_id = ANY($1::text[]) ORDER BY 1",
                job_ids,
            )
            for k in keys:  # one order for every claimer: no deadlock between replicas
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                    f"queue.key\x1f{agent_id}\x1f{queue_name}\x1f{k['concurrency_key']}",
                )
            return list(await conn.fetch(CLAIM_LIMITED, agent_id, queue_name, lease, job_ids))

    async def complete(self, agent_id: str, job_id: str, result: Any, attempt: int | None) -> None:
        (outcome,) = await self.complete_many(agent_id, [(job_id, result, attempt)])
        if outcome is not None:
            raise outcome

    async def complete_many(
        self, agent_id: str, items: list[tuple[str, Any, int | None]]
    ) -> list[NotFound | Conflict | None]:
        """Complete each (job_id, result, attempt) whose lease is live; per item None or why it was refused."""
        events = [
            make_event(
                agent_id,
                "job.completed",
                {"job_id": job_id, "queue_name": None, "status": "completed", "result": result},
            )
            for job_id, result, _ in items
        ]
        rows = await self.pool.fetch(
            COMPLETE,
            agent_id,
            [job_id for job_id, _, _ in items],
            [self.dump(result) for _, result, _ in items],
            [attempt for _, _, attempt in items],
            [e["id"] for e in events],
            [orjson.dumps(outbox_body(e)).decode() for e in events],
            subjects.event(agent_id, "job.completed"),
        )
        by_id = {r["job_id"]: r for r in rows}
        out: list[NotFound | Conflict | None] = []
        for job_id, _, attempt in items:
            row = by_id.get(job_id)
            out.append(None if row is not None and row["done"] else refusal(row, attempt))
        return out

    async def heartbeat(self, agent_id: str, req: m.Heartbeat) -> dict[str, Any]:
        progress = None if req.progress is None else self.dump(req.progress)
        row = await self.pool.fetchrow(
            HEARTBEAT, req.job_id, agent_id, req.extend_seconds, progress, req.attempt
        )
        if row is None:
            raise refusal(await self.pool.fetchrow(LEASE_STATE, req.job_id, agent_id), req.attempt)
        return {
            "job_id": req.job_id,
            "status": "processing",
            "attempt": row["attempts"],
            "lease_expires_at": iso(row["lease_expires_at"]),
        }

    async def fail(self, agent_id: str, req: m.Fail) -> dict[str, Any]:
        async with self.pool.acquire() as conn, conn.transaction():
            return await self._fail(conn, agent_id, req)

    async def fail_many(
        self, agent_id: str, items: list[m.Fail]
    ) -> list[dict[str, Any] | NotFound | Conflict]:
        """Each failure on its own in one transaction: a refused item writes nothing and the others apply."""
        out: list[dict[str, Any] | NotFound | Conflict] = []
        async with self.pool.acquire() as conn, conn.transaction():
            for item in items:
                try:
                    out.append(await self._fail(conn, agent_id, item))
                except (NotFound, Conflict) as exc:
                    out.append(exc)
        return out

    async def _fail(self, conn: asyncpg.Connection, agent_id: str, req: m.Fail) -> dict[str, Any]:
        """Retry later while attempts remain and the error is retryable (after the job's fixed delay, or its
        exponential backoff with full jitter); else dead-letter. The answer speaks both vocabularies: 1.0's
        status (pending_retry | dead_lettered), attempts, max_attempts and next_retry_at, and our attempt and
        retry_at; the job's own status stays pending or dead_letter."""
        row = await conn.fetchrow(
            "SELECT status, attempts, max_attempts, backoff, backoff_base, backoff_max, queue_name,"
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
            raise refusal(row, req.attempt)
        retry = req.retryable and row["attempts"] < row["max_attempts"]
        data = {
            "job_id": req.job_id,
            "queue_name": row["queue_name"],
            "attempt": row["attempts"],
            "error": req.error,
        }
        answer = {
            "job_id": req.job_id,
            "attempts": row["attempts"],
            "max_attempts": row["max_attempts"],
            "attempt": row["attempts"],
        }
        if retry:
            if row["backoff"] == "fixed":
                delay = float(row["backoff_base"])
            else:
                delay = backoff_seconds(row["attempts"], row["backoff_base"], row["backoff_max"])
            retry_at = await conn.fetchval(
                "UPDATE queue.jobs SET status = 'pending', available_at = now() + make_interval(secs => $3),"
                " lease_expires_at = NULL, last_error = $4,"
                " fair_tag = queue.next_fair_tag(agent_id, queue_name, concurrency_key)"
                " WHERE job_id = $1 AND agent_id = $2 RETURNING available_at",
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
                **answer,
                "status": "pending_retry",
                "next_retry_at": iso(retry_at),
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
        return {**answer, "status": "dead_lettered", "retry_at": None}

    async def heartbeat_many(
        self, agent_id: str, items: list[m.Heartbeat]
    ) -> list[dict[str, Any] | NotFound | Conflict]:
        out: list[dict[str, Any] | NotFound | Conflict] = []
        for item in items:
            try:
                out.append(await self.heartbeat(agent_id, item))
            except (NotFound, Conflict) as exc:
                out.append(exc)
        return out

    async def get(self, agent_id: str, job_id: str) -> dict[str, Any] | None:
        r = await self.pool.fetchrow(GET, job_id, agent_id)
        if r is None:
            return None
        return {
            "job_id": r["job_id"],
            "status": r["status"],
            "claimed_by": r["agent_id"] if r["started_at"] is not None else None,  # only the owner claims
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
            "concurrency_key": r["concurrency_key"] or None,
            "concurrency_limit": r["concurrency_limit"],
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

    async def replay(self, agent_id: str, job_id: str) -> tuple[str, datetime] | None:
        """Dead letter → pending with a fresh attempt budget; returns the status found and when (None: no such
        job)."""
        row = await self.pool.fetchrow(
            "WITH cur AS (SELECT job_id, status FROM queue.jobs WHERE job_id = $1 AND agent_id = $2 FOR UPDATE),"
            " upd AS (UPDATE queue.jobs j SET status = 'pending', attempts = 0, available_at = now(), dead_at = NULL,"
            "                fair_tag = queue.next_fair_tag(j.agent_id, j.queue_name, j.concurrency_key)"
            "          FROM cur WHERE j.job_id = cur.job_id AND cur.status = 'dead_letter' RETURNING j.job_id)"
            " SELECT cur.status, now() AS at FROM cur",
            job_id,
            agent_id,
        )
        return None if row is None else (row["status"], row["at"])

    async def replay_many(
        self,
        agent_id: str,
        queue_name: str | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
    ) -> int:
        status = await self.pool.execute(
            f"UPDATE queue.jobs SET status = 'pending', attempts = 0, available_at = now(), dead_at = NULL,"
            f" fair_tag = queue.next_fair_tag(agent_id, queue_name, concurrency_key)"
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
