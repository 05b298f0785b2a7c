"""All SQL of the scheduler schema: schedules (CRUD), fires (the exactly-once record and outbox of each tick,
decided and re-sent by the ticker through the methods below) and the test clock's shared offset."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from services.scheduler import models as m
from shared.crypto import Cipher
from shared.errors import QuotaExceeded
from shared.timeutil import iso

COLUMNS = (
    "task_id, agent_id, cron_expr, timezone, payload, queue_name, priority, enabled, overlap, catchup,"
    " catchup_window_seconds, next_run_at, last_run_at, run_count, created_at"
)

# Fires the queue has not acknowledged, old enough that the replica that decided them has surely tried.
UNSENT = """
SELECT f.task_id, f.fire_at, f.agent_id, s.payload, s.queue_name, s.priority
  FROM scheduler.fires f JOIN scheduler.schedules s USING (task_id)
 WHERE f.status = 'pending' AND f.created_at < now() - make_interval(secs => $1)
 ORDER BY f.created_at LIMIT $2 FOR UPDATE OF f SKIP LOCKED"""


DUE = """SELECT task_id, agent_id, cron_expr, timezone, overlap, catchup, catchup_window_seconds, next_run_at,
                payload, queue_name, priority
           FROM scheduler.schedules WHERE enabled AND next_run_at <= $1
          ORDER BY next_run_at LIMIT $2 FOR UPDATE SKIP LOCKED"""

INSERT_FIRES = """INSERT INTO scheduler.fires (task_id, fire_at, agent_id, trigger, status)
                  SELECT $1, t, $2, 'cron', $4 FROM unnest($3::timestamptz[]) AS t
                  ON CONFLICT DO NOTHING RETURNING fire_at"""

ADVANCE = """UPDATE scheduler.schedules SET next_run_at = $2, run_count = run_count + $3,
                    last_run_at = CASE WHEN $3 > 0 THEN $4 ELSE last_run_at END WHERE task_id = $1"""


def tick_iso(dt: datetime | None) -> str | None:
    """Fire times as the contract shows next_run_at: ISO 8601 in UTC, microseconds only when non-zero."""
    return None if dt is None else dt.astimezone(UTC).isoformat()


def dedup_key(task_id: str, fire_at: datetime) -> str:
    """The queue-side idempotency key of one fire: a re-submit after a crash finds the same job."""
    return f"sched:{task_id}:{tick_iso(fire_at)}"


class SchedulerStore:
    def __init__(
        self, pool: asyncpg.Pool, cipher: Cipher, max_per_agent: int = 0, max_frequent_per_agent: int = 0
    ) -> None:
        self.pool, self.cipher, self.max_per_agent = pool, cipher, max_per_agent
        self.max_frequent_per_agent = max_frequent_per_agent

    def load(self, stored: str) -> Any:
        return orjson.loads(self.cipher.decrypt(stored))

    def view(self, r: asyncpg.Record) -> dict[str, Any]:
        return {
            "task_id": r["task_id"],
            "agent_id": r["agent_id"],
            "cron_expr": r["cron_expr"],
            "queue_name": r["queue_name"],
            "payload": self.load(r["payload"]),
            "priority": r["priority"],
            "enabled": r["enabled"],
            "created_at": iso(r["created_at"]),
            "next_run_at": tick_iso(r["next_run_at"]),
            "last_run_at": tick_iso(r["last_run_at"]),
            "run_count": r["run_count"],
            "timezone": r["timezone"],
            "overlap": r["overlap"],
            "catchup": r["catchup"],
            "catchup_window_seconds": r["catchup_window_seconds"],
        }

    async def create(
        self, task_id: str, agent_id: str, req: m.Create, next_run_at: datetime, frequent: bool = False
    ) -> dict[str, Any]:
        """Store a schedule; QuotaExceeded when the agent already holds `max_per_agent` (0 = unbounded), or,
        for a `frequent` one, `max_frequent_per_agent` frequent ones. The counts are taken under a per-agent
        advisory lock in the insert's transaction, so concurrent creates on any replica cannot both take the
        last slot."""
        payload = self.cipher.encrypt(orjson.dumps(req.payload).decode())
        async with self.pool.acquire() as conn, conn.transaction():
            if self.max_per_agent or (frequent and self.max_frequent_per_agent):
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext('schedules:' || $1))", agent_id)
                held = await conn.fetchrow(
                    "SELECT count(*) AS n, count(*) FILTER (WHERE frequent) AS frequent"
                    " FROM scheduler.schedules WHERE agent_id = $1",
                    agent_id,
                )
                if self.max_per_agent and held["n"] >= self.max_per_agent:
                    raise QuotaExceeded(
                        f"Schedule quota exceeded: at most {self.max_per_agent} schedules per agent",
                        {"quota": "schedules", "limit": self.max_per_agent},
                    )
                if (
                    frequent
                    and self.max_frequent_per_agent
                    and held["frequent"] >= self.max_frequent_per_agent
                ):
                    raise QuotaExceeded(
                        f"Schedule quota exceeded: at most {self.max_frequent_per_agent} frequent schedules"
                        " per agent",
                        {"quota": "frequent_schedules", "limit": self.max_frequent_per_agent},
                    )
            r = await conn.fetchrow(
                f"INSERT INTO scheduler.schedules (task_id, agent_id, cron_expr, timezone, payload, queue_name, priority,"
                f" enabled, overlap, catchup, catchup_window_seconds, next_run_at, frequent)"
                f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING {COLUMNS}",
                task_id,
                agent_id,
                req.cron_expr,
                req.timezone,
                payload,
                req.queue_name,
                req.priority,
                req.enabled,
                req.overlap,
                req.catchup,
                req.catchup_window_seconds,
                next_run_at,
                frequent,
            )
        return self.view(r)

    async def get(self, agent_id: str, task_id: str) -> dict[str, Any] | None:
        r = await self.pool.fetchrow(
            f"SELECT {COLUMNS} FROM scheduler.schedules WHERE task_id = $1 AND agent_id = $2",
            task_id,
            agent_id,
        )
        return None if r is None else self.view(r)

    async def list_for(self, agent_id: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            f"SELECT {COLUMNS} FROM scheduler.schedules WHERE agent_id = $1 ORDER BY created_at", agent_id
        )
        return [self.view(r) for r in rows]

    async def set_enabled(self, agent_id: str, task_id: str, enabled: bool, next_run_at: datetime) -> bool:
        """Resuming restarts from the next tick after now, so a pause never turns into a burst of catch-up."""
        status = await self.pool.execute(
            "UPDATE scheduler.schedules SET next_run_at = CASE WHEN $3 AND NOT enabled THEN $4 ELSE next_run_at END,"
            " enabled = $3 WHERE task_id = $1 AND agent_id = $2",
            task_id,
            agent_id,
            enabled,
            next_run_at,
        )
        return bool(status != "UPDATE 0")

    async def delete(self, agent_id: str, task_id: str) -> bool:
        status = await self.pool.execute(
            "DELETE FROM scheduler.schedules WHERE task_id = $1 AND agent_id = $2", task_id, agent_id
        )
        return bool(status != "DELETE 0")

    async def add_manual_fire(self, agent_id: str, task_id: str, fire_at: datetime) -> asyncpg.Record | None:
        """Trigger-now: a fire outside the cron ticks (counted as a run); returns what to submit."""
        async with self.pool.acquire() as conn, conn.transaction():
            s = await conn.fetchrow(
                "UPDATE scheduler.schedules SET run_count = run_count + 1,"
                " last_run_at = greatest(last_run_at, $3) WHERE task_id = $1 AND agent_id = $2"
                " RETURNING task_id, agent_id, payload, queue_name, priority",
                task_id,
                agent_id,
                fire_at,
            )
            if s is not None:
                await conn.execute(
                    "INSERT INTO scheduler.fires (task_id, fire_at, agent_id, trigger, status)"
                    " VALUES ($1, $2, $3, 'manual', 'pending')",
                    task_id,
                    fire_at,
                    agent_id,
                )
            return s

    async def mark(
        self,
        conn: asyncpg.Connection | None,
        task_id: str,
        fire_at: datetime,
        status: str,
        job_id: str | None,
        error: str | None,
    ) -> None:
        """Record the queue's answer to a fire (in the re-send's transaction when `conn` is given)."""
        await (conn or self.pool).execute(
            "UPDATE scheduler.fires SET status = $3, job_id = $4, error = $5,"
            " submitted_at = CASE WHEN $3 = 'submitted' THEN now() END"
            " WHERE task_id = $1 AND fire_at = $2 AND status = 'pending'",
            task_id,
            fire_at,
            status,
            job_id,
            error,
        )

    async def runs(self, agent_id: str, task_id: str, limit: int) -> list[dict[str, Any]] | None:
        if not await self.pool.fetchval(
            "SELECT true FROM scheduler.schedules WHERE task_id = $1 AND agent_id = $2", task_id, agent_id
        ):
            return None
        rows = await self.pool.fetch(
            "SELECT fire_at, trigger, status, job_id, error, created_at, submitted_at FROM scheduler.fires"
            " WHERE task_id = $1 ORDER BY fire_at DESC LIMIT $2",
            task_id,
            limit,
        )
        return [
            {
                "fire_at": tick_iso(r["fire_at"]),
                "trigger": r["trigger"],
                "status": r["status"],
                "job_id": r["job_id"],
                "error": r["error"],
                "decided_at": iso(r["created_at"]),
                "submitted_at": iso(r["submitted_at"]),
            }
            for r in rows
        ]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """One connection in a transaction, for the ticker's decide and re-send passes."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    async def lock_due(self, conn: asyncpg.Connection, now: datetime, batch: int) -> list[asyncpg.Record]:
        """Due enabled schedules, locked for this transaction (SKIP LOCKED: each replica takes others)."""
        return list(await conn.fetch(DUE, now, batch))

    async def insert_fires(
        self, conn: asyncpg.Connection, task_id: str, agent_id: str, ticks: list[datetime], status: str
    ) -> list[datetime]:
        """One fire row per tick; returns the ticks this transaction inserted (the others were decided)."""
        return [r["fire_at"] for r in await conn.fetch(INSERT_FIRES, task_id, agent_id, ticks, status)]

    async def advance(
        self, conn: asyncpg.Connection, task_id: str, next_run_at: datetime, fired: list[datetime]
    ) -> None:
        await conn.execute(ADVANCE, task_id, next_run_at, len(fired), max(fired, default=None))

    async def lock_unsent(
        self, conn: asyncpg.Connection, older_than: float, batch: int
    ) -> list[asyncpg.Record]:
        """Fires the queue has not acknowledged after `older_than` seconds, locked for this transaction."""
        return list(await conn.fetch(UNSENT, older_than, batch))

    async def previous_fire(self, conn: asyncpg.Connection, task_id: str) -> asyncpg.Record | None:
        """The schedule's latest fire that produced (or is producing) a job — for the overlap policy."""
        return await conn.fetchrow(
            "SELECT status, job_id FROM scheduler.fires WHERE task_id = $1 AND status IN ('pending', 'submitted')"
            " ORDER BY fire_at DESC LIMIT 1",
            task_id,
        )

    # ── internal: stats, cascade delete, admin panel ──
    async def count_active(self, agent_id: str | None = None) -> int:
        return int(
            await self.pool.fetchval(
                "SELECT count(*) FROM scheduler.schedules WHERE enabled AND ($1::text IS NULL OR agent_id = $1)",
                agent_id,
            )
        )

    async def clock_offset(self) -> float:
        value = await self.pool.fetchval("SELECT offset_seconds FROM scheduler.clock")
        return float(value or 0.0)

    async def set_clock_offset(self, seconds: float) -> None:
        await self.pool.execute(
            "INSERT INTO scheduler.clock (id, offset_seconds) VALUES (true, $1)"
            " ON CONFLICT (id) DO UPDATE SET offset_seconds = EXCLUDED.offset_seconds",
            seconds,
        )

    async def purge_agent(self, agent_id: str) -> int:
        status = await self.pool.execute("DELETE FROM scheduler.schedules WHERE agent_id = $1", agent_id)
        return int(status.split()[-1])

    async def admin_schedules(
        self, agent_id: str | None, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        rows = await self.pool.fetch(
            f"SELECT {COLUMNS} FROM scheduler.schedules WHERE ($1::text IS NULL OR agent_id = $1)"
            f" ORDER BY created_at DESC LIMIT $2 OFFSET $3",
            agent_id,
            limit,
            offset,
        )
        total = await self.pool.fetchval(
            "SELECT count(*) FROM scheduler.schedules WHERE ($1::text IS NULL OR agent_id = $1)", agent_id
        )
        items = [
            {**{k: v for k, v in self.view(r).items() if k != "payload"}, "payload_chars": len(r["payload"])}
            for r in rows
        ]
        return items, int(total)
