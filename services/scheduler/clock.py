"""The scheduler's notion of "now": the real time, or — for tests — the real time plus an offset that every
replica reads from Postgres (so one `svc.scheduler.set_clock` moves all replicas' clocks at once), and the
operation that moves it, served only when the test clock is on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.scheduler import models as m
from services.scheduler.store import SchedulerStore
from shared.bus import Ctx
from shared.errors import BadRequest
from shared.ops import OpGroup, op
from shared.timeutil import iso, utcnow


class Clock:
    def __init__(self, store: SchedulerStore, test_mode: bool = False) -> None:
        self.store, self.test_mode = store, test_mode

    async def offset(self) -> float:
        return await self.store.clock_offset() if self.test_mode else 0.0

    async def now(self) -> datetime:
        return utcnow() + timedelta(seconds=await self.offset())

    async def set_offset(self, seconds: float) -> None:
        await self.store.set_clock_offset(seconds)


class TestClockHandlers(OpGroup):
    """`svc.scheduler.set_clock`, registered only with MOLTGRID_SCHEDULER_TEST_CLOCK=true (tests)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    @op()
    async def set_clock(self, req: m.SetClock, ctx: Ctx) -> dict[str, Any]:
        """Give an absolute `now`, an offset from the real time, or seconds to advance by."""
        if req.now is not None:
            now = req.now if req.now.tzinfo else req.now.replace(tzinfo=UTC)
            offset = (now - utcnow()).total_seconds()
        elif req.offset_seconds is not None:
            offset = req.offset_seconds
        elif req.advance_seconds is not None:
            offset = await self.clock.offset() + req.advance_seconds
        else:
            raise BadRequest("give one of now, offset_seconds, advance_seconds")
        await self.clock.set_offset(offset)
        return {"now": iso(utcnow() + timedelta(seconds=offset)), "offset_seconds": offset}
