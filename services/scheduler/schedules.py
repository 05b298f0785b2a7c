"""Operations on an agent's schedules: the seed's CRUD and toggle, plus trigger-now and run history."""

from __future__ import annotations

from typing import Any

from services.scheduler import models as m
from services.scheduler.clock import Clock
from services.scheduler.cron import next_after, shortest_gap, validate
from services.scheduler.store import SchedulerStore, tick_iso
from services.scheduler.ticker import Fire, Ticker
from shared.bus import Ctx
from shared.errors import NotFound
from shared.ids import new_id
from shared.ops import OpGroup, op

NOT_FOUND = "Scheduled task not found"
CREATED_FIELDS = (
    "task_id",
    "cron_expr",
    "queue_name",
    "payload",
    "priority",
    "enabled",
    "next_run_at",
    "created_at",
    "timezone",
    "overlap",
    "catchup",
    "catchup_window_seconds",
)
LISTED_FIELDS = (
    "task_id",
    "cron_expr",
    "queue_name",
    "priority",
    "enabled",
    "next_run_at",
    "last_run_at",
    "run_count",
    "created_at",
    "timezone",
    "overlap",
    "catchup",
    "catchup_window_seconds",
)


class ScheduleHandlers(OpGroup):
    def __init__(
        self, store: SchedulerStore, clock: Clock, ticker: Ticker, frequent_seconds: float = 0.0
    ) -> None:
        self.store, self.clock, self.ticker = store, clock, ticker
        self.frequent_seconds = frequent_seconds  # a schedule firing more often than this is "frequent"

    @op()
    async def create(self, req: m.Create, ctx: Ctx) -> dict[str, Any]:
        agent_id = ctx.require_agent()
        validate(req.cron_expr, req.timezone)
        now = await self.clock.now()
        next_run_at = next_after(req.cron_expr, req.timezone, now)
        frequent = (
            bool(self.frequent_seconds)
            and shortest_gap(req.cron_expr, req.timezone, now) < self.frequent_seconds
        )
        s = await self.store.create(new_id("sched", 12), agent_id, req, next_run_at, frequent)
        return {k: s[k] for k in CREATED_FIELDS}

    @op("list")
    async def list_schedules(self, req: m.Empty, ctx: Ctx) -> dict[str, Any]:
        schedules = [{k: s[k] for k in LISTED_FIELDS} for s in await self.store.list_for(ctx.require_agent())]
        return {"schedules": schedules, "count": len(schedules)}

    @op()
    async def get(self, req: m.TaskRef, ctx: Ctx) -> dict[str, Any]:
        s = await self.store.get(ctx.require_agent(), req.task_id)
        if s is None:
            raise NotFound(NOT_FOUND)
        return s

    @op()
    async def toggle(self, req: m.Toggle, ctx: Ctx) -> dict[str, Any]:
        agent_id = ctx.require_agent()
        s = await self.store.get(agent_id, req.task_id)
        if s is None:
            raise NotFound(NOT_FOUND)
        next_run_at = next_after(s["cron_expr"], s["timezone"], await self.clock.now())
        if not await self.store.set_enabled(agent_id, req.task_id, req.enabled, next_run_at):
            raise NotFound(NOT_FOUND)
        return {"task_id": req.task_id, "enabled": req.enabled}

    @op()
    async def delete(self, req: m.TaskRef, ctx: Ctx) -> dict[str, Any]:
        if not await self.store.delete(ctx.require_agent(), req.task_id):
            raise NotFound(NOT_FOUND)
        return {"status": "deleted", "task_id": req.task_id}

    @op()
    async def trigger(self, req: m.TaskRef, ctx: Ctx) -> dict[str, Any]:
        """Fire now, outside the cron ticks and regardless of the overlap policy (an explicit request)."""
        agent_id = ctx.require_agent()
        fire_at = await self.clock.now()
        s = await self.store.add_manual_fire(agent_id, req.task_id, fire_at)
        if s is None:
            raise NotFound(NOT_FOUND)
        fire = Fire(req.task_id, fire_at, agent_id, s["payload"], s["queue_name"], s["priority"])
        return {
            "task_id": req.task_id,
            "fire_at": tick_iso(fire_at),
            **await self.ticker.submit(fire),
        }

    @op()
    async def runs(self, req: m.Runs, ctx: Ctx) -> dict[str, Any]:
        runs = await self.store.runs(ctx.require_agent(), req.task_id, req.limit)
        if runs is None:
            raise NotFound(NOT_FOUND)
        return {"task_id": req.task_id, "runs": runs, "count": len(runs)}
