"""Scheduler operations: the seed's schedule CRUD and toggle, plus trigger-now and run history."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

from services.scheduler import models as m
from services.scheduler.clock import Clock
from services.scheduler.cron import next_after, validate
from services.scheduler.store import SchedulerStore, tick_iso
from services.scheduler.ticker import Fire, Ticker
from shared.admin import AdminPage, page
from shared.bus import Ctx, Op
from shared.errors import BadRequest, NotFound
from shared.ids import new_id
from shared.timeutil import iso, utcnow

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


class SchedulerHandlers:
    def __init__(self, store: SchedulerStore, clock: Clock, ticker: Ticker) -> None:
        self.store, self.clock, self.ticker = store, clock, ticker

    async def create(self, req: m.Create, ctx: Ctx) -> dict[str, Any]:
        agent_id = ctx.require_agent()
        validate(req.cron_expr, req.timezone)
        next_run_at = next_after(req.cron_expr, req.timezone, await self.clock.now())
        s = await self.store.create(new_id("sched", 12), agent_id, req, next_run_at)
        return {k: s[k] for k in CREATED_FIELDS}

    async def list(self, req: m.Empty, ctx: Ctx) -> dict[str, Any]:
        schedules = [{k: s[k] for k in LISTED_FIELDS} for s in await self.store.list(ctx.require_agent())]
        return {"schedules": schedules, "count": len(schedules)}

    async def get(self, req: m.TaskRef, ctx: Ctx) -> dict[str, Any]:
        s = await self.store.get(ctx.require_agent(), req.task_id)
        if s is None:
            raise NotFound(NOT_FOUND)
        return s

    async def toggle(self, req: m.Toggle, ctx: Ctx) -> dict[str, Any]:
        agent_id = ctx.require_agent()
        s = await self.store.get(agent_id, req.task_id)
        if s is None:
            raise NotFound(NOT_FOUND)
        next_run_at = next_after(s["cron_expr"], s["timezone"], await self.clock.now())
        if not await self.store.set_enabled(agent_id, req.task_id, req.enabled, next_run_at):
            raise NotFound(NOT_FOUND)
        return {"task_id": req.task_id, "enabled": req.enabled}

    async def delete(self, req: m.TaskRef, ctx: Ctx) -> dict[str, Any]:
        if not await self.store.delete(ctx.require_agent(), req.task_id):
            raise NotFound(NOT_FOUND)
        return {"status": "deleted", "task_id": req.task_id}

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
            **await self.ticker.submit(self.store.pool, fire),
        }

    async def runs(self, req: m.Runs, ctx: Ctx) -> dict[str, Any]:
        runs = await self.store.runs(ctx.require_agent(), req.task_id, req.limit)
        if runs is None:
            raise NotFound(NOT_FOUND)
        return {"task_id": req.task_id, "runs": runs, "count": len(runs)}

    async def set_clock(self, req: m.SetClock, ctx: Ctx) -> dict[str, Any]:
        """Test clock (registered only with MOLTGRID_SCHEDULER_TEST_CLOCK=true)."""
        if req.now is not None:
            now = req.now if req.now.tzinfo else req.now.replace(tzinfo=UTC)
            offset = (now - utcnow()).total_seconds()
        elif req.offset_seconds is not None:
            offset = req.offset_seconds
        elif req.advance_seconds is not None:
            offset = await self.clock.offset() + req.advance_seconds
        else:
            raise BadRequest("give one of now, offset_seconds, advance_seconds")
        await self.clock.set_offset(offset)
        return {"now": iso(utcnow() + timedelta(seconds=offset)), "offset_seconds": offset}

    # ── internal: health stats, per-agent stats, admin panel ──
    async def global_stats(self, req: m.Empty, ctx: Ctx) -> dict[str, int]:
        return {"active_schedules": await self.store.count_active()}

    async def agent_stats(self, req: m.AgentRef, ctx: Ctx) -> dict[str, int]:
        agent_id = ctx.agent_or_named(req.agent_id)
        return {"active_schedules": await self.store.count_active(agent_id)}

    async def admin_schedules(self, req: AdminPage, ctx: Ctx) -> dict[str, Any]:
        ctx.require_admin()
        items, total = await self.store.admin_schedules(req.agent_id, req.limit, req.offset)
        return page(items, total, req)

    def ops(self, test_clock: bool = False) -> dict[str, Op]:
        ops = {
            "create": Op(self.create, m.Create),
            "list": Op(self.list, m.Empty),
            "get": Op(self.get, m.TaskRef),
            "toggle": Op(self.toggle, m.Toggle),
            "delete": Op(self.delete, m.TaskRef),
            "trigger": Op(self.trigger, m.TaskRef),
            "runs": Op(self.runs, m.Runs),
            "global_stats": Op(self.global_stats, m.Empty),
            "agent_stats": Op(self.agent_stats, m.AgentRef),
            "admin_schedules": Op(self.admin_schedules, AdminPage),
        }
        if test_clock:
            ops["set_clock"] = Op(self.set_clock, m.SetClock)
        return ops
