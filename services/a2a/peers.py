"""What the A2A service asks other services: an agent's directory profile (for cards and for refusing tasks to
agents that do not exist or may not be seen), and the hosted agent's inbox (so a task also arrives where
MoltGrid agents already look: inbox and WebSocket push)."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from nats.aio.client import Client as NATS

from services.a2a.lifecycle import TASK_NOT_FOUND, a2a_error
from shared.bus import Ctx, call
from shared.errors import NotFound
from shared.subjects import svc

log = structlog.get_logger("a2a.peers")
TIMEOUT = 2.0


class Peers:
    def __init__(self, nc: NATS) -> None:
        self.nc = nc
        self._sending: set[asyncio.Task[None]] = set()

    async def profile(self, agent_id: str, viewer: str | None, ctx: Ctx) -> dict[str, Any]:
        """The agent's public profile, or its own for the agent itself; NotFound for anyone else."""
        reply = await call(
            self.nc, svc("directory", "public_profile"), {"agent_id": agent_id}, timeout=TIMEOUT, ctx=ctx
        )
        if reply.ok:
            profile: dict[str, Any] = reply.data
            return profile
        if reply.code == "not_found" and viewer == agent_id:
            own = await call(
                self.nc, svc("directory", "me"), {}, timeout=TIMEOUT, ctx=Ctx(ctx.request_id, agent_id)
            )
            if own.ok:
                mine: dict[str, Any] = own.data
                return mine
        if reply.code == "not_found":
            raise NotFound("Agent not found", a2a_error(TASK_NOT_FOUND))
        reply.unwrap()
        raise AssertionError("unreachable")

    async def exists(self, agent_id: str, ctx: Ctx) -> None:
        """NotFound (TaskNotFound for A2A) unless the agent is registered."""
        reply = await call(
            self.nc, svc("directory", "exists"), {"agent_id": agent_id}, timeout=TIMEOUT, ctx=ctx
        )
        if not reply.unwrap().get("exists"):
            raise NotFound("Agent not found", a2a_error(TASK_NOT_FOUND))

    def to_inbox(self, caller: str, agent_id: str, payload: dict[str, Any], ctx: Ctx) -> None:
        """Best effort, in the background: the durable notice is the `a2a.task` event; the inbox copy (and its
        WebSocket push) is a convenience that must not slow the caller's request."""
        task = asyncio.create_task(self._to_inbox(caller, agent_id, payload, ctx))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _to_inbox(self, caller: str, agent_id: str, payload: dict[str, Any], ctx: Ctx) -> None:
        reply = await call(
            self.nc,
            svc("relay", "send"),
            {"to_agent": agent_id, "channel": "a2a", "payload": payload},
            timeout=TIMEOUT,
            ctx=Ctx(ctx.request_id, caller),
        )
        if not reply.ok:
            log.warning("a2a_inbox_copy_failed", agent_id=agent_id, code=reply.code, error=reply.message)
