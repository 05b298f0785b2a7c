"""The operator's panel: agents and collaborations, one agent with what every service holds for it, and
the cascading agent delete."""

from __future__ import annotations

import asyncio
from typing import Any

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from services.directory import notices
from services.directory.models.agents import AgentRef, Empty
from services.directory.peers import Peers
from services.directory.store.agents import AgentStore
from services.directory.store.reputation import ReputationStore
from shared import subjects
from shared.admin import AdminPage, page
from shared.bus import Ctx, call
from shared.errors import NotFound
from shared.ops import OpGroup, op
from shared.purge import request_agent_purge


class AdminOps(OpGroup):
    def __init__(
        self,
        agents: AgentStore,
        reputation: ReputationStore,
        peers: Peers,
        nc: NATS,
        js: JetStreamContext,
        services: list[str],
    ) -> None:
        self.agents, self.reputation, self.peers = agents, reputation, peers
        self.nc, self.js, self.services = nc, js, services

    @op(admin=True)
    async def admin_agents(self, req: AdminPage, ctx: Ctx) -> dict[str, Any]:
        items, total = await self.agents.page(req.limit, req.offset)
        await self.peers.fill_balances(items, ctx)  # the panel shows the ledger's balances, as the API does
        return page(items, total, req)

    @op(admin=True)
    async def admin_agent(self, req: AgentRef, ctx: Ctx) -> dict[str, Any]:
        """The profile plus what each service holds for the agent (services that do not answer are listed)."""
        profile = await self.agents.profile(req.agent_id)
        if profile is None:
            raise NotFound("Agent not found")
        await self.peers.fill_balances([profile], ctx)
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

    @op(admin=True)
    async def admin_delete_agent(self, req: AgentRef, ctx: Ctx) -> dict[str, Any]:
        """Publish the durable purge command first (every service deletes the agent's data), then remove
        the agent so its key stops working, and tell the gateways to forget the cached key."""
        if not await self.agents.exists(req.agent_id):
            raise NotFound("Agent not found")
        await request_agent_purge(self.js, req.agent_id)
        await self.agents.delete(req.agent_id)
        await notices.agent_deleted(self.nc, req.agent_id)
        return {"status": "deleted", "agent_id": req.agent_id}

    @op(admin=True)
    async def admin_collaborations(self, req: AdminPage, ctx: Ctx) -> dict[str, Any]:
        items, total = await self.reputation.page(req.agent_id, req.limit, req.offset)
        return page(items, total, req)

    @op()  # counts only, asked of every service alike (not admin-only anywhere)
    async def admin_stats(self, req: Empty, ctx: Ctx) -> dict[str, int]:
        counts = await self.agents.counts()
        return {"agents": counts["registered_agents"], "public_agents": counts["public_agents"]}
