"""Operations on dead letters: list them, replay one or many (a fresh attempt budget), purge them."""

from __future__ import annotations

from typing import Any

from services.queue import models as m
from services.queue.store import JobStore
from shared.bus import Ctx
from shared.errors import Conflict, NotFound
from shared.ops import OpGroup, op
from shared.timeutil import iso


class DeadLetterHandlers(OpGroup):
    def __init__(self, store: JobStore) -> None:
        self.store = store

    @op()
    async def dead_letters(self, req: m.DeadLetterList, ctx: Ctx) -> dict[str, Any]:
        jobs = await self.store.dead_letters(
            ctx.require_agent(), req.queue_name, req.since, req.until, req.limit, req.offset
        )
        return {"jobs": jobs, "count": len(jobs)}

    @op()
    async def replay(self, req: m.JobRef, ctx: Ctx) -> dict[str, Any]:
        found = await self.store.replay(ctx.require_agent(), req.job_id)
        if found is None:
            raise NotFound("Job not found")
        status, at = found
        if status != "dead_letter":
            raise Conflict(f"Job is {status}, not in the dead-letter state")
        return {"job_id": req.job_id, "status": "pending", "replayed_at": iso(at)}

    @op()
    async def replay_dead_letters(self, req: m.DeadLetterFilter, ctx: Ctx) -> dict[str, Any]:
        n = await self.store.replay_many(ctx.require_agent(), req.queue_name, req.since, req.until, req.limit)
        return {"status": "replayed", "replayed": n}

    @op()
    async def purge_dead_letters(self, req: m.DeadLetterFilter, ctx: Ctx) -> dict[str, Any]:
        n = await self.store.purge_dead_letters(ctx.require_agent(), req.queue_name, req.since, req.until)
        return {"status": "purged", "purged": n}
