"""Per-agent rate limit shared by all gateway replicas: GCRA over one Postgres row per key.

GCRA keeps a "theoretical arrival time" (tat). Each allowed request moves it forward by the emission
interval (60 s / limit); a request is refused when that would put tat more than a minute ahead of now.
That is exactly "N requests per rolling minute, bursts up to N".

Checks that arrive while a query is in flight are coalesced: one UPDATE decides a whole batch (one row
per key, k of its n requests allowed), so a busy gateway pays one round trip per batch, not per request.
The UPDATE re-checks the budget against the row it locked; if another replica moved it in between, those
keys fall back to the one-statement-per-request path, so the limit stays exact.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from dataclasses import dataclass

import asyncpg

from shared.errors import Unavailable

WINDOW_S = 60.0
# InternalClientError: a pooled connection the server terminated during a shutdown (see shared.db).
DB_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    asyncio.TimeoutError,
)

ALLOW = """
INSERT INTO gateway.rate_limits AS r (agent_id, tat) VALUES ($1, now() + make_interval(secs => $2))
ON CONFLICT (agent_id) DO UPDATE SET tat = greatest(r.tat, now()) + make_interval(secs => $2)
  WHERE greatest(r.tat, now()) + make_interval(secs => $2) <= now() + make_interval(secs => $3)
RETURNING extract(epoch FROM tat - now())::float8
"""
REFUND = "UPDATE gateway.rate_limits SET tat = tat - make_interval(secs => $2) WHERE agent_id = $1"
AHEAD = "SELECT extract(epoch FROM tat - now())::float8 FROM gateway.rate_limits WHERE agent_id = $1"
ENSURE_ROWS = """
INSERT INTO gateway.rate_limits (agent_id, tat) SELECT k, now() - interval '1 hour' FROM unnest($1::text[]) k
ON CONFLICT (agent_id) DO NOTHING
"""
# $1 keys, $2 request counts, $3 interval, $4 window. k = how many of a key's n requests fit.
ALLOW_BATCH = """
UPDATE gateway.rate_limits rl
   SET tat = greatest(rl.tat, now()) + make_interval(secs => d.k * $3)
  FROM (SELECT q.key, least(q.n, greatest(0, floor(
               ($4 - extract(epoch FROM greatest(x.tat, now()) - now())) / $3 + 1e-9)))::int AS k
          FROM unnest($1::text[], $2::int[]) AS q(key, n)
          JOIN gateway.rate_limits x ON x.agent_id = q.key) d
 WHERE rl.agent_id = d.key
   AND greatest(rl.tat, now()) + make_interval(secs => d.k * $3) <= now() + make_interval(secs => $4)
RETURNING rl.agent_id, d.k, extract(epoch FROM rl.tat - now())::float8 AS ahead
"""
MAX_KNOWN = 200_000


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
        self._pending: dict[str, list[asyncio.Future[Decision]]] = defaultdict(list)
        self._flushing = False
        self._known: set[str] = set()  # keys whose row exists
        self._settling: set[asyncio.Future[None]] = set()  # one-by-one decisions in flight

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    async def check(self, key: str, per_minute: int | None = None) -> Decision:
        """Spend one request of `key`'s budget (an agent id, or another key with its own limit)."""
        if per_minute and per_minute != self.limit:
            return await self._single(key, per_minute)
        future: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
        self._pending[key].append(future)
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self._flush()))
        return await future

    async def refund(self, key: str, per_minute: int) -> None:
        """Give back one request spent with `check(key, per_minute)` (e.g. a login that turned out right)."""
        try:
            await asyncio.wait_for(self._pool.execute(REFUND, key, WINDOW_S / per_minute), 3.0)
        except DB_ERRORS as exc:
            raise Unavailable("Rate limiter unavailable") from exc

    async def _single(self, key: str, limit: int) -> Decision:
        interval = WINDOW_S / limit
        try:
            ahead = await asyncio.wait_for(self._pool.fetchval(ALLOW, key, interval, WINDOW_S), 3.0)
            if ahead is None:
                ahead = await asyncio.wait_for(self._pool.fetchval(AHEAD, key), 3.0) or WINDOW_S
                return self._decision(False, limit, ahead)
        except DB_ERRORS as exc:
            raise Unavailable("Rate limiter unavailable") from exc
        return self._decision(True, limit, ahead)

    @staticmethod
    def _decision(allowed: bool, limit: int, ahead: float) -> Decision:
        interval = WINDOW_S / limit
        if allowed:
            remaining = max(0, math.floor((WINDOW_S - ahead) / interval + 1e-9))
            return Decision(True, limit, remaining, math.ceil(ahead))
        retry = max(1, math.ceil(ahead + interval - WINDOW_S))
        return Decision(False, limit, 0, math.ceil(ahead), retry)

    async def _flush(self) -> None:
        """Decide batches until nothing is pending; one batch in flight at a time."""
        try:
            while self._pending:
                batch, self._pending = self._pending, defaultdict(list)
                try:
                    await asyncio.wait_for(self._decide(batch), 3.0)
                except DB_ERRORS:
                    for futures in batch.values():
                        for f in futures:
                            if not f.done():
                                f.set_exception(Unavailable("Rate limiter unavailable"))
        finally:
            self._flushing = False

    async def _decide(self, batch: dict[str, list[asyncio.Future[Decision]]]) -> None:
        interval = WINDOW_S / self.limit
        keys = list(batch)
        new = [k for k in keys if k not in self._known]
        if new:
            await self._pool.execute(ENSURE_ROWS, new)
            if len(self._known) > MAX_KNOWN:
                self._known.clear()
            self._known.update(new)
        rows = await self._pool.fetch(ALLOW_BATCH, keys, [len(batch[k]) for k in keys], interval, WINDOW_S)
        decided = set()
        for row in rows:
            key, allowed, ahead = row["agent_id"], row["k"], row["ahead"]
            decided.add(key)
            for i, future in enumerate(batch[key]):
                if not future.done():
                    future.set_result(self._decision(i < allowed, self.limit, ahead))
        for key in keys:  # raced with another replica (or the row vanished): decide one by one
            if key not in decided:
                self._known.discard(key)
                for future in batch[key]:
                    if not future.done():
                        settle = asyncio.ensure_future(self._settle(future, key))
                        self._settling.add(settle)
                        settle.add_done_callback(self._settling.discard)

    async def _settle(self, future: asyncio.Future[Decision], key: str) -> None:
        try:
            future.set_result(await self._single(key, self.limit))
        except Exception as exc:  # Unavailable
            future.set_exception(exc)
