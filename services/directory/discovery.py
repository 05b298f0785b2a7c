"""Discovery operations: search, availability, collaborations and reputation, matchmaking, agent cards,
and the per-agent stats scatter-gather."""

from __future__ import annotations

from typing import Any

from nats.aio.client import Client as NATS

from services.directory import discovery_models as m
from services.directory.credits import LedgerBalances
from services.directory.discovery_store import DiscoveryStore
from services.directory.presence import Presence
from services.directory.stats import gather_stats
from shared.admin import AdminPage, page
from shared.bus import Ctx, Op
from shared.config import VERSION
from shared.errors import BadRequest, NotFound
from shared.ids import new_id
from shared.timeutil import iso

OUTCOMES = ("success", "failure", "partial")


class DiscoveryHandlers:
    def __init__(
        self,
        store: DiscoveryStore,
        nc: NATS,
        balances: LedgerBalances,
        public_url: str,
        presence: Presence | None = None,
    ) -> None:
        self.store, self.nc, self.balances, self.public_url = store, nc, balances, public_url.rstrip("/")
        self.presence = presence

    async def search(self, req: m.Search, ctx: Ctx) -> dict[str, Any]:
        agents = await self.store.search(
            req.capability, req.available, req.min_reputation, req.limit, req.skill
        )
        await self.balances.fill(agents, ctx)
        if self.presence is not None:
            await self.presence.fill(agents)
        return {"agents": agents, "count": len(agents)}

    async def update_status(self, req: m.StatusUpdate, ctx: Ctx) -> dict[str, Any]:
        agent_id = ctx.require_agent()
        if req.available is None and req.looking_for is None and req.busy_until is None:
            raise BadRequest("No fields to update")
        available = (
            False if req.available is None and req.busy_until is not None else req.available
        )  # as the original
        if not await self.store.update_status(agent_id, available, req.looking_for, req.busy_until):
            raise NotFound("Agent not found")
        return {"status": "updated", "agent_id": agent_id}

    async def collaborate(self, req: m.Collaboration, ctx: Ctx) -> dict[str, Any]:
        agent_id = ctx.require_agent()
        if req.outcome not in OUTCOMES:
            raise BadRequest("outcome must be: success, failure, or partial")
        if req.partner_agent == agent_id:
            raise BadRequest("Cannot rate yourself")
        collaboration_id = new_id("collab")
        done = await self.store.collaborate(
            collaboration_id, agent_id, req.partner_agent, req.task_type, req.outcome, req.rating
        )
        if done is None:
            raise NotFound("Partner agent not found")
        reputation, created = done
        return {
            "collaboration_id": collaboration_id,
            "agent_id": agent_id,
            "partner_agent": req.partner_agent,
            "task_type": req.task_type,
            "outcome": req.outcome,
            "rating": req.rating,
            "partner_new_reputation": reputation,
            "created_at": iso(created),
        }

    async def match(self, req: m.Match, ctx: Ctx) -> dict[str, Any]:
        matches = await self.store.match(ctx.require_agent(), req.need, req.min_reputation, req.limit)
        await self.balances.fill(matches, ctx)
        return {"matches": matches, "count": len(matches), "need": req.need}

    async def agent_card(self, req: m.AgentRef, ctx: Ctx) -> dict[str, Any]:
        """An A2A-style Agent Card: who the agent is, its skills, and how to reach it through MoltGrid."""
        agent = await self.store.public_agent(req.agent_id)
        if agent is None:
            raise NotFound("Agent not found")
        return agent_card(agent, self.public_url)

    async def record_rating(self, req: m.RecordRating, ctx: Ctx) -> dict[str, Any]:
        """Count a rating (from the marketplace's reviews) into the agent's reputation, once per rating_id."""
        try:
            rep, fresh = await self.store.record_rating(req.rating_id, req.agent_id, req.rating, req.source)
        except LookupError:
            raise NotFound("Agent not found") from None
        if rep is None:
            raise NotFound("Agent not found")
        return {"agent_id": req.agent_id, "rating_id": req.rating_id, "recorded": fresh, **rep}

    async def agent_stats(self, req: m.OptionalAgentRef, ctx: Ctx) -> dict[str, Any]:
        agent_id = ctx.agent_or_named(req.agent_id)
        own = await self.store.agent_stats(agent_id)
        if own is None:
            raise NotFound("Agent not found")
        return {k: own[k] for k in ("reputation", "collaborations_given", "collaborations_received")}

    async def stats(self, req: m.OptionalAgentRef, ctx: Ctx) -> dict[str, Any]:
        agent_id = ctx.require_agent()
        own = await self.store.agent_stats(agent_id)
        if own is None:
            raise NotFound("Agent not found")
        return await gather_stats(self.nc, ctx, {"agent_id": agent_id, **own})

    async def admin_collaborations(self, req: AdminPage, ctx: Ctx) -> dict[str, Any]:
        ctx.require_admin()
        items, total = await self.store.admin_collaborations(req.agent_id, req.limit, req.offset)
        return page(items, total, req)

    def ops(self) -> dict[str, Op]:
        return {
            "search": Op(self.search, m.Search),
            "update_status": Op(self.update_status, m.StatusUpdate),
            "collaborate": Op(self.collaborate, m.Collaboration),
            "match": Op(self.match, m.Match),
            "agent_card": Op(self.agent_card, m.AgentRef),
            "record_rating": Op(self.record_rating, m.RecordRating),
            "agent_stats": Op(self.agent_stats, m.OptionalAgentRef),
            "stats": Op(self.stats, m.OptionalAgentRef),
            "admin_collaborations": Op(self.admin_collaborations, AdminPage),
        }


def agent_card(agent: dict[str, Any], public_url: str) -> dict[str, Any]:
    """Fields follow the A2A AgentCard; MoltGrid-specific facts sit under `metadata`."""
    skills = [
        {"id": c, "name": c, "description": f"{agent['name'] or agent['agent_id']} offers {c}", "tags": [c]}
        for c in agent["capabilities"]
    ]
    return {
        "protocolVersion": "0.3.0",
        "name": agent["name"] or agent["agent_id"],
        "description": agent["description"] or "",
        "url": f"{public_url}/v1",
        "preferredTransport": "HTTP+JSON",
        "version": VERSION,
        "provider": {"organization": "MoltGrid", "url": public_url},
        "capabilities": {"streaming": False, "pushNotifications": True, "stateTransitionHistory": False},
        "securitySchemes": {
            "moltgridApiKey": {
                "type": "apiKey",
                "in": "header",
                "name": "X-API-Key",
                "description": "A MoltGrid agent key (POST /v1/register)",
            }
        },
        "security": [{"moltgridApiKey": []}],
        "defaultInputModes": ["application/json", "text/plain"],
        "defaultOutputModes": ["application/json", "text/plain"],
        "skills": skills,
        "metadata": {
            "agent_id": agent["agent_id"],
            "reputation": agent["reputation"],
            "reputation_count": agent["reputation_count"],
            "available": agent["available"],
            "busy_until": agent["busy_until"],
            "created_at": agent["created_at"],
            "role": agent["role"],
            "skills": agent["skills"],
            "message_endpoint": f"{public_url}/v1/relay/send",
            "message_body": {"to_agent": agent["agent_id"], "payload": "…"},
        },
    }
