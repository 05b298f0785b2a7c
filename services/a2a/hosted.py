"""The hosted agent's side: the A2A tasks addressed to it (its work queue) and the status updates with which it
moves them on, through its own MoltGrid key over REST (GET /v1/a2a/tasks, POST /v1/a2a/tasks/{id}/status)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nats.aio.client import Client as NATS

from services.a2a import lifecycle
from services.a2a import models as m
from services.a2a.store import A2AStore
from services.a2a.tasks import decode_cursor, encode_cursor
from shared.bus import Ctx
from shared.errors import Conflict
from shared.ops import OpGroup, op
from shared.subjects import a2a_task


class HostedOps(OpGroup):
    def __init__(self, store: A2AStore, nc: NATS, committed: Callable[[], None]) -> None:
        self.store, self.nc, self.committed = store, nc, committed  # committed: publish outbox and pushes now

    @op()
    async def hosted_tasks(self, req: m.HostedTasks, ctx: Ctx) -> dict[str, Any]:
        rows = await self.store.hosted_tasks(
            ctx.require_agent(), req.state, decode_cursor(req.cursor or ""), req.limit
        )
        tasks = []
        for row in rows:
            task = await self.store.snapshot(row)
            tasks.append({**task, "callerId": row["caller_id"]})
        cursor = (
            encode_cursor(rows[-1]["updated_at"], rows[-1]["task_id"]) if len(rows) == req.limit else None
        )
        return {"tasks": tasks, "count": len(tasks), "next_cursor": cursor}

    @op()
    async def update_status(self, req: m.StatusUpdate, ctx: Ctx) -> dict[str, Any]:
        agent = ctx.require_agent()
        message = req.message.wire() if req.message is not None else None
        if message is not None:
            message["role"] = "ROLE_AGENT"
        new_state = req.state

        def move(current: str) -> str:
            return lifecycle.after_agent_update(current, new_state)

        task = await self.store.set_state(
            req.task_id,
            move,
            message,
            [a.wire() for a in req.artifacts or []],
            actor=agent,
            only_agent=agent,
        )
        self.committed()
        await self.nc.publish(a2a_task(req.task_id), b"")
        return task

    async def expire_waits(self) -> None:
        """Interrupted tasks whose caller let the task's own input timeout pass end as failed."""
        for task_id in await self.store.expired_waits():

            def fail(current: str) -> str:
                return lifecycle.after_agent_update(current, "TASK_STATE_FAILED")

            try:
                await self.store.set_state(task_id, fail, None, None, actor="")
            except Conflict:
                continue
            self.committed()
            await self.nc.publish(a2a_task(task_id), b"")
