"""Relay operations: messages (stored, then pushed to the recipient's sockets on any gateway), webhooks
and their delivery log, and the event stream for agents without inbound HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from services.relay import events, trace, webhooks
from services.relay import models as m
from services.relay.store import RelayStore
from services.relay.urlguard import check_url
from shared import envelope, subjects
from shared.admin import AdminPage, page
from shared.bus import Ctx, Op, call
from shared.errors import BadRequest, NotFound
from shared.timeutil import utcnow

KNOWN_AGENT_TTL_S = 60.0


class RelayHandlers:
    def __init__(
        self,
        store: RelayStore,
        nc: NATS,
        js: JetStreamContext,
        kick: Callable[[], None],
        allow_private_webhooks: bool,
        deliverer: webhooks.Deliverer,
    ) -> None:
        self.store, self.nc, self.js, self.kick = store, nc, js, kick
        self.allow_private = allow_private_webhooks
        self.deliverer = deliverer  # its HTTP client (with the SSRF guard) also sends test events
        self._known: dict[str, float] = {}  # recipients the directory confirmed recently

    async def _recipient_exists(self, agent_id: str, ctx: Ctx) -> bool:
        if self._known.get(agent_id, 0.0) > time.monotonic():
            return True
        exists = bool(
            (
                await call(
                    self.nc, subjects.svc("directory", "exists"), {"agent_id": agent_id}, timeout=2.0, ctx=ctx
                )
            ).unwrap()["exists"]
        )
        if exists:
            if len(self._known) > 100_000:
                self._known.clear()
            self._known[agent_id] = time.monotonic() + KNOWN_AGENT_TTL_S
        return exists

    async def send(self, req: m.Send, ctx: Ctx) -> dict[str, Any]:
        sender = ctx.require_agent()
        accepted_at = utcnow()
        if not await self._recipient_exists(req.to_agent, ctx):
            raise NotFound("Recipient agent not found")
        frame = await self.store.send(sender, req.to_agent, req.channel, req.payload, accepted_at)
        await self.nc.publish(
            subjects.push(req.to_agent),
            envelope.dumps(frame),  # live sockets, any gateway
            headers={subjects.PUSH_STORED_AT: repr(time.time())},
        )
        self.kick()
        return {"message_id": frame["message_id"], "status": "delivered"}

    async def inbox(self, req: m.Inbox, ctx: Ctx) -> dict[str, Any]:
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

    async def message_status(self, req: m.MessageRef, ctx: Ctx) -> dict[str, Any]:
        viewer = ctx.require_agent()
        msg = await trace.message(self.store.pool, req.message_id, viewer)
        if msg is None:
            raise NotFound("Message not found")
        return trace.status(msg, await trace.hops(self.store.pool, msg, viewer))

    async def message_trace(self, req: m.MessageRef, ctx: Ctx) -> dict[str, Any]:
        viewer = ctx.require_agent()
        msg = await trace.message(self.store.pool, req.message_id, viewer)
        if msg is None:
            raise NotFound("Message not found")
        return {"message_id": req.message_id, "hops": await trace.hops(self.store.pool, msg, viewer)}

    async def dead_letters(self, req: m.DeadLetters, ctx: Ctx) -> dict[str, Any]:
        found = await trace.dead_letters(self.store.pool, ctx.require_agent(), req.limit)
        return {"messages": found, "count": len(found)}

    async def record_push(self, req: m.PushedHop, ctx: Ctx) -> dict[str, Any]:
        """From gateways (fan-out notice `bus.relay.message_pushed`, queue group relay): a trace hop."""
        at = datetime.fromtimestamp(req.at, UTC)
        await trace.record_push(self.store.pool, req.message_id, req.gateway, req.sockets, at)
        return {"message_id": req.message_id, "status": "recorded"}

    async def mark_read(self, req: m.MessageRef, ctx: Ctx) -> dict[str, Any]:
        if not await self.store.mark_read(ctx.require_agent(), req.message_id):
            raise NotFound("Message not found or already read")
        return {"message_id": req.message_id, "status": "read"}

    async def webhook_create(self, req: m.WebhookCreate, ctx: Ctx) -> dict[str, Any]:
        types = []
        for t in req.event_types:
            canonical = m.EVENT_ALIASES.get(t, t)
            if canonical not in m.EVENT_TYPES:
                raise BadRequest(f"Invalid event type '{t}'. Valid: {sorted(m.EVENT_TYPES)}")
            types.append(canonical)
        await check_url(req.url, self.allow_private)
        return await self.store.create_webhook(
            ctx.require_agent(), req.url, list(dict.fromkeys(types)), req.secret
        )

    async def webhook_list(self, req: m.Empty, ctx: Ctx) -> dict[str, Any]:
        hooks = await self.store.list_webhooks(ctx.require_agent())
        return {"webhooks": hooks, "count": len(hooks)}

    async def webhook_delete(self, req: m.WebhookRef, ctx: Ctx) -> dict[str, Any]:
        if not await self.store.delete_webhook(ctx.require_agent(), req.webhook_id):
            raise NotFound("Webhook not found")
        return {"status": "deleted", "webhook_id": req.webhook_id}

    async def webhook_test(self, req: m.WebhookRef, ctx: Ctx) -> dict[str, Any]:
        """Send a signed `webhook.test` event to the caller's webhook now and report the receiver's answer.
        The URL is checked again (it may resolve elsewhere today) and the send goes through the deliveries'
        public-only resolver, so a test cannot reach a private address either."""
        hook = await self.store.webhook(ctx.require_agent(), req.webhook_id)
        if hook is None:
            raise NotFound("Webhook not found")
        await check_url(hook["url"], self.allow_private)
        return await self.deliverer.send_test(hook)

    async def deliveries(self, req: m.Deliveries, ctx: Ctx) -> dict[str, Any]:
        if not await self.store.owns_webhook(ctx.require_agent(), req.webhook_id):
            raise NotFound("Webhook not found")
        log = await webhooks.delivery_log(self.store.pool, req.webhook_id, req.limit)
        return {"webhook_id": req.webhook_id, "deliveries": log, "count": len(log)}

    async def replay(self, req: m.DeliveryRef, ctx: Ctx) -> dict[str, Any]:
        if not await self.store.owns_webhook(
            ctx.require_agent(), req.webhook_id
        ) or not await webhooks.replay(self.store.pool, req.webhook_id, req.delivery_id):
            raise NotFound("Delivery not found")
        self.kick()
        return {"status": "queued", "delivery_id": req.delivery_id}

    async def events(self, req: m.Events, ctx: Ctx) -> dict[str, Any]:
        """From `after`, or else from the acknowledged cursor leaving out events acknowledged by id."""
        agent_id = ctx.require_agent()
        pool = self.store.pool
        after = req.after if req.after is not None else await events.acked_cursor(pool, agent_id)
        types = {t.strip() for t in (req.types or "").split(",") if t.strip()} | (
            {req.event_type} if req.event_type else set()
        )

        async def acknowledged(ids: list[str]) -> set[str]:
            return await events.acked_among(pool, agent_id, ids)

        found = await events.read_events(
            self.js,
            agent_id,
            after,
            req.limit,
            req.wait,
            types or None,
            acknowledged if req.after is None else None,
        )
        return {"events": found, "count": len(found), "cursor": found[-1]["cursor"] if found else after}

    async def events_ack(self, req: m.Ack, ctx: Ctx) -> dict[str, Any]:
        """Our cursor (everything up to it), 1.0's event ids (those events), or both."""
        agent_id = ctx.require_agent()
        out: dict[str, Any] = {}
        if req.cursor is not None:
            await events.ack(self.store.pool, agent_id, req.cursor)
            out.update(status="acknowledged", cursor=req.cursor)
        if req.event_ids is not None:
            out["acknowledged"] = await events.ack_ids(self.store.pool, agent_id, req.event_ids)
        return out

    # ── internal ────────────────────────────────────────────────────────────
    async def global_stats(self, req: m.Empty, ctx: Ctx) -> dict[str, int]:
        return await self.store.counts()

    async def agent_stats(self, req: m.AgentRef, ctx: Ctx) -> dict[str, int]:
        return await self.store.agent_counts(ctx.agent_or_named(req.agent_id))

    async def admin_messages(self, req: AdminPage, ctx: Ctx) -> dict[str, Any]:
        ctx.require_admin()
        items, total = await self.store.admin_messages(req.agent_id, req.limit, req.offset)
        return page(items, total, req)

    async def admin_webhooks(self, req: AdminPage, ctx: Ctx) -> dict[str, Any]:
        ctx.require_admin()
        items, total = await self.store.admin_webhooks(req.limit, req.offset)
        return page(items, total, req)

    async def admin_stats(self, req: m.Empty, ctx: Ctx) -> dict[str, int]:
        counts = await self.store.counts()
        return {"messages": counts["messages_relayed"], "webhooks": counts["active_webhooks"]}

    def ops(self) -> dict[str, Op]:
        return {
            "send": Op(self.send, m.Send),
            "inbox": Op(self.inbox, m.Inbox),
            "mark_read": Op(self.mark_read, m.MessageRef),
            "webhook_create": Op(self.webhook_create, m.WebhookCreate),
            "webhook_list": Op(self.webhook_list, m.Empty),
            "webhook_delete": Op(self.webhook_delete, m.WebhookRef),
            "webhook_test": Op(self.webhook_test, m.WebhookRef),
            "deliveries": Op(self.deliveries, m.Deliveries),
            "replay_delivery": Op(self.replay, m.DeliveryRef),
            "events": Op(self.events, m.Events),
            "events_ack": Op(self.events_ack, m.Ack),
            "global_stats": Op(self.global_stats, m.Empty),
            "message_status": Op(self.message_status, m.MessageRef),
            "message_trace": Op(self.message_trace, m.MessageRef),
            "dead_letters": Op(self.dead_letters, m.DeadLetters),
            "record_push": Op(self.record_push, m.PushedHop),
            "agent_stats": Op(self.agent_stats, m.AgentRef),
            "admin_messages": Op(self.admin_messages, AdminPage),
            "admin_webhooks": Op(self.admin_webhooks, AdminPage),
            "admin_stats": Op(self.admin_stats, m.Empty),
        }
