"""Pub/sub operations (/v1/pubsub/*) on the relay's own machinery.

A publication is stored once (stores.pubsub); each subscriber sees it as an ordinary relay message (inbox
channel `pubsub:<channel>`), pushed on `push.<agent_id>` to its sockets on every gateway, with its
`message.broadcast` event on the EVENTS stream (the event stream, webhooks) — see broadcast.py. The
publication is also published once on the NATS subject `pubsub.<channel>` for outside NATS subscribers.
"""

from __future__ import annotations

from typing import Any

from nats.aio.client import Client as NATS

from services.relay import channels
from services.relay.agents import KnownAgents
from services.relay.broadcast import Broadcaster
from services.relay.models.common import Empty
from services.relay.models.pubsub import Channels, Publish, Subscribe
from services.relay.stores.pubsub import MAX_SUBSCRIPTIONS, PubSubStore
from shared import envelope
from shared.bus import Ctx
from shared.errors import BadRequest, RateLimited, Unauthorized
from shared.ids import new_id
from shared.ops import OpGroup, op
from shared.timeutil import iso


class PubSubHandlers(OpGroup):
    prefix = "pubsub_"

    def __init__(self, store: PubSubStore, agents: KnownAgents, nc: NATS, broadcaster: Broadcaster) -> None:
        self.store, self.agents, self.nc, self.broadcaster = store, agents, nc, broadcaster

    @op()
    async def subscribe(self, req: Subscribe, ctx: Ctx) -> dict[str, Any]:
        try:
            pattern = channels.parse_pattern(req.channel)
        except channels.ChannelError as exc:
            raise BadRequest(str(exc)) from None
        done = await self.store.subscribe(ctx.require_agent(), pattern)
        if done is None:
            raise RateLimited(f"Subscription limit reached ({MAX_SUBSCRIPTIONS} max per agent).")
        subscribed_at, new = done
        return {
            "channel": req.channel,
            "status": "subscribed" if new else "already_subscribed",
            "subscribed_at": iso(subscribed_at),
        }

    @op()
    async def unsubscribe(self, req: Subscribe, ctx: Ctx) -> dict[str, Any]:
        removed = await self.store.unsubscribe(ctx.require_agent(), req.channel)
        return {"channel": req.channel, "status": "unsubscribed" if removed else "not_subscribed"}

    @op()
    async def subscriptions(self, req: Empty, ctx: Ctx) -> dict[str, Any]:
        subs = await self.store.subscriptions(ctx.require_agent())
        return {"subscriptions": subs, "count": len(subs)}

    @op()
    async def channels(self, req: Channels, ctx: Ctx) -> dict[str, Any]:
        ctx.require_agent()
        found = await self.store.channels(req.limit)
        return {"channels": found, "count": len(found)}

    @op()
    async def publish(self, req: Publish, ctx: Ctx) -> dict[str, Any]:
        sender = ctx.require_agent()
        if not await self.agents.exists(sender, ctx):  # deleted, with a socket or request still in flight
            raise Unauthorized("Agent not found")
        try:
            tokens = channels.parse_channel(req.channel)
        except channels.ChannelError as exc:
            raise BadRequest(str(exc)) from None
        publication_id = new_id("pub", 16)
        stored, subscribers = await self.store.publish(
            publication_id, sender, req.channel, tokens, req.payload
        )
        created_at = iso(stored)
        self.broadcaster.deliver(publication_id, sender, req.channel, req.payload, stored, subscribers)
        await self.nc.publish(
            channels.subject(req.channel),
            envelope.dumps(
                {
                    "publication_id": publication_id,
                    "channel": req.channel,
                    "from_agent": sender,
                    "payload": req.payload,
                    "created_at": created_at,
                    "subscribers_notified": len(subscribers),
                }
            ),
        )
        return {
            "message_id": publication_id,
            "channel": req.channel,
            "subscribers_notified": len(subscribers),
            "created_at": created_at,
        }
