"""Delivers review ratings to the directory (reputation). Notices are written in the review's transaction
and deleted only once the directory has recorded them; the directory keeps each rating_id under a unique
constraint, so a notice delivered twice (crash after recording, two replicas) counts once."""

from __future__ import annotations

import asyncio

import asyncpg
import structlog
from nats.aio.client import Client as NATS

from shared.bus import call
from shared.subjects import svc

log = structlog.get_logger("marketplace.notices")


class RatingNotices:
    def __init__(self, pool: asyncpg.Pool, nc: NATS) -> None:
        self.pool, self.nc = pool, nc
        self._wake = asyncio.Event()

    def kick(self) -> None:
        """Deliver soon (call after committing a review that wrote a notice)."""
        self._wake.set()

    async def run(self, poll: float) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), poll)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.deliver()
            except Exception as exc:  # Postgres away: retry on the next pass
                log.warning("rating_notices_failed", error=str(exc))

    async def deliver(self, batch: int = 50) -> int:
        sent = 0
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT rating_id, agent_id, rating FROM marketplace.rating_notices"
                " ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED",
                batch,
            )
            for r in rows:
                reply = await call(self.nc, svc("directory", "record_rating"), dict(r), timeout=2.0)
                if not reply.ok and reply.code != "not_found":  # directory away: keep it for the next pass
                    log.warning("rating_notice_failed", rating_id=r["rating_id"], code=reply.code)
                    break
                await conn.execute(
                    "DELETE FROM marketplace.rating_notices WHERE rating_id = $1", r["rating_id"]
                )
                sent += 1
        return sent
