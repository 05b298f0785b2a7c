"""Operations of a job's life: submit, read, list, claim a lease, heartbeat, complete, fail — one job at a time,
or up to 100 per request for worker fleets (claim with max_jobs; the items forms of complete, fail and
heartbeat answer per item, as queue/batch does)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.queue import models as m
from services.queue.store import JobStore
from shared.bus import Ctx
from shared.errors import Conflict, NotFound
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
    async def claim(self, req: m.Claim, ctx: Ctx) -> dict[str, Any] | list[dict[str, Any]]:
        """One job (or the seed's empty answer) by default; with max_jobs > 1, a list of up to that many."""
        jobs = await self.store.claim(
            ctx.require_agent(), req.queue_name, req.visibility_timeout, req.max_jobs
        )
        if req.max_jobs > 1:
            return jobs
        return jobs[0] if jobs else {"status": "empty", "queue_name": req.queue_name}

    @op()
    async def heartbeat(self, req: m.Heartbeat, ctx: Ctx) -> dict[str, Any]:
        return await self.store.heartbeat(ctx.require_agent(), req)

    @op()
    async def heartbeat_batch(self, req: m.HeartbeatBatch, ctx: Ctx) -> dict[str, Any]:
        outcomes = await self.store.heartbeat_many(ctx.require_agent(), req.items)
        return per_item([item.job_id for item in req.items], outcomes)

    @op()
    async def complete(self, req: m.Complete, ctx: Ctx) -> dict[str, Any]:
        await self.store.complete(ctx.require_agent(), req.job_id, req.result, req.attempt)
        self.kick()
        return {"job_id": req.job_id, "status": "completed"}

    @op()
    async def complete_batch(self, req: m.CompleteBatch, ctx: Ctx) -> dict[str, Any]:
        refused = await self.store.complete_many(
            ctx.require_agent(), [(item.job_id, item.result, item.attempt) for item in req.items]
        )
        self.kick()
        outcomes = [
            exc or {"job_id": item.job_id, "status": "completed"}
            for item, exc in zip(req.items, refused, strict=True)
        ]
        return per_item([item.job_id for item in req.items], outcomes)

    @op()
    async def fail(self, req: m.Fail, ctx: Ctx) -> dict[str, Any]:
        out = await self.store.fail(ctx.require_agent(), req)
        self.kick()
        return out

    @op()
    async def fail_batch(self, req: m.FailBatch, ctx: Ctx) -> dict[str, Any]:
        outcomes = await self.store.fail_many(ctx.require_agent(), req.items)
        self.kick()
        return per_item([item.job_id for item in req.items], outcomes)


def per_item(job_ids: list[str], outcomes: list[dict[str, Any] | NotFound | Conflict]) -> dict[str, Any]:
    """The batch answer: one result per item, in order, each the single operation's answer with success and
    error, or {job_id, success: false, status: not_found | conflict, error: why}."""
    results: list[dict[str, Any]] = []
    for job_id, outcome in zip(job_ids, outcomes, strict=True):
        if isinstance(outcome, dict):
            results.append({**outcome, "success": True, "error": None})
        else:
            status = "not_found" if isinstance(outcome, NotFound) else "conflict"
            results.append({"job_id": job_id, "success": False, "status": status, "error": outcome.message})
    succeeded = sum(1 for r in results if r["success"])
    return {
        "results": results,
        "total": len(results),
        "succeeded": succeeded,
        "failed": len(results) - succeeded,
    }
