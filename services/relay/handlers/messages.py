"""Message operations: a message is stored, then pushed to the recipient's sockets on any gateway; its
inbox, read marks, status, trace and dead letters; the push hops gateways report."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from nats.aio.client import Client as NATS

from services.relay import trace
from services.relay.agents import KnownAgents
from services.relay.models.messages import DeadLetters, Inbox, MessageRef, PushedHop, Send
from services.relay.stores.messages import MessageStore
from shared import envelope, subjects
from shared.bus import Ctx
from shared.errors import BadRequest, NotFound, Unauthorized
from shared.ops import OpGroup, op
from shared.timeutil import utcnow


class MessageHandlers(OpGroup):
    def __init__(self, store: MessageStore, agents: KnownAgents, nc: NATS, kick: Callable[[], None]) -> None:
        self.store, self.agents, self.nc, self.kick = store, agents, nc, kick

    @op()
    async def send(self, req: Send, ctx: Ctx) -> dict[str, Any]:
        sender = ctx.require_agent()
        accepted_at = utcnow()
        if not await self.agents.exists(sender, ctx):  # deleted, with a socket still open
            raise Unauthorized("Agent not found")
        if not await self.agents.exists(req.to_agent, ctx):
            raise NotFound("Recipient agent not found")
        frame = await self.store.send(sender, req.to_agent, req.channel, req.payload, accepted_at)
        await self.nc.publish(
            subjects.push(req.to_agent),
            envelope.dumps(frame),  # live sockets, any gateway
            headers={subjects.PUSH_STORED_AT: repr(time.time())},
        )
        self.kick()
        return {"message_id": frame["message_id"], "status": "delivered"}

    @op()
    async def inbox(self, req: Inbox, ctx: Ctx) -> dict[str, Any]:
        channel = None if req.channel in ("*", "") else req.channel
        messages = await self.store.inbox(
            ctx.require_agent(), channel, req.unread_only, req.limit, req.offset, req.after
        )
        if messages is None:
            raise BadRequest("Invalid cursor: no such message in your inbox")
        # where to continue forward from: the newest message returned (1.0's next_cursor)
        newest = max(messages, key=lambda msg: (msg["created_at"], msg["message_id"]), default=None)
        return {
            "channel": req.channel or None,
            "messages": messages,
            "count": len(messages),
            "next_cursor": newest["message_id"] if newest else None,
        }

    @op()
    async def mark_read(self, req: MessageRef, ctx: Ctx) -> dict[str, Any]:
        if not await self.store.mark_read(ctx.require_agent(), req.message_id):
            raise NotFound("Message not found or already read")
        return {"message_id": req.message_id, "status": "read"}

    @op()
    async def message_status(self, req: MessageRef, ctx: Ctx) -> dict[str, Any]:
        viewer = ctx.require_agent()
        msg = await self.store.message(req.message_id, viewer)
        if msg is None:
            raise NotFound("Message not found")
        return trace.status(msg, await self.store.hops(msg, viewer))

    @op()
    async def message_trace(self, req: MessageRef, ctx: Ctx) -> dict[str, Any]:
        viewer = ctx.require_agent()
        msg = await self.store.message(req.message_id, viewer)
        if msg is None:
            raise NotFound("Message not found")
        return {"message_id": req.message_id, "hops": await self.store.hops(msg, viewer)}

    @op()
    async def dead_letters(self, req: DeadLetters, ctx: Ctx) -> dict[str, Any]:
        found = await self.store.dead_letters(ctx.require_agent(), req.limit)
        return {"messages": found, "count": len(found)}

    @op()
    async def record_push(self, req: PushedHop, ctx: Ctx) -> dict[str, Any]:
        """From gateways (fan-out notice `bus.relay.message_pushed`, queue group relay): a trace hop."""
        at = datetime.fromtimestamp(req.at, UTC)
        await self.store.record_push(req.message_id, req.gateway, req.sockets, at)
        return {"message_id": req.message_id, "status": "recorded"}
