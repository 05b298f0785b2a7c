"""Which agents exist, as the directory says: the relay asks before it stores a message (for its sender and
its recipient) and remembers a yes for a while. A deletion must not wait for that to lapse: the directory's
fan-out notice `bus.directory.agent_deleted` reaches every relay replica, which forgets the agent at once
(and deletes what was stored for it since the durable purge ran). After a NATS reconnect, when a notice may
have been missed, everything remembered is forgotten."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import orjson
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from shared import subjects
from shared.bus import Ctx, call

log = structlog.get_logger("relay.agents")
KNOWN_AGENT_TTL_S = 60.0
MAX_KNOWN = 100_000


class KnownAgents:
    def __init__(
        self, nc: NATS, on_deleted: Callable[[str], Awaitable[int]], ttl: float = KNOWN_AGENT_TTL_S
    ) -> None:
        self.nc, self.on_deleted, self.ttl = nc, on_deleted, ttl
        self._known: dict[str, float] = {}  # agent id → until when the directory's yes holds
        self._reconnects = 0
        self._cleanups: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.nc.subscribe(subjects.AGENT_DELETED, cb=self._on_deleted)

    async def stop(self) -> None:
        for task in list(self._cleanups):
            task.cancel()

    async def _on_deleted(self, msg: Msg) -> None:
        agent_id = orjson.loads(msg.data).get("agent_id")
        if not isinstance(agent_id, str):
            return
        self._known.pop(agent_id, None)
        task = asyncio.create_task(self._cleanup(agent_id))  # the notice's callback returns at once
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)

    async def _cleanup(self, agent_id: str) -> None:
        """Messages a live socket managed to store between the durable purge and the deletion."""
        try:
            await self.on_deleted(agent_id)
        except Exception as exc:
            log.warning(
                "deleted_agent_cleanup_failed", agent_id=agent_id, error=str(exc) or type(exc).__name__
            )

    async def exists(self, agent_id: str, ctx: Ctx) -> bool:
        reconnects = self.nc.stats.get("reconnects", 0)
        if reconnects != self._reconnects:  # a deletion notice may have been sent while we were away
            self._known.clear()
            self._reconnects = reconnects
        if self._known.get(agent_id, 0.0) > time.monotonic():
            return True
        reply = await call(
            self.nc, subjects.svc("directory", "exists"), {"agent_id": agent_id}, timeout=2.0, ctx=ctx
        )
        exists = bool(reply.unwrap()["exists"])
        if exists:
            if len(self._known) > MAX_KNOWN:
                self._known.clear()
            self._known[agent_id] = time.monotonic() + self.ttl
        return exists
