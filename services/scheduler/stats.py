"""Operations that count schedules (health and per-agent counters) and the admin list."""

from __future__ import annotations

from typing import Any

from services.scheduler import models as m
from services.scheduler.store import SchedulerStore
from shared.admin import AdminPage, page
from shared.bus import Ctx
from shared.ops import OpGroup, op


class StatsHandlers(OpGroup):
    def __init__(self, store: SchedulerStore) -> None:
        self.store = store

    @op()
    async def global_stats(self, req: m.Empty, ctx: Ctx) -> dict[str, int]:
        return {"active_schedules": await self.store.count_active()}

    @op()
    async def agent_stats(self, req: m.AgentRef, ctx: Ctx) -> dict[str, int]:
        agent_id = ctx.agent_or_named(req.agent_id)
        return {"active_schedules": await self.store.count_active(agent_id)}

    @op(admin=True)
    async def admin_schedules(self, req: AdminPage, ctx: Ctx) -> dict[str, Any]:
        items, total = await self.store.admin_schedules(req.agent_id, req.limit, req.offset)
        return page(items, total, req)
