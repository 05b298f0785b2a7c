"""Operator views of memory for the admin panel: listings never show values; one record on request."""

from __future__ import annotations

from typing import Any

from services.memory import models as m
from services.memory.store import MemoryStore
from shared.admin import AdminPage, masked, page
from shared.bus import Ctx, Op
from shared.errors import found


class MemoryAdmin:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    async def memory(self, req: AdminPage, ctx: Ctx) -> dict[str, Any]:
        ctx.require_admin()
        items, total = await self.store.admin_entries(req.agent_id, req.limit, req.offset)
        return page([{**i, "value": masked("x" * i["size_bytes"])} for i in items], total, req)

    async def reveal(self, req: m.AdminReveal, ctx: Ctx) -> dict[str, Any]:
        """The one place a stored value is shown in clear: an operator asking for one record."""
        ctx.require_admin()
        value = found(await self.store.admin_value(req.agent_id, req.namespace, req.key), "Key not found")
        return {"agent_id": req.agent_id, "namespace": req.namespace, "key": req.key, "value": value}

    async def shared_memory(self, req: AdminPage, ctx: Ctx) -> dict[str, Any]:
        ctx.require_admin()
        items, total = await self.store.admin_shared(req.namespace, req.limit, req.offset)
        return page([{**i, "value": masked("x" * i["size_bytes"])} for i in items], total, req)

    async def stats(self, req: m.Empty, ctx: Ctx) -> dict[str, int]:
        counts = await self.store.counts()
        return {
            "memory_keys": counts["memory_keys_stored"],
            "shared_memory_keys": counts["shared_memory_keys"],
        }

    def ops(self) -> dict[str, Op]:
        return {
            "admin_memory": Op(self.memory, AdminPage),
            "admin_memory_reveal": Op(self.reveal, m.AdminReveal),
            "admin_shared_memory": Op(self.shared_memory, AdminPage),
            "admin_stats": Op(self.stats, m.Empty),
        }
