"""Operator views of the directory and the cascading agent delete, for the admin panel."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from services.directory.credits import LedgerBalances
from services.directory.store import DirectoryStore
from shared import subjects
from shared.admin import AdminPage, page
from shared.bus import Ctx, Op, call
from shared.errors import NotFound
from shared.models import AgentId, Request
from shared.purge import request_agent_purge


class AgentRef(Request):
    agent_id: AgentId


class DirectoryAdmin:
    def __init__(
        self,
        store: DirectoryStore,
        nc: NATS,
        js: JetStreamContext,
        services: list[str],
        balances: LedgerBalances | None = None,
    ) -> None:
        self.store, self.nc, self.js, self.services = store, nc, js, services
        self.balances = balances  # the panel shows the ledger's balances, as the API does

    async def agents(self, req: AdminPage, ctx: Ctx) -> dict[str, Any]:
        ctx.require_admin()
        items, total = await self.store.admin_agents(req.limit, req.offset)
        if self.balances is not None:
            await self.balances.fill(items, ctx)
        return page(items, total, req)

    async def agent(self, req: AgentRef, ctx: Ctx) -> dict[str, Any]:
        """The profile plus what each service holds for the agent (services that do not answer are listed)."""
        ctx.require_admin()
        profile = await self.store.profile(req.agent_id)
        if profile is None:
            raise NotFound("Agent not found")
        if self.balances is not None:
            await self.balances.fill([profile], ctx)
        others = [s for s in self.services if s != "directory"]
        replies = await asyncio.gather(
            *(
                call(
                    self.nc, subjects.svc(s, "agent_stats"), {"agent_id": req.agent_id}, timeout=1.0, ctx=ctx
                )
                for s in others
            )
        )
        activity = {s: r.data for s, r in zip(others, replies, strict=False) if r.ok}
        return {
            **profile,
            "activity": activity,
            "unavailable": [s for s, r in zip(others, replies, strict=False) if not r.ok],
        }

    async def delete_agent(self, req: AgentRef, ctx: Ctx) -> dict[str, Any]:
        """Publish the durable purge command first (every service deletes the agent's data), then remove
        the agent so its key stops working, and tell the gateways to forget the cached key."""
        ctx.require_admin()
        if await self.store.profile(req.agent_id) is None:
            raise NotFound("Agent not found")
        await request_agent_purge(self.js, req.agent_id)
        await self.store.delete_agent(req.agent_id)
        await self.nc.publish(subjects.AGENT_DELETED, orjson.dumps({"agent_id": req.agent_id}))
        return {"status": "deleted", "agent_id": req.agent_id}

    async def stats(self, req: Request, ctx: Ctx) -> dict[str, int]:
        counts = await self.store.counts()
        return {"agents": counts["registered_agents"], "public_agents": counts["public_agents"]}

    def ops(self) -> dict[str, Op]:
        return {
            "admin_agents": Op(self.agents, AdminPage),
            "admin_agent": Op(self.agent, AgentRef),
            "admin_delete_agent": Op(self.delete_agent, AgentRef),
            "admin_stats": Op(self.stats, Request),
        }
