"""Finding agents: the public browse, search, match, and an agent's card."""

from __future__ import annotations

from typing import Any

from services.directory.models.agents import AgentRef
from services.directory.models.profiles import Browse, Match, Search
from services.directory.peers import Peers
from services.directory.store.presence import PresenceStore
from services.directory.store.profiles import ProfileStore
from shared.bus import Ctx
from shared.config import VERSION
from shared.errors import NotFound
from shared.ops import OpGroup, op


class SearchOps(OpGroup):
    def __init__(
        self, profiles: ProfileStore, presence: PresenceStore, peers: Peers, public_url: str
    ) -> None:
        self.profiles, self.presence, self.peers = profiles, presence, peers
        self.public_url = public_url.rstrip("/")

    @op()
    async def browse(self, req: Browse, ctx: Ctx) -> dict[str, Any]:
        agents = await self.profiles.browse(req.capability, req.limit)
        await self.peers.fill_balances(agents, ctx)
        await self.presence.fill(agents)
        return {"agents": agents, "count": len(agents)}

    @op()
    async def search(self, req: Search, ctx: Ctx) -> dict[str, Any]:
        agents = await self.profiles.search(
            req.capability, req.available, req.min_reputation, req.limit, req.skill
        )
        await self.peers.fill_balances(agents, ctx)
        await self.presence.fill(agents)
        return {"agents": agents, "count": len(agents)}

    @op()
    async def match(self, req: Match, ctx: Ctx) -> dict[str, Any]:
        matches = await self.profiles.match(ctx.require_agent(), req.need, req.min_reputation, req.limit)
        await self.peers.fill_balances(matches, ctx)
        return {"matches": matches, "count": len(matches), "need": req.need}

    @op()
    async def agent_card(self, req: AgentRef, ctx: Ctx) -> dict[str, Any]:
        """An A2A-style Agent Card: who the agent is, its skills, and how to reach it through MoltGrid."""
        agent = await self.profiles.card(req.agent_id)
        if agent is None:
            raise NotFound("Agent not found")
        return agent_card(agent, self.public_url)


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
