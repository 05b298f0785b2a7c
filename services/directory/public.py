"""MoltGrid 1.0's public directory views: leaderboard, statistics, the collaboration network, one agent's
public profile, and an agent's own collaborations.

Credits and completed tasks belong to the marketplace: they are asked in batches of at most 500 agents
(`svc.marketplace.balances` / `public_activity`); request counts are the directory's own (services/directory/
requests.py, reported by the gateways).
An owner that does not answer leaves its numbers at 0 (credits: the directory's own column) rather than
failing the request.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Annotated, Any, Literal

import asyncpg
from nats.aio.client import Client as NATS
from pydantic import Field

from services.directory.presence import Presence
from services.directory.requests import RequestCountStore
from shared.bus import Ctx, Op, call
from shared.crypto import Cipher
from shared.errors import NotFound
from shared.models import AgentId, Request
from shared.subjects import svc
from shared.timeutil import iso

# 1.0's profile fields for programmes this server has none of (featuring, verification; 1.0's per-agent
# uptime_pct was a constant 99.0): present, so 1.0's clients find them, and saying so rather than inventing.
NOT_TRACKED = {"featured": False, "verified": False}

BATCH = 500  # agents per question to another service (their batch limit)
PARALLEL_BATCHES = 4  # questions in flight at once for a long list
MAX_RANKED = 10_000  # public agents considered for a leaderboard not sorted by reputation
NETWORK_NODES = 200
ASK_TIMEOUT = 1.0
SortBy = Literal["reputation", "credits", "tasks_completed", "requests"]


class Leaderboard(Request):
    sort_by: SortBy = "reputation"
    limit: Annotated[int, Field(ge=1, le=100)] = 20


class Page(Request):
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    offset: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0


class AgentRef(Request):
    agent_id: AgentId


class Empty(Request):
    pass


class PublicDirectory:
    def __init__(
        self, pool: asyncpg.Pool, cipher: Cipher, nc: NATS, presence: Presence, requests: RequestCountStore
    ) -> None:
        self.pool, self.cipher, self.nc, self.presence = pool, cipher, nc, presence
        self.requests = requests

    async def _ask(self, subject: str, body: dict[str, Any], ctx: Ctx) -> dict[str, Any] | None:
        reply = await call(self.nc, subject, body, timeout=ASK_TIMEOUT, ctx=ctx)
        return reply.data if reply.ok and isinstance(reply.data, dict) else None

    async def _numbers(
        self, agents: list[dict[str, Any]], ctx: Ctx, *, tasks: bool = True, requests: bool = False
    ) -> None:
        """Fill each agent's credits (and tasks_completed, requests) in place: batches asked a few at a time."""
        gate = asyncio.Semaphore(PARALLEL_BATCHES)

        async def batch(chunk: list[dict[str, Any]]) -> None:
            ids = [a["agent_id"] for a in chunk]
            asks = [self._ask(svc("marketplace", "balances"), {"agent_ids": ids}, ctx)]
            if tasks:
                asks.append(self._ask(svc("marketplace", "public_activity"), {"agent_ids": ids}, ctx))
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

    async def leaderboard(self, req: Leaderboard, ctx: Ctx) -> dict[str, Any]:
        total = int(await self.pool.fetchval("SELECT count(*) FROM directory.agents WHERE public"))
        ranked_here = req.sort_by == "reputation"
        rows = await self.pool.fetch(
            "SELECT agent_id, name, reputation, credits FROM directory.agents WHERE public"
            " ORDER BY reputation DESC, created_at LIMIT $1",
            req.limit if ranked_here else MAX_RANKED,
        )
        agents = [dict(r) for r in rows]
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

    async def stats(self, req: Empty, ctx: Ctx) -> dict[str, Any]:
        rows = await self.pool.fetch(
            "SELECT agent_id, capabilities, credits FROM directory.agents WHERE public"
        )
        caps = Counter(c for r in rows for c in set(r["capabilities"]))
        agents = [{"agent_id": r["agent_id"], "credits": r["credits"]} for r in rows]
        await self._numbers(agents, ctx, tasks=False)
        activity = await self._ask(svc("marketplace", "public_activity"), {"agent_ids": []}, ctx)
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

    async def network(self, req: Empty, ctx: Ctx) -> dict[str, Any]:
        rows = await self.pool.fetch(
            "SELECT agent_id, name, description, capabilities, skills, reputation, credits, available, created_at"
            " FROM directory.agents WHERE public ORDER BY reputation DESC, created_at DESC LIMIT $1",
            NETWORK_NODES,
        )
        agents = [dict(r) for r in rows]
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
                "interests": [],
                "capabilities": a["capabilities"],
                "credits": int(a["credits"]),
                "available": a["available"],
                **NOT_TRACKED,
                "created_at": iso(a["created_at"]),
            }
            for a in agents
        ]
        ids = [a["agent_id"] for a in agents]
        pairs = await self.pool.fetch(
            "SELECT agent_id, partner_agent, count(*) AS weight, avg(rating) AS avg_rating, max(created_at) AS last"
            " FROM directory.collaborations WHERE agent_id = ANY($1) AND partner_agent = ANY($1)"
            " GROUP BY agent_id, partner_agent ORDER BY agent_id, partner_agent",
            ids,
        )
        edges = [
            {
                "source": p["agent_id"],
                "target": p["partner_agent"],
                "type": "collaboration",
                "weight": int(p["weight"]),
                "avg_rating": round(float(p["avg_rating"]), 1),
                "last_activity": iso(p["last"]),
            }
            for p in pairs
        ]
        return {
            "nodes": nodes,
            "edges": edges,
            "stats": {
                "total_agents": len(nodes),
                "online_agents": sum(n["status"] == "online" for n in nodes),
                "total_edges": len(edges),
            },
        }

    async def profile(self, req: AgentRef, ctx: Ctx) -> dict[str, Any]:
        r = await self.pool.fetchrow(
            "SELECT agent_id, name, description, capabilities, reputation, reputation_count, credits, available,"
            " created_at, skills, role FROM directory.agents WHERE agent_id = $1 AND public",
            req.agent_id,
        )
        if r is None:
            raise NotFound("Agent not found or not public")
        agent = dict(r)
        await self._numbers([agent], ctx)
        activity = await self._ask(
            svc("marketplace", "public_activity"),
            {"agent_ids": [req.agent_id], "recent_for": req.agent_id},
            ctx,
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

    async def collaborations(self, req: Page, ctx: Ctx) -> dict[str, Any]:
        agent_id = ctx.require_agent()
        rows = await self.pool.fetch(
            "SELECT collaboration_id, agent_id, partner_agent, task_type, outcome, rating, created_at"
            " FROM directory.collaborations WHERE agent_id = $1 OR partner_agent = $1"
            " ORDER BY created_at DESC, collaboration_id LIMIT $2 OFFSET $3",
            agent_id,
            req.limit,
            req.offset,
        )
        items = [
            {
                **dict(r),
                "task_type": self.cipher.decrypt(r["task_type"]) if r["task_type"] else None,
                "created_at": iso(r["created_at"]),
            }
            for r in rows
        ]
        return {"collaborations": items, "count": len(items)}

    def ops(self) -> dict[str, Op]:
        return {
            "leaderboard": Op(self.leaderboard, Leaderboard),
            "directory_stats": Op(self.stats, Empty),
            "network": Op(self.network, Empty),
            "public_profile": Op(self.profile, AgentRef),
            "collaborations": Op(self.collaborations, Page),
        }
