"""The scheduler's notion of "now": the real time, or — for tests — the real time plus an offset that every
replica reads from Postgres (so one `svc.scheduler.set_clock` moves all replicas' clocks at once)."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from shared.timeutil import utcnow


class Clock:
    def __init__(self, pool: asyncpg.Pool, test_mode: bool = False) -> None:
        self.pool, self.test_mode = pool, test_mode

    async def offset(self) -> float:
        if not self.test_mode:
            return 0.0
        value = await self.pool.fetchval("SELECT offset_seconds FROM scheduler.clock")
        return float(value or 0.0)

    async def now(self) -> datetime:
        return utcnow() + timedelta(seconds=await self.offset())

    async def set_offset(self, seconds: float) -> None:
        await self.pool.execute(
            "INSERT INTO scheduler.clock (id, offset_seconds) VALUES (true, $1)"
            " ON CONFLICT (id) DO UPDATE SET offset_seconds = EXCLUDED.offset_seconds",
            seconds,
        )
