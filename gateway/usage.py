"""Per-agent request counts: counted in memory per request, flushed to Postgres in one statement every
few seconds (so counting costs no round trip on the hot path), and answered over NATS for /v1/stats."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Annotated, Any

import asyncpg
import structlog
from nats.aio.client import Client as NATS
from pydantic import Field

from shared.bus import Ctx, Op, Served, serve
from shared.models import AgentId, Request

log = structlog.get_logger("usage")
FLUSH = """
INSERT INTO gateway.request_counts AS c (agent_id, requests)
SELECT * FROM unnest($1::text[], $2::bigint[])
ON CONFLICT (agent_id) DO UPDATE SET requests = c.requests + EXCLUDED.requests, last_seen_at = now()
"""


class AgentRef(Request):
    agent_id: AgentId


class AgentIds(Request):
    agent_ids: Annotated[list[AgentId], Field(max_length=500)]


class Usage:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._pending: Counter[str] = Counter()

    def count(self, agent_id: str) -> None:
        self._pending[agent_id] += 1

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, Counter()
        try:
            await self._pool.execute(FLUSH, list(batch), list(batch.values()))
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:
            self._pending.update(batch)  # keep them for the next flush
            log.warning("usage_flush_failed", error=str(exc))

    async def run(self, every: float = 2.0) -> None:
        while True:
            await asyncio.sleep(every)
            await self.flush()

    async def agent_stats(self, req: AgentRef, ctx: Ctx) -> dict[str, Any]:
        total = await self._pool.fetchval(
            "SELECT requests FROM gateway.request_counts WHERE agent_id = $1", req.agent_id
        )
        return {"total_requests": (total or 0) + self._pending.get(req.agent_id, 0)}

    async def request_counts(self, req: AgentIds, ctx: Ctx) -> dict[str, int]:
        """Requests so far of several agents at once (the public leaderboard sorts by them)."""
        rows = await self._pool.fetch(
            "SELECT agent_id, requests FROM gateway.request_counts WHERE agent_id = ANY($1)", req.agent_ids
        )
        found = {r["agent_id"]: int(r["requests"]) for r in rows}
        return {a: found.get(a, 0) + self._pending.get(a, 0) for a in req.agent_ids}

    async def serve(self, nc: NATS) -> Served:
        """Answer svc.gateway.agent_stats (queue group `gateway`: any gateway replica may answer)."""
        return await serve(
            nc,
            "gateway",
            {
                "agent_stats": Op(self.agent_stats, AgentRef),
                "request_counts": Op(self.request_counts, AgentIds),
            },
        )
