"""The event stream over HTTP (GET /v1/events, the JSON long poll of /v1/events/stream, POST
/v1/events/ack): an agent's events from JetStream after a cursor, and what it acknowledged."""

from __future__ import annotations

from typing import Any

from nats.js import JetStreamContext

from services.relay import stream
from services.relay.models.events import Ack, Events
from services.relay.stores.events import EventAckStore
from shared.bus import Ctx
from shared.ops import OpGroup, op


class EventHandlers(OpGroup):
    def __init__(self, store: EventAckStore, js: JetStreamContext) -> None:
        self.store, self.js = store, js

    @op()
    async def events(self, req: Events, ctx: Ctx) -> dict[str, Any]:
        """From `after`, or else from the acknowledged cursor leaving out events acknowledged by id."""
        agent_id = ctx.require_agent()
        after = req.after if req.after is not None else await self.store.cursor(agent_id)
        types = {t.strip() for t in (req.types or "").split(",") if t.strip()} | (
            {req.event_type} if req.event_type else set()
        )

        async def acknowledged(ids: list[str]) -> set[str]:
            return await self.store.acked_among(agent_id, ids)

        found = await stream.read_events(
            self.js,
            agent_id,
            after,
            req.limit,
            req.wait,
            types or None,
            acknowledged if req.after is None else None,
        )
        return {"events": found, "count": len(found), "cursor": found[-1]["cursor"] if found else after}

    @op()
    async def events_ack(self, req: Ack, ctx: Ctx) -> dict[str, Any]:
        """Our cursor (everything up to it), 1.0's event ids (those events), or both."""
        agent_id = ctx.require_agent()
        out: dict[str, Any] = {}
        if req.cursor is not None:
            await self.store.ack_cursor(agent_id, req.cursor)
            out.update(status="acknowledged", cursor=req.cursor)
        if req.event_ids is not None:
            out["acknowledged"] = await self.store.ack_ids(agent_id, req.event_ids)
        return out
