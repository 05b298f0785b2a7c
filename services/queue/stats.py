"""Operations that count jobs: per-queue stats for the agent, the health and per-agent counters, the admin list."""

from __future__ import annotations

from typing import Any

from services.queue import models as m
from services.queue.store import JobStore
from shared.admin import AdminPage, page
from shared.bus import Ctx
from shared.ops import OpGroup, op


class StatsHandlers(OpGroup):
    def __init__(self, store: JobStore) -> None:
        self.store = store

    @op()
    async def stats(self, req: m.Stats, ctx: Ctx) -> dict[str, Any]:
        queues = await self.store.stats(ctx.require_agent(), req.queue_name)
        return {"queues": queues, "count": len(queues)}

    @op()
    async def global_stats(self, req: m.Empty, ctx: Ctx) -> dict[str, int]:
        return {"total_jobs": await self.store.total_jobs()}

    @op()
    async def agent_stats(self, req: m.AgentRef, ctx: Ctx) -> dict[str, int]:
        agent_id = ctx.agent_or_named(req.agent_id)
        return {"jobs_submitted": await self.store.jobs_of(agent_id)}

    @op(admin=True)
    async def admin_jobs(self, req: AdminPage, ctx: Ctx) -> dict[str, Any]:
        items, total = await self.store.admin_jobs(req.agent_id, req.status, req.limit, req.offset)
        return page(items, total, req)
