"""All SQL of directory.request_counts: the gateways count authenticated requests in memory and report them in
batches (`record_requests`); /v1/stats and the leaderboard read them here, so the directory never asks a
gateway for anything (the gateways call the directory, never the other way round)."""

from __future__ import annotations

import asyncpg

RECORD = """
INSERT INTO directory.request_counts AS c (agent_id, requests)
SELECT * FROM unnest($1::text[], $2::bigint[])
ON CONFLICT (agent_id) DO UPDATE SET requests = c.requests + EXCLUDED.requests, last_seen_at = now()
"""


class RequestCountStore:
    """All SQL of directory.request_counts."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def record(self, counts: dict[str, int]) -> None:
        await self.pool.execute(RECORD, list(counts), list(counts.values()))

    async def counts(self, agent_ids: list[str]) -> dict[str, int]:
        rows = await self.pool.fetch(
            "SELECT agent_id, requests FROM directory.request_counts WHERE agent_id = ANY($1)", agent_ids
        )
        found = {r["agent_id"]: int(r["requests"]) for r in rows}
        return {a: found.get(a, 0) for a in agent_ids}
