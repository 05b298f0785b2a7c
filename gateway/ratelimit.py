"""Per-agent rate limit shared by all gateway replicas: GCRA over one Postgres row per agent.

GCRA keeps a "theoretical arrival time" (tat). Each allowed request moves it forward by the emission
interval (60 s / limit); a request is refused when that would put tat more than a minute ahead of now.
That is exactly "N requests per rolling minute, bursts up to N", with one atomic statement per request.
"""
from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

import asyncpg

from shared.errors import Unavailable

WINDOW_S = 60.0

ALLOW = """
INSERT INTO gateway.rate_limits AS r (agent_id, tat) VALUES ($1, now() + make_interval(secs => $2))
ON CONFLICT (agent_id) DO UPDATE SET tat = greatest(r.tat, now()) + make_interval(secs => $2)
  WHERE greatest(r.tat, now()) + make_interval(secs => $2) <= now() + make_interval(secs => $3)
RETURNING extract(epoch FROM tat - now())::float8
"""
AHEAD = "SELECT extract(epoch FROM tat - now())::float8 FROM gateway.rate_limits WHERE agent_id = $1"


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_s: int  # seconds until the budget is whole again
    retry_after_s: int = 0


class RateLimiter:
    def __init__(self, pool: asyncpg.Pool, per_minute: int) -> None:
        self._pool, self.limit = pool, per_minute

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    async def check(self, key: str, per_minute: int | None = None) -> Decision:
        """Spend one request of `key`'s budget (an agent id, or another key with its own limit)."""
        limit = per_minute or self.limit
        try:
            return await asyncio.wait_for(self._check(key, limit, WINDOW_S / limit), 3.0)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, asyncio.TimeoutError) as exc:
            raise Unavailable("Rate limiter unavailable") from exc

    async def blocked(self, key: str, per_minute: int) -> int:
        """Seconds until `key` may spend again (0 = it may now), without spending anything."""
        try:
            ahead = await asyncio.wait_for(self._pool.fetchval(AHEAD, key), 3.0)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, asyncio.TimeoutError) as exc:
            raise Unavailable("Rate limiter unavailable") from exc
        wait = (ahead or 0.0) + WINDOW_S / per_minute - WINDOW_S
        return math.ceil(wait) if wait > 0 else 0

    async def _check(self, key: str, limit: int, interval: float) -> Decision:
        ahead = await self._pool.fetchval(ALLOW, key, interval, WINDOW_S)
        if ahead is not None:
            remaining = max(0, math.floor((WINDOW_S - ahead) / interval + 1e-9))
            return Decision(True, limit, remaining, math.ceil(ahead))
        ahead = await self._pool.fetchval(AHEAD, key) or WINDOW_S
        retry = max(1, math.ceil(ahead + interval - WINDOW_S))
        return Decision(False, limit, 0, math.ceil(ahead), retry)
