"""Heartbeats, and the sweep that declares silent agents offline (see store/presence.py for how the
agent.offline event is written exactly once per silence)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from services.directory.models.presence import MAX_METADATA, Heartbeat
from services.directory.store.presence import SWEEP_BATCH, PresenceStore
from shared.bus import Ctx
from shared.errors import BadRequest
from shared.ops import OpGroup, op


class PresenceOps(OpGroup):
    def __init__(self, presence: PresenceStore, kick: Callable[[], None]) -> None:
        self.presence, self.kick = presence, kick

    @op()
    async def heartbeat(self, req: Heartbeat, ctx: Ctx) -> dict[str, Any]:
        agent_id = ctx.require_agent()
        raw = orjson.dumps(req.metadata) if req.metadata is not None else None
        if raw is not None and len(raw) > MAX_METADATA:
            raise BadRequest("metadata exceeds 4KB limit")
        beat_at, emitted = await self.presence.beat(agent_id, req.status, raw)
        if emitted:
            self.kick()
        return {"agent_id": agent_id, "status": req.status, "heartbeat_at": beat_at}

    async def sweep(self) -> int:
        """Declare every agent silent past the timeout offline, with its event (any replica, exactly once)."""
        total = 0
        while True:
            found = await self.presence.sweep_batch()
            total += found
            if found:
                self.kick()
            if found < SWEEP_BATCH:
                return total
