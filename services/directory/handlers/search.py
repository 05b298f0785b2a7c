"""Finding agents: the public browse, search, match, and an agent's card."""

from __future__ import annotations

from datetime import datetime
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
from shared.timeutil import iso, utcnow

ACTIVE_S = 300  # a card's agent is `active` while its last heartbeat is younger than this (seconds)
INACTIVE_S = 3600  # and `inactive` while younger than this; `deregistered` beyond


class SearchOps(OpGroup):
    def __init__(
        self, profiles: ProfileStore, presence: PresenceStore, peers: Peers, public_url: str
    ) -> None:
        self.profiles, self.presence, self.peers = profiles, presence, peers
        self.public_url = public_url.rstrip("/")

    @op()
    async def browse(self, req: Browse, ctx: Ctx) -> dict[str, Any]:
        agents = await self.profiles.browse(req.capability, req.limit, req.offset)
        await self.peers.fill_balances(agents, ctx)
        await self.presence.fill(agents)
        return {"agents": agents, "count": len(agents)}

    @op()
    async def search(self, req: Search, ctx: Ctx) -> dict[str, Any]:
        agents = await self.profiles.search(
            req.capability, req.available, req.min_reputation, req.limit, req.skill, req.interest
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
        """The agent's card: who the agent is, its skills, how to reach it through MoltGrid, and whether it
        is alive (`status` from its last heartbeat); it links to the A2A card (`a2a_card_url`)."""
        agent = await self.profiles.card(req.agent_id)
        if agent is None:
            raise NotFound("Agent not found")
        last_seen = await self.presence.last_beat(req.agent_id)
        return agent_card(agent, self.public_url, last_seen)


def liveness(last_seen: datetime | None) -> str:
    """`active` if the last heartbeat is under 5 minutes old, `inactive` under an hour, else (or never)
    `deregistered`, as 1.0's card says."""
    if last_seen is None:
        return "deregistered"
    age = (utcnow() - last_seen).total_seconds()
    return "active" if age < ACTIVE_S else "inactive" if age < INACTIVE_S else "deregistered"


def agent_card(agent: dict[str, Any], public_url: str, last_seen: datetime | None) -> dict[str, Any]:
    """1.0's card fields at the top (agent_id, name, role, status, endpoint_url, created_at, last_seen),
    beside the A2A-style fields this route has always answered (protocolVersion, skills as objects,
    capabilities, security…), with MoltGrid-specific facts under `metadata`."""
    skills = [
        {"id": c, "name": c, "description": f"{agent['name'] or agent['agent_id']} offers {c}", "tags": [c]}
        for c in agent["capabilities"]
    ]
    return {
        "agent_id": agent["agent_id"],
        "role": agent["role"],
        "status": liveness(last_seen),
        "endpoint_url": f"{public_url}/v1/relay/send",
        "created_at": agent["created_at"],
        "last_seen": iso(last_seen),
        "a2a_card_url": f"{public_url}/a2a/{agent['agent_id']}/.well-known/agent-card.json",
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
