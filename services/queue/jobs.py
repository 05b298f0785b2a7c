"""Operations of a job's life: submit (one or a batch), read, list, claim a lease, heartbeat, complete, fail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.queue import models as m
from services.queue.store import JobStore
from shared.bus import Ctx
from shared.errors import NotFound
from shared.ops import OpGroup, op


class JobHandlers(OpGroup):
    def __init__(self, store: JobStore, kick: Callable[[], None]) -> None:
        self.store, self.kick = store, kick  # kick: publish the outbox events now

    @op()
    async def submit(self, req: m.Submit, ctx: Ctx) -> dict[str, Any]:
        return await self.store.submit(ctx.require_agent(), req)

    @op()
    async def submit_batch(self, req: m.SubmitBatch, ctx: Ctx) -> dict[str, Any]:
        """1.0's per-item result list; the items are validated together (one bad item: 422 naming its index)
        and stored in one transaction, so every item succeeds or the request fails as a whole."""
        jobs = await self.store.submit_batch(ctx.require_agent(), req.items)
        results = [{**job, "success": True, "error": None} for job in jobs]
        return {"results": results, "total": len(results), "succeeded": len(results), "failed": 0}

    @op()
    async def get(self, req: m.JobRef, ctx: Ctx) -> dict[str, Any]:
        job = await self.store.get(ctx.require_agent(), req.job_id)
        if job is None:
            raise NotFound("Job not found")
        return job

    @op("list")
    async def list_jobs(self, req: m.List, ctx: Ctx) -> dict[str, Any]:
        jobs = await self.store.list_jobs(ctx.require_agent(), req.queue_name, req.status, req.limit)
        return {"queue_name": req.queue_name, "jobs": jobs, "count": len(jobs)}

    @op()
    async def claim(self, req: m.Claim, ctx: Ctx) -> dict[str, Any]:
        job = await self.store.claim(ctx.require_agent(), req.queue_name, req.visibility_timeout)
        return job if job is not None else {"status": "empty", "queue_name": req.queue_name}

    @op()
    async def heartbeat(self, req: m.Heartbeat, ctx: Ctx) -> dict[str, Any]:
        return await self.store.heartbeat(ctx.require_agent(), req)

    @op()
    async def complete(self, req: m.Complete, ctx: Ctx) -> dict[str, Any]:
        await self.store.complete(ctx.require_agent(), req.job_id, req.result, req.attempt)
        self.kick()
        return {"job_id": req.job_id, "status": "completed"}

    @op()
    async def fail(self, req: m.Fail, ctx: Ctx) -> dict[str, Any]:
        out = await self.store.fail(ctx.require_agent(), req)
        self.kick()
        return out
