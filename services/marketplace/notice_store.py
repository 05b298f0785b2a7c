"""The store of `marketplace.rating_notices`: ratings the directory has yet to record (reputation).

A notice is written in the review's transaction (`add`, on the review's connection) and deleted only once
the directory has recorded it (`deliver`), so a rating is never lost between the two services."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg


class RatingNoticeStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def add(self, conn: asyncpg.Connection, rating_id: str, agent_id: str, rating: int) -> None:
        await conn.execute(
            "INSERT INTO marketplace.rating_notices (rating_id, agent_id, rating) VALUES ($1, $2, $3)",
            rating_id,
            agent_id,
            rating,
        )

    async def deliver(self, send: Callable[[dict[str, Any]], Awaitable[bool]], batch: int = 50) -> int:
        """Hand the oldest notices to `send` (True = recorded, delete it; False = stop, keep the rest for the
        next pass). SKIP LOCKED: replicas delivering together share the notices."""
        sent = 0
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT rating_id, agent_id, rating FROM marketplace.rating_notices"
                " ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED",
                batch,
            )
            for r in rows:
                if not await send(dict(r)):
                    break
                await conn.execute(
                    "DELETE FROM marketplace.rating_notices WHERE rating_id = $1", r["rating_id"]
                )
                sent += 1
        return sent
