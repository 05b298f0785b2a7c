"""The A2A operations a caller reaches through a hosted agent's endpoint: send, get, list, cancel, the event log
streams replay from, and push-notification configs. Every task is visible to its caller and its hosted agent
only; anyone else gets TaskNotFound, never another caller's data."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from nats.aio.client import Client as NATS

from services.a2a import lifecycle
from services.a2a import models as m
from services.a2a.peers import Peers
from services.a2a.push import PushGuard
from services.a2a.store import A2AStore, not_found
from shared.bus import Ctx
from shared.errors import BadRequest
from shared.ops import OpGroup, op
from shared.subjects import a2a_task


def encode_cursor(updated_at: datetime, task_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([updated_at.isoformat(), task_id])).decode()


def decode_cursor(token: str) -> tuple[datetime, str] | None:
    if not token:
        return None
    try:
        stamp, task_id = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        return datetime.fromisoformat(stamp), str(task_id)
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        raise BadRequest("pageToken is not a token this server issued") from exc


class TaskOps(OpGroup):
    def __init__(
        self, store: A2AStore, peers: Peers, push: PushGuard, nc: NATS, committed: Callable[[], None]
    ) -> None:
        self.store, self.peers, self.push, self.nc, self.committed = store, peers, push, nc, committed

    async def _notify(self, task_id: str) -> None:
        """After a commit: publish its outbox events and push deliveries now, and wake the streams and blocking
        sends waiting on this task (they re-read the durable log)."""
        self.committed()
        await self.nc.publish(a2a_task(task_id), b"")

    @op()
    async def send_message(self, req: m.SendMessage, ctx: Ctx) -> dict[str, Any]:
        caller = ctx.require_agent()
        message = req.request.message.wire()
        config = req.request.configuration
        if message["role"] != "ROLE_USER":
            raise BadRequest("A caller's message has role ROLE_USER")
        if message.get("taskId"):
            row = await self.store.visible_task(message["taskId"], req.agent_id, caller)
            if row["caller_id"] != caller:
                raise not_found(message["taskId"])
            if message.get("contextId") and message["contextId"] != row["context_id"]:
                raise BadRequest("contextId does not match the task's context")
            task, last = await self.store.add_message(
                row, message, lifecycle.after_caller_message(row["state"])
            )
        else:
            await self.peers.exists(req.agent_id, ctx)
            push = None
            if config is not None and config.task_push_notification_config is not None:
                push = config.task_push_notification_config.wire()
                await self.push.check(push["url"])
            metadata = req.request.metadata
            timeout = (metadata or {}).get("inputTimeoutSeconds")
            task, last = await self.store.create(
                req.agent_id,
                caller,
                message,
                metadata,
                int(timeout) if isinstance(timeout, (int, float)) and timeout > 0 else None,
                push,
            )
            self.peers.to_inbox(
                caller,
                req.agent_id,
                {"type": "a2a.task", "task_id": task["id"], "context_id": task["contextId"]},
                ctx,
            )
        await self._notify(task["id"])
        if config is not None and config.history_length is not None:
            task["history"] = (
                task.get("history", [])[-config.history_length :] if config.history_length else []
            )
        return {"task": task, "last_seq": last, "wait": config.waits if config is not None else True}

    @op()
    async def get_task(self, req: m.TaskRef, ctx: Ctx) -> dict[str, Any]:
        row = await self.store.visible_task(req.id, req.agent_id, ctx.require_agent())
        return await self.store.snapshot(row, req.history_length)

    @op()
    async def list_tasks(self, req: m.ListTasks, ctx: Ctx) -> dict[str, Any]:
        rows, total = await self.store.list_tasks(
            req.agent_id,
            ctx.require_agent(),
            req.context_id,
            req.status,
            req.page_size,
            decode_cursor(req.page_token),
        )
        tasks = [await self.store.snapshot(r, req.history_length or 0, req.include_artifacts) for r in rows]
        for task in tasks:
            if not task.get("history"):
                task.pop("history", None)
        more = len(rows) == req.page_size and total > req.page_size
        token = encode_cursor(rows[-1]["updated_at"], rows[-1]["task_id"]) if rows and more else ""
        return {"tasks": tasks, "nextPageToken": token, "pageSize": req.page_size, "totalSize": total}

    @op()
    async def cancel_task(self, req: m.TaskRef, ctx: Ctx) -> dict[str, Any]:
        viewer = ctx.require_agent()
        await self.store.visible_task(req.id, req.agent_id, viewer)
        task = await self.store.set_state(req.id, lifecycle.after_cancel, None, None, actor=viewer)
        await self._notify(req.id)
        return task

    @op()
    async def task_events(self, req: m.TaskEvents, ctx: Ctx) -> dict[str, Any]:
        """The task's durable event log after `after` (what streams send and replay) and its current state."""
        row = await self.store.visible_task(req.id, req.agent_id, ctx.require_agent())
        events = await self.store.events_after(req.id, req.after, req.limit)
        return {"events": events, "state": row["state"], "last_seq": row["last_seq"]}

    @op()
    async def subscribe_start(self, req: m.TaskRef, ctx: Ctx) -> dict[str, Any]:
        """SubscribeToTask's first answer: the Task and the log position it reflects; refused once ended."""
        row = await self.store.visible_task(req.id, req.agent_id, ctx.require_agent())
        if row["state"] in m.TERMINAL:
            raise BadRequest(
                f"Task is {row['state']}: nothing more to stream",
                lifecycle.a2a_error(lifecycle.UNSUPPORTED_OPERATION),
            )
        return {"task": await self.store.snapshot(row), "last_seq": row["last_seq"]}

    # ── push-notification configs (the caller's own, per task) ──

    @op()
    async def create_push_config(self, req: m.CreatePushConfig, ctx: Ctx) -> dict[str, Any]:
        viewer = ctx.require_agent()
        task_id = req.config.task_id
        if not task_id:
            raise BadRequest("taskId is required")
        await self.store.visible_task(task_id, req.agent_id, viewer)
        config = req.config.wire()
        await self.push.check(config["url"])
        return await self.store.add_push_config(task_id, viewer, config)

    @op()
    async def get_push_config(self, req: m.PushConfigRef, ctx: Ctx) -> dict[str, Any]:
        viewer = ctx.require_agent()
        await self.store.visible_task(req.task_id, req.agent_id, viewer)
        found = await self.store.push_configs(req.task_id, viewer, req.id)
        if not found:
            raise not_found(req.task_id)
        return found[0]

    @op()
    async def list_push_configs(self, req: m.ListPushConfigs, ctx: Ctx) -> dict[str, Any]:
        viewer = ctx.require_agent()
        await self.store.visible_task(req.task_id, req.agent_id, viewer)
        return {"configs": await self.store.push_configs(req.task_id, viewer), "nextPageToken": ""}

    @op()
    async def delete_push_config(self, req: m.PushConfigRef, ctx: Ctx) -> dict[str, Any]:
        viewer = ctx.require_agent()
        await self.store.visible_task(req.task_id, req.agent_id, viewer)
        await self.store.delete_push_config(req.task_id, viewer, req.id)
        return {}

    @op()
    async def push_deliveries(self, req: m.ListPushConfigs, ctx: Ctx) -> dict[str, Any]:
        """The delivery log of the caller's push configs of one task."""
        viewer = ctx.require_agent()
        await self.store.visible_task(req.task_id, req.agent_id, viewer)
        return {"deliveries": await self.store.delivery_log(req.task_id, viewer)}
