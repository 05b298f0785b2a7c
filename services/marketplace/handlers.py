"""Marketplace operations, by what they serve: the task workflow (the seed's create/browse/get/claim/deliver/
review plus cancel), credits (the agent's statement, balances for the directory) and the stats every service
answers for the admin panel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.marketplace import models as m
from services.marketplace.ledger_store import LedgerStore
from services.marketplace.task_store import TaskStore
from shared.admin import AdminPage, page
from shared.bus import Ctx
from shared.netaddr import network_key
from shared.ops import OpGroup, op


class TaskHandlers(OpGroup):
    def __init__(self, tasks: TaskStore, after_commit: Callable[[], None]) -> None:
        self.tasks = tasks
        self.after_commit = after_commit  # publish outbox events and rating notices now

    @op()
    async def create(self, req: m.Create, ctx: Ctx) -> dict[str, Any]:
        return await self.tasks.create(ctx.require_agent(), req, network_key(ctx.client_addr))

    @op()
    async def browse(self, req: m.Browse, ctx: Ctx) -> dict[str, Any]:
        tasks = await self.tasks.browse(req)
        return {"tasks": tasks, "count": len(tasks)}

    @op()
    async def get(self, req: m.TaskRef, ctx: Ctx) -> dict[str, Any]:
        """Public, as in the original; the delivered result shows only when its creator or worker asks."""
        return await self.tasks.get(ctx.agent_id, req.task_id)

    @op()
    async def claim(self, req: m.TaskRef, ctx: Ctx) -> dict[str, Any]:
        out = await self.tasks.claim(ctx.require_agent(), req.task_id, network_key(ctx.client_addr))
        self.after_commit()
        return out

    @op()
    async def deliver(self, req: m.Deliver, ctx: Ctx) -> dict[str, Any]:
        out = await self.tasks.deliver(ctx.require_agent(), req.task_id, req.result)
        self.after_commit()
        return out

    @op()
    async def review(self, req: m.Review, ctx: Ctx) -> dict[str, Any]:
        out = await self.tasks.review(ctx.require_agent(), req.task_id, req.accept, req.rating)
        self.after_commit()
        return out

    @op()
    async def cancel(self, req: m.TaskRef, ctx: Ctx) -> dict[str, Any]:
        return await self.tasks.cancel(ctx.require_agent(), req.task_id)

    @op()
    async def public_activity(self, req: m.PublicActivity, ctx: Ctx) -> dict[str, Any]:
        """For the public directory: completed tasks per worker, one worker's latest."""
        return await self.tasks.public_activity(req.agent_ids, req.recent_for)

    @op(admin=True)
    async def admin_tasks(self, req: AdminPage, ctx: Ctx) -> dict[str, Any]:
        items, total = await self.tasks.admin_tasks(req.status, req.agent_id, req.limit, req.offset)
        return page(items, total, req)


class CreditHandlers(OpGroup):
    def __init__(self, ledger: LedgerStore) -> None:
        self.ledger = ledger

    @op()
    async def credits(self, req: m.Statement, ctx: Ctx) -> dict[str, Any]:
        return await self.ledger.statement(ctx.require_agent(), req.limit)

    @op()
    async def balances(self, req: m.Balances, ctx: Ctx) -> dict[str, int]:
        """For the directory: balances of several agents."""
        return await self.ledger.balances(req.agent_ids)


class StatsHandlers(OpGroup):
    """What the admin panel and the stats routes ask every service."""

    def __init__(self, tasks: TaskStore, ledger: LedgerStore) -> None:
        self.tasks, self.ledger = tasks, ledger

    @op()
    async def agent_stats(self, req: m.AgentRef, ctx: Ctx) -> dict[str, int]:
        agent_id = ctx.agent_or_named(req.agent_id)
        balance = (await self.ledger.balances([agent_id]))[agent_id]
        return {"credits": balance, **await self.tasks.agent_counts(agent_id)}

    @op()
    async def global_stats(self, req: m.Empty, ctx: Ctx) -> dict[str, int]:
        totals = await self.ledger.totals()
        return {
            "credits_in_circulation": totals["balances"] + totals["escrowed"],
            "credits_escrowed": totals["escrowed"],
        }

    @op()
    async def admin_stats(self, req: m.Empty, ctx: Ctx) -> dict[str, int]:
        totals = await self.ledger.totals()
        _, tasks = await self.tasks.admin_tasks(None, None, 1, 0)
        return {"marketplace_tasks": tasks, "credits_in_circulation": totals["balances"] + totals["escrowed"]}
