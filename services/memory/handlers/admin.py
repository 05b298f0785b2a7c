"""Operator views of memory for the admin panel (listings never show values; one record on request), and the
counts the gateway, the directory and the admin panel ask every service for."""

from __future__ import annotations

from typing import Any

from services.memory.models import admin as m
from services.memory.stores.entries import EntryStore
from services.memory.stores.shared import SharedStore
from shared.admin import AdminPage, masked, page
from shared.bus import Ctx
from shared.errors import found
from shared.ops import OpGroup, op


class AdminHandlers(OpGroup):
    def __init__(self, entries: EntryStore, shared: SharedStore) -> None:
        self.entries, self.shared = entries, shared

    @op(admin=True)
    async def admin_memory(self, req: AdminPage, ctx: Ctx) -> dict[str, Any]:
        items, total = await self.entries.admin_entries(req.agent_id, req.limit, req.offset)
        return page([{**i, "value": masked("x" * i["size_bytes"])} for i in items], total, req)

    @op(admin=True)
    async def admin_memory_reveal(self, req: m.AdminReveal, ctx: Ctx) -> dict[str, Any]:
        """The one place a stored value is shown in clear: an operator asking for one record."""
        value = found(await self.entries.admin_value(req.agent_id, req.namespace, req.key), "Key not found")
        return {"agent_id": req.agent_id, "namespace": req.namespace, "key": req.key, "value": value}

    @op(admin=True)
    async def admin_shared_memory(self, req: AdminPage, ctx: Ctx) -> dict[str, Any]:
        items, total = await self.shared.admin_entries(req.namespace, req.limit, req.offset)
        return page([{**i, "value": masked("x" * i["size_bytes"])} for i in items], total, req)

    @op()
    async def admin_stats(self, req: m.Empty, ctx: Ctx) -> dict[str, int]:
        return {
            "memory_keys": await self.entries.count_live(),
            "shared_memory_keys": await self.shared.count_live(),
        }

    @op()
    async def global_stats(self, req: m.Empty, ctx: Ctx) -> dict[str, int]:
        return {
            "memory_keys_stored": await self.entries.count_live(),
            "shared_memory_keys": await self.shared.count_live(),
        }

    @op()
    async def agent_stats(self, req: m.StatsRef, ctx: Ctx) -> dict[str, int]:
        """One agent's live keys, for GET /v1/stats (the directory gathers it)."""
        agent_id = ctx.agent_or_named(req.agent_id)
        return {
            "memory_keys": await self.entries.count_live(agent_id),
            "shared_memory_keys": await self.shared.count_live(agent_id),
        }
