"""Queue operations: the seed's submit/get/claim/complete/list, leases, retries, dead letters, stats."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.queue import models as m
from services.queue.maintenance import Maintenance
from services.queue.store import QueueStore
from shared.admin import AdminPage, page
from shared.bus import Ctx
from shared.errors import Conflict, NotFound
from shared.ops import OpGroup, op


class QueueHandlers(OpGroup):
    def __init__(self, store: QueueStore, maintenance: Maintenance, kick: Callable[[], None]) -> None:
        self.store, self.maint, self.kick = store, maintenance, kick  # kick: publish outbox events now

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

    @op()
    async def claim(self, req: m.Claim, ctx: Ctx) -> dict[str, Any]:
        job = await self.store.claim(ctx.require_agent(), req.queue_name, req.visibility_timeout)
        return job if job is not None else {"status": "empty", "queue_name": req.queue_name}

    @op()
    async def complete(self, req: m.Complete, ctx: Ctx) -> dict[str, Any]:
        await self.store.complete(ctx.require_agent(), req.job_id, req.result, req.attempt)
        self.kick()
        return {"job_id": req.job_id, "status": "completed"}

    @op("list")
    async def list_jobs(self, req: m.List, ctx: Ctx) -> dict[str, Any]:
        jobs = await self.store.list_jobs(ctx.require_agent(), req.queue_name, req.status, req.limit)
        return {"queue_name": req.queue_name, "jobs": jobs, "count": len(jobs)}

    @op()
    async def fail(self, req: m.Fail, ctx: Ctx) -> dict[str, Any]:
        out = await self.store.fail(ctx.require_agent(), req)
        self.kick()
        return out

    @op()
    async def heartbeat(self, req: m.Heartbeat, ctx: Ctx) -> dict[str, Any]:
        return await self.store.heartbeat(ctx.require_agent(), req)

    @op()
    async def stats(self, req: m.Stats, ctx: Ctx) -> dict[str, Any]:
        queues = await self.maint.stats(ctx.require_agent(), req.queue_name)
        return {"queues": queues, "count": len(queues)}

    @op()
    async def dead_letters(self, req: m.DeadLetterList, ctx: Ctx) -> dict[str, Any]:
        jobs = await self.maint.dead_letters(
            ctx.require_agent(), req.queue_name, req.since, req.until, req.limit, req.offset
        )
        return {"jobs": jobs, "count": len(jobs)}

    @op()
    async def replay(self, req: m.JobRef, ctx: Ctx) -> dict[str, Any]:
        found = await self.maint.replay(ctx.require_agent(), req.job_id)
        if found is None:
            raise NotFound("Job not found")
        if found != "dead_letter":
            raise Conflict(f"Job is {found}, not in the dead-letter state")
        return {"job_id": req.job_id, "status": "pending"}

    @op()
    async def replay_dead_letters(self, req: m.DeadLetterFilter, ctx: Ctx) -> dict[str, Any]:
        n = await self.maint.replay_many(ctx.require_agent(), req.queue_name, req.since, req.until, req.limit)
        return {"status": "replayed", "replayed": n}

    @op()
    async def purge_dead_letters(self, req: m.DeadLetterFilter, ctx: Ctx) -> dict[str, Any]:
        n = await self.maint.purge_dead_letters(ctx.require_agent(), req.queue_name, req.since, req.until)
        return {"status": "purged", "purged": n}

    # ── internal: health stats, per-agent stats, admin panel ──
    @op()
    async def global_stats(self, req: m.Empty, ctx: Ctx) -> dict[str, int]:
        return {"total_jobs": await self.maint.total_jobs()}

    @op()
    async def agent_stats(self, req: m.AgentRef, ctx: Ctx) -> dict[str, int]:
        agent_id = ctx.agent_or_named(req.agent_id)
        return {"jobs_submitted": await self.maint.jobs_of(agent_id)}

    @op(admin=True)
    async def admin_jobs(self, req: AdminPage, ctx: Ctx) -> dict[str, Any]:
        items, total = await self.maint.admin_jobs(req.agent_id, req.status, req.limit, req.offset)
        return page(items, total, req)
