"""Stats and the admin panel's views of the relay: counts for the health page and per-agent stats, and
pages of messages and webhooks for an admin session."""

from __future__ import annotations

from typing import Any

from services.relay.models.common import AgentRef, Empty
from services.relay.stores.messages import MessageStore
from services.relay.stores.webhooks import WebhookStore
from shared.admin import AdminPage, page
from shared.bus import Ctx
from shared.ops import OpGroup, op


class StatsHandlers(OpGroup):
    def __init__(self, messages: MessageStore, webhooks: WebhookStore) -> None:
        self.messages, self.webhooks = messages, webhooks

    @op()
    async def global_stats(self, req: Empty, ctx: Ctx) -> dict[str, int]:
        return {**await self.messages.counts(), "active_webhooks": await self.webhooks.active_count()}

    @op()
    async def agent_stats(self, req: AgentRef, ctx: Ctx) -> dict[str, int]:
        agent_id = ctx.agent_or_named(req.agent_id)
        return {
            **await self.messages.agent_counts(agent_id),
            "active_webhooks": await self.webhooks.active_count(agent_id),
        }

    @op(admin=True)
    async def admin_messages(self, req: AdminPage, ctx: Ctx) -> dict[str, Any]:
        items, total = await self.messages.admin_messages(req.agent_id, req.limit, req.offset)
        return page(items, total, req)

    @op(admin=True)
    async def admin_webhooks(self, req: AdminPage, ctx: Ctx) -> dict[str, Any]:
        items, total = await self.webhooks.admin_page(req.limit, req.offset)
        return page(items, total, req)

    @op()
    async def admin_stats(self, req: Empty, ctx: Ctx) -> dict[str, int]:
        return {
            "messages": (await self.messages.counts())["messages_relayed"],
            "webhooks": await self.webhooks.active_count(),
        }
