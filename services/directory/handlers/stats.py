"""Per-agent numbers: the directory's own `agent_stats` (reputation, collaborations) and GET /v1/stats,
the agent's numbers gathered from the services that own them.

GET /v1/stats answers the directory's fields and asks every other owner's `agent_stats` at once
(scatter-gather with a deadline) and reads the request count the gateways report; a service
that is slow, down or not deployed leaves its fields null and is named in `degraded`, and the request still
succeeds."""

from __future__ import annotations

import asyncio
from typing import Any

from nats.aio.client import Client as NATS

from services.directory.models.agents import OptionalAgentRef
from services.directory.peers import Peers
from services.directory.store.reputation import ReputationStore
from services.directory.store.requests import RequestCountStore
from shared.bus import Ctx, call
from shared.errors import NotFound
from shared.ops import OpGroup, op
from shared.subjects import svc

GATHER_TIMEOUT = 1.0  # seconds, below the gateway's request timeout
# Who owns which field of the contract's reply (each answers its `agent_stats`).
OWNERS: dict[str, tuple[str, ...]] = {
    "memory": ("memory_keys", "shared_memory_keys"),
    "queue": ("jobs_submitted",),
    "relay": ("messages_sent", "messages_received", "active_webhooks"),
    "scheduler": ("active_schedules",),
    "marketplace": ("credits", "marketplace_tasks_created", "marketplace_tasks_completed"),
}
ORDER = (
    "agent_id",
    "name",
    "created_at",
    "total_requests",
    "memory_keys",
    "jobs_submitted",
    "messages_sent",
    "messages_received",
    "active_webhooks",
    "active_schedules",
    "shared_memory_keys",
    "credits",
    "reputation",
    "collaborations_given",
    "collaborations_received",
    "marketplace_tasks_created",
    "marketplace_tasks_completed",
)
OWN = ("reputation", "collaborations_given", "collaborations_received")


class StatsOps(OpGroup):
    def __init__(
        self, reputation: ReputationStore, peers: Peers, requests: RequestCountStore, nc: NATS
    ) -> None:
        self.reputation, self.peers, self.requests, self.nc = reputation, peers, requests, nc

    async def _own(self, agent_id: str) -> dict[str, Any]:
        own = await self.reputation.agent_numbers(agent_id)
        if own is None:
            raise NotFound("Agent not found")
        return own

    @op()
    async def agent_stats(self, req: OptionalAgentRef, ctx: Ctx) -> dict[str, Any]:
        own = await self._own(ctx.agent_or_named(req.agent_id))
        return {k: own[k] for k in OWN}

    @op()
    async def stats(self, req: OptionalAgentRef, ctx: Ctx) -> dict[str, Any]:
        agent_id = ctx.require_agent()
        return await self._gather(ctx, {"agent_id": agent_id, **await self._own(agent_id)})

    async def _gather(self, ctx: Ctx, own: dict[str, Any]) -> dict[str, Any]:
        """`own` holds the directory's fields; the rest come from their owners (or are null)."""
        agent_id = own["agent_id"]
        services = list(OWNERS)
        replies, counts = await asyncio.gather(
            asyncio.gather(
                *(
                    call(
                        self.nc,
                        svc(s, "agent_stats"),
                        {"agent_id": agent_id},
                        timeout=GATHER_TIMEOUT,
                        ctx=ctx,
                    )
                    for s in services
                )
            ),
            self.requests.counts([agent_id]),
        )
        fields: dict[str, Any] = dict(own)
        degraded = []
        fields["total_requests"] = counts.get(agent_id, 0)
        for service, reply in zip(services, replies, strict=False):
            data = reply.data if reply.ok and isinstance(reply.data, dict) else None
            if data is None:
                degraded.append(service)
            for name in OWNERS[service]:
                fields[name] = data.get(name) if data is not None else None
        if "marketplace" in degraded:  # the directory's own copy is better than nothing
            fields["credits"] = own.get("credits")
        return {**{k: fields.get(k) for k in ORDER}, "degraded": degraded}
