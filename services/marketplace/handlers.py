"""Marketplace operations: the seed's task workflow plus cancel and the credits statement."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.marketplace import models as m
from services.marketplace.ledger import Ledger
from services.marketplace.store import TaskStore
from shared.admin import AdminPage, page
from shared.bus import Ctx, Op


class MarketplaceHandlers:
    def __init__(self, tasks: TaskStore, ledger: Ledger, after_commit: Callable[[], None]) -> None:
        self.tasks, self.ledger = tasks, ledger
        self.after_commit = after_commit  # publish outbox events and rating notices now

    async def create(self, req: m.Create, ctx: Ctx) -> dict[str, Any]:
        return await self.tasks.create(ctx.require_agent(), req)

    async def browse(self, req: m.Browse, ctx: Ctx) -> dict[str, Any]:
        tasks = await self.tasks.browse(req)
        return {"tasks": tasks, "count": len(tasks)}

    async def get(self, req: m.TaskRef, ctx: Ctx) -> dict[str, Any]:
        """Public, as in the original; the delivered result shows only when its creator or worker asks."""
        return await self.tasks.get(ctx.agent_id, req.task_id)

    async def claim(self, req: m.TaskRef, ctx: Ctx) -> dict[str, Any]:
        out = await self.tasks.claim(ctx.require_agent(), req.task_id)
        self.after_commit()
        return out

    async def deliver(self, req: m.Deliver, ctx: Ctx) -> dict[str, Any]:
        out = await self.tasks.deliver(ctx.require_agent(), req.task_id, req.result)
        self.after_commit()
        return out

    async def review(self, req: m.Review, ctx: Ctx) -> dict[str, Any]:
        out = await self.tasks.review(ctx.require_agent(), req.task_id, req.accept, req.rating)
        self.after_commit()
        return out

    async def cancel(self, req: m.TaskRef, ctx: Ctx) -> dict[str, Any]:
        return await self.tasks.cancel(ctx.require_agent(), req.task_id)

    async def credits(self, req: m.Statement, ctx: Ctx) -> dict[str, Any]:
        return await self.ledger.statement(ctx.require_agent(), req.limit)

    # ── internal: balances for the directory, stats, admin panel ──
    async def balances(self, req: m.Balances, ctx: Ctx) -> dict[str, int]:
        return await self.ledger.balances(req.agent_ids)

    async def public_activity(self, req: m.PublicActivity, ctx: Ctx) -> dict[str, Any]:
        return await self.tasks.public_activity(req.agent_ids, req.recent_for)

    async def agent_stats(self, req: m.AgentRef, ctx: Ctx) -> dict[str, int]:
        agent_id = ctx.agent_or_named(req.agent_id)
        balance = (await self.ledger.balances([agent_id]))[agent_id]
        return {"credits": balance, **await self.tasks.agent_counts(agent_id)}

    async def global_stats(self, req: m.Empty, ctx: Ctx) -> dict[str, int]:
        totals = await self.ledger.totals()
        return {
            "credits_in_circulation": totals["balances"] + totals["escrowed"],
            "credits_escrowed": totals["escrowed"],
        }

    async def admin_tasks(self, req: AdminPage, ctx: Ctx) -> dict[str, Any]:
        ctx.require_admin()
        items, total = await self.tasks.admin_tasks(req.status, req.agent_id, req.limit, req.offset)
        return page(items, total, req)

    async def admin_stats(self, req: m.Empty, ctx: Ctx) -> dict[str, int]:
        totals = await self.ledger.totals()
        _, tasks = await self.tasks.admin_tasks(None, None, 1, 0)
        return {"marketplace_tasks": tasks, "credits_in_circulation": totals["balances"] + totals["escrowed"]}

    def ops(self) -> dict[str, Op]:
        return {
            "create": Op(self.create, m.Create),
            "browse": Op(self.browse, m.Browse),
            "get": Op(self.get, m.TaskRef),
            "claim": Op(self.claim, m.TaskRef),
            "deliver": Op(self.deliver, m.Deliver),
            "review": Op(self.review, m.Review),
            "cancel": Op(self.cancel, m.TaskRef),
            "credits": Op(self.credits, m.Statement),
            "balances": Op(self.balances, m.Balances),
            "public_activity": Op(self.public_activity, m.PublicActivity),
            "agent_stats": Op(self.agent_stats, m.AgentRef),
            "global_stats": Op(self.global_stats, m.Empty),
            "admin_tasks": Op(self.admin_tasks, AdminPage),
            "admin_stats": Op(self.admin_stats, m.Empty),
        }
