"""The tick: decide which fires are due (exactly once across replicas), then hand them to the queue.

1. In one transaction, lock the due schedules (FOR UPDATE SKIP LOCKED: each replica takes different ones),
   insert one `scheduler.fires` row per fire time (primary key (task_id, fire_at), ON CONFLICT DO NOTHING)
   and advance next_run_at. Only the rows this transaction inserted are submitted by this replica.
2. After commit, submit each fire to `svc.queue.submit` as the schedule's owner with
   dedup_key = "sched:<task_id>:<fire_at>", then mark the fire submitted.
3. A fire still unsent after `resubmit_after` seconds (the deciding replica crashed or the queue was away) is
   re-submitted by any replica; the dedup key makes a re-submit of an already-created job return that job.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import structlog
from nats.aio.client import Client as NATS

from services.scheduler.clock import Clock
from services.scheduler.cron import due_fires, next_after
from services.scheduler.store import SchedulerStore, dedup_key
from shared.bus import Ctx, call
from shared.ids import new_id
from shared.subjects import svc

log = structlog.get_logger("scheduler")
RETRY_LATER = {"unavailable", "timeout", "internal"}  # the queue may take it on the next attempt


@dataclass(frozen=True, slots=True)
class Fire:
    task_id: str
    fire_at: datetime
    agent_id: str
    payload: str  # as stored (possibly encrypted)
    queue_name: str
    priority: int


@dataclass(frozen=True, slots=True)
class TickSettings:
    batch: int = 200  # schedules one replica decides per transaction
    grace_seconds: float = 60.0  # a tick this late still counts as on time (catchup=skip fires it)
    resubmit_after: float = 10.0  # seconds before another replica re-submits an unacknowledged fire
    test_exit: str = ""  # test only: "before_submit" | "after_submit" → the process exits there (a crash)


class Ticker:
    def __init__(self, store: SchedulerStore, clock: Clock, nc: NATS, settings: TickSettings) -> None:
        self.store, self.clock, self.nc, self.settings = store, clock, nc, settings

    async def tick(self) -> int:
        fires = await self.decide(await self.clock.now())
        if fires and self.settings.test_exit == "before_submit":
            os._exit(137)
        for start in range(0, len(fires), 50):
            await asyncio.gather(*(self.submit(f) for f in fires[start : start + 50]))
        await self.resend()
        return len(fires)

    async def decide(self, now: datetime) -> list[Fire]:
        out: list[Fire] = []
        async with self.store.transaction() as conn:
            for s in await self.store.lock_due(conn, now, self.settings.batch):
                ticks = due_fires(
                    s["cron_expr"],
                    s["timezone"],
                    s["next_run_at"],
                    now,
                    s["catchup"],
                    s["catchup_window_seconds"],
                    self.settings.grace_seconds,
                )
                status = "pending"
                if ticks and s["overlap"] == "skip":
                    ticks = ticks[-1:]  # several at once would overlap each other
                    if await self.busy(conn, s["task_id"], s["agent_id"]):
                        status = "skipped"
                inserted = await self.store.insert_fires(conn, s["task_id"], s["agent_id"], ticks, status)
                fired = inserted if status == "pending" else []
                await self.store.advance(
                    conn, s["task_id"], next_after(s["cron_expr"], s["timezone"], now), fired
                )
                out += [
                    Fire(s["task_id"], t, s["agent_id"], s["payload"], s["queue_name"], s["priority"])
                    for t in fired
                ]
        return out

    async def busy(self, conn: asyncpg.Connection, task_id: str, agent_id: str) -> bool:
        """Overlap policy: is the schedule's previous job still pending or processing?"""
        prev = await self.store.previous_fire(conn, task_id)
        if prev is None:
            return False
        if prev["status"] == "pending":  # decided but not yet in the queue: certainly not finished
            return True
        reply = await call(
            self.nc,
            svc("queue", "get"),
            {"job_id": prev["job_id"]},
            timeout=2.0,
            ctx=Ctx(new_id("sched", 16), agent_id),
        )
        if reply.ok:
            return reply.data["status"] in ("pending", "processing")
        return reply.code != "not_found"  # queue unreachable: do not risk an overlap

    async def submit(self, fire: Fire, conn: asyncpg.Connection | None = None) -> dict[str, Any]:
        """Enqueue one fire as its owner; mark it submitted (or failed for good) unless the queue was away."""
        request = {
            "payload": self.store.load(fire.payload),
            "queue_name": fire.queue_name,
            "priority": fire.priority,
            "dedup_key": dedup_key(fire.task_id, fire.fire_at),
        }
        reply = await call(
            self.nc, svc("queue", "submit"), request, timeout=5.0, ctx=Ctx(new_id("sched", 16), fire.agent_id)
        )
        if reply.ok and self.settings.test_exit == "after_submit":
            os._exit(137)
        if reply.ok:
            await self.store.mark(conn, fire.task_id, fire.fire_at, "submitted", reply.data["job_id"], None)
            return {"status": "submitted", "job_id": reply.data["job_id"]}
        log.warning("fire_submit_failed", task_id=fire.task_id, code=reply.code, error=reply.message)
        if reply.code not in RETRY_LATER:
            await self.store.mark(conn, fire.task_id, fire.fire_at, "failed", None, reply.message)
            return {"status": "failed", "job_id": None, "error": reply.message}
        return {"status": "pending", "job_id": None}

    async def resend(self) -> int:
        async with self.store.transaction() as conn:
            rows = await self.store.lock_unsent(conn, self.settings.resubmit_after, 100)
            for r in rows:
                await self.submit(
                    Fire(
                        r["task_id"],
                        r["fire_at"],
                        r["agent_id"],
                        r["payload"],
                        r["queue_name"],
                        r["priority"],
                    ),
                    conn,
                )
        return len(rows)
