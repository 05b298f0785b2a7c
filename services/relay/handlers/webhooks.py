"""Webhook operations: registration (event types from the catalogue, addresses through the SSRF guard),
test sends, the delivery log and replays."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.relay.delivery import MAX_ATTEMPTS, Deliverer
from services.relay.models.common import Empty
from services.relay.models.webhooks import (
    EVENT_ALIASES,
    EVENT_TYPES,
    Deliveries,
    DeliveryRef,
    WebhookCreate,
    WebhookRef,
)
from services.relay.stores.webhooks import WebhookStore
from shared.bus import Ctx
from shared.errors import BadRequest, NotFound
from shared.ops import OpGroup, op
from shared.outbound import check_url


class WebhookHandlers(OpGroup):
    prefix = "webhook_"

    def __init__(
        self, store: WebhookStore, deliverer: Deliverer, allow_private: bool, kick: Callable[[], None]
    ) -> None:
        self.store, self.allow_private, self.kick = store, allow_private, kick
        self.deliverer = deliverer  # its HTTP client (with the SSRF guard) also sends test events

    @op()
    async def create(self, req: WebhookCreate, ctx: Ctx) -> dict[str, Any]:
        types = []
        for t in req.event_types:
            canonical = EVENT_ALIASES.get(t, t)
            if canonical not in EVENT_TYPES:
                raise BadRequest(f"Invalid event type '{t}'. Valid: {sorted(EVENT_TYPES)}")
            types.append(canonical)
        await check_url(req.url, self.allow_private)
        return await self.store.create(ctx.require_agent(), req.url, list(dict.fromkeys(types)), req.secret)

    @op("list")
    async def list_webhooks(self, req: Empty, ctx: Ctx) -> dict[str, Any]:
        hooks = await self.store.list_for(ctx.require_agent())
        return {"webhooks": hooks, "count": len(hooks)}

    @op()
    async def delete(self, req: WebhookRef, ctx: Ctx) -> dict[str, Any]:
        if not await self.store.delete(ctx.require_agent(), req.webhook_id):
            raise NotFound("Webhook not found")
        return {"status": "deleted", "webhook_id": req.webhook_id}

    @op()
    async def test(self, req: WebhookRef, ctx: Ctx) -> dict[str, Any]:
        """Send a signed `webhook.test` event to the caller's webhook now and report the receiver's answer.
        The URL is checked again (it may resolve elsewhere today) and the send goes through the deliveries'
        public-only resolver, so a test cannot reach a private address either."""
        hook = await self.store.get(ctx.require_agent(), req.webhook_id)
        if hook is None:
            raise NotFound("Webhook not found")
        await check_url(hook["url"], self.allow_private)
        return await self.deliverer.send_test(hook)


class DeliveryHandlers(OpGroup):
    """The delivery log of a webhook (subjects `deliveries`, `replay_delivery`)."""

    def __init__(self, store: WebhookStore, kick: Callable[[], None]) -> None:
        self.store, self.kick = store, kick

    @op()
    async def deliveries(self, req: Deliveries, ctx: Ctx) -> dict[str, Any]:
        if not await self.store.owns(ctx.require_agent(), req.webhook_id):
            raise NotFound("Webhook not found")
        log = await self.store.log(req.webhook_id, req.limit)
        return {"webhook_id": req.webhook_id, "deliveries": log, "count": len(log)}

    @op("replay_delivery")
    async def replay(self, req: DeliveryRef, ctx: Ctx) -> dict[str, Any]:
        if not await self.store.owns(ctx.require_agent(), req.webhook_id) or not await self.store.replay(
            req.webhook_id, req.delivery_id, MAX_ATTEMPTS
        ):
            raise NotFound("Delivery not found")
        self.kick()
        return {"status": "queued", "delivery_id": req.delivery_id}
