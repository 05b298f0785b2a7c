"""The public directory views: leaderboard, statistics, the collaboration network, one agent's public
profile.

Credits, completed tasks and request counts belong to the marketplace and the gateway: they are asked in
batches of at most 500 agents (see peers.py). An owner that does not answer leaves its numbers at 0
(credits: the directory's own column) rather than failing the request."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from services.directory.models.agents import AgentRef, Empty
from services.directory.models.reputation import Leaderboard
from services.directory.peers import BATCH, Peers
from services.directory.store.presence import PresenceStore
from services.directory.store.profiles import ProfileStore
from services.directory.store.reputation import ReputationStore
from services.directory.store.requests import RequestCountStore
from shared.bus import Ctx
from shared.errors import NotFound
from shared.ops import OpGroup, op
from shared.timeutil import iso

# 1.0's profile fields for programmes this server has none of (featuring, verification; 1.0's per-agent
# uptime_pct was a constant 99.0): present, so 1.0's clients find them, and saying so rather than inventing.
NOT_TRACKED = {"featured": False, "verified": False}
PARALLEL_BATCHES = 4  # questions in flight at once for a long list
MAX_RANKED = 10_000  # public agents considered for a leaderboard not sorted by reputation
NETWORK_NODES = 200


class PublicOps(OpGroup):
    def __init__(
        self,
        profiles: ProfileStore,
        reputation: ReputationStore,
        presence: PresenceStore,
        peers: Peers,
        requests: RequestCountStore,
    ) -> None:
        self.profiles, self.reputation, self.presence, self.peers = profiles, reputation, presence, peers
        self.requests = requests

    async def _numbers(
        self, agents: list[dict[str, Any]], ctx: Ctx, *, tasks: bool = True, requests: bool = False
    ) -> None:
        """Fill each agent's credits (and tasks_completed, requests) in place: batches asked a few at a time."""
        gate = asyncio.Semaphore(PARALLEL_BATCHES)

        async def batch(chunk: list[dict[str, Any]]) -> None:
            ids = [a["agent_id"] for a in chunk]
            asks = [self.peers.balances(ids, ctx)]
            if tasks:
                asks.append(self.peers.public_activity({"agent_ids": ids}, ctx))
            if requests:
                asks.append(self.requests.counts(ids))
            async with gate:
                balances, *more = await asyncio.gather(*asks)
            done = (more.pop(0) or {}).get("tasks_completed", {}) if tasks else {}
            counts = (more.pop(0) or {}) if requests else {}
            for agent in chunk:
                agent["credits"] = (balances or {}).get(agent["agent_id"], agent["credits"])
                if tasks:
                    agent["tasks_completed"] = done.get(agent["agent_id"], 0)
                if requests:
                    agent["requests"] = counts.get(agent["agent_id"], 0)

        await asyncio.gather(*(batch(agents[i : i + BATCH]) for i in range(0, len(agents), BATCH)))

    @op()
    async def leaderboard(self, req: Leaderboard, ctx: Ctx) -> dict[str, Any]:
        total = await self.profiles.public_count()
        ranked_here = req.sort_by == "reputation"
        agents = await self.profiles.ranked(req.limit if ranked_here else MAX_RANKED)
        await self._numbers(agents, ctx, requests=req.sort_by == "requests")
        if not ranked_here:  # stable: ties keep the reputation order
            agents.sort(key=lambda a: a[req.sort_by], reverse=True)
        board = [
            {
                "rank": i,
                "agent_id": a["agent_id"],
                "name": a["name"],
                "reputation": float(a["reputation"]),
                "credits": int(a["credits"]),
                "tasks_completed": a["tasks_completed"],
            }
            for i, a in enumerate(agents[: req.limit], start=1)
        ]
        return {"leaderboard": board, "total_agents": total, "sort_by": req.sort_by}

    @op()
    async def directory_stats(self, req: Empty, ctx: Ctx) -> dict[str, Any]:
        rows = await self.profiles.public_capabilities()
        caps = Counter(c for r in rows for c in set(r["capabilities"]))
        agents = [{"agent_id": r["agent_id"], "credits": r["credits"]} for r in rows]
        await self._numbers(agents, ctx, tasks=False)
        activity = await self.peers.public_activity({"agent_ids": []}, ctx)
        return {
            "total_agents": len(rows),
            "online_agents": await self.presence.online_count(),
            "total_capabilities": sorted(caps),
            "top_capabilities": [
                {"name": n, "count": c} for n, c in sorted(caps.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
            ],
            "total_marketplace_tasks": (activity or {}).get("total_tasks", 0),
            "total_credits_distributed": sum(int(a["credits"]) for a in agents),
        }

    @op()
    async def network(self, req: Empty, ctx: Ctx) -> dict[str, Any]:
        agents = await self.profiles.network_nodes(NETWORK_NODES)
        await self._numbers(agents, ctx, tasks=False)
        await self.presence.fill(agents)
        nodes = [
            {
                "id": a["agent_id"],
                "name": a["name"],
                "status": a["heartbeat_status"],
                "reputation": float(a["reputation"]),
                "description": a["description"],
                "skills": a["skills"],
                "interests": a["interests"],
                "capabilities": a["capabilities"],
                "credits": int(a["credits"]),
                "available": a["available"],
                **NOT_TRACKED,
                "created_at": iso(a["created_at"]),
            }
            for a in agents
        ]
        edges = await self.reputation.edges([a["agent_id"] for a in agents])
        return {
            "nodes": nodes,
            "edges": edges,
            "stats": {
                "total_agents": len(nodes),
                "online_agents": sum(n["status"] == "online" for n in nodes),
                "total_edges": len(edges),
            },
        }

    @op()
    async def public_profile(self, req: AgentRef, ctx: Ctx) -> dict[str, Any]:
        agent = await self.profiles.public_profile(req.agent_id)
        if agent is None:
            raise NotFound("Agent not found or not public")
        await self._numbers([agent], ctx)
        activity = await self.peers.public_activity(
            {"agent_ids": [req.agent_id], "recent_for": req.agent_id}, ctx
        )
        presence = await self.presence.own(req.agent_id)
        return {
            "agent_id": agent["agent_id"],
            "name": agent["name"],
            "description": agent["description"],
            "capabilities": agent["capabilities"],
            "reputation": float(agent["reputation"]),
            "reputation_count": agent["reputation_count"],
            "credits": int(agent["credits"]),
            "tasks_completed": agent["tasks_completed"],
            "member_since": agent["created_at"].date().isoformat(),
            "heartbeat_status": presence["heartbeat_status"],
            "last_heartbeat_at": presence["heartbeat_at"],
            "available": agent["available"],
            "skills": agent["skills"],
            "role": agent["role"],
            "uptime_pct": None,
            **NOT_TRACKED,
            "recent_marketplace_activity": (activity or {}).get("recent", []),
        }
