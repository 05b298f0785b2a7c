"""Per-agent request counts: counted in memory per request and reported to the directory, which owns them
(`svc.directory.record_requests`), in one call every few seconds, so counting costs no round trip on the hot
path. The directory answers /v1/stats and the leaderboard from them without asking any gateway."""

from __future__ import annotations

import asyncio
from collections import Counter

import asyncpg
import structlog
from nats.aio.client import Client as NATS

from shared.bus import call
from shared.subjects import svc

log = structlog.get_logger("usage")
RECORD = svc("directory", "record_requests")
BATCH = 10_000  # agents per report (the directory's limit)


class Usage:
    def __init__(self, nc: NATS, timeout: float) -> None:
        self._nc, self._timeout = nc, timeout
        self._pending: Counter[str] = Counter()

    def count(self, agent_id: str) -> None:
        self._pending[agent_id] += 1

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, Counter()
        items = list(batch.items())
        for i in range(0, len(items), BATCH):
            chunk = dict(items[i : i + BATCH])
            reply = await call(self._nc, RECORD, {"counts": chunk}, timeout=self._timeout)
            if not reply.ok:  # kept for the next report (the directory restarting, NATS away)
                self._pending.update(chunk)
                log.warning("usage_report_failed", error=reply.code, message=reply.message)

    async def carry_over(self, pool: asyncpg.Pool) -> None:
        """Report the counts gateways kept in their own table before the directory owned them, batch by batch,
        deleting each batch only once the directory took it (rows locked meanwhile, so two gateways starting
        together report each row once)."""
        while True:
            async with pool.acquire() as conn, conn.transaction():
                rows = await conn.fetch(
                    "SELECT agent_id, requests FROM gateway.request_counts ORDER BY agent_id"
                    " LIMIT $1 FOR UPDATE SKIP LOCKED",
                    BATCH,
                )
                if not rows:
                    return
                counts = {r["agent_id"]: int(r["requests"]) for r in rows if r["requests"] > 0}
                if counts:
                    reply = await call(self._nc, RECORD, {"counts": counts}, timeout=self._timeout)
                    if not reply.ok:
                        raise RuntimeError(f"the directory did not take the old counts: {reply.code}")
                await conn.execute(
                    "DELETE FROM gateway.request_counts WHERE agent_id = ANY($1)",
                    [r["agent_id"] for r in rows],
                )

    async def run(self, every: float = 2.0) -> None:
        while True:
            await asyncio.sleep(every)
            await self.flush()
