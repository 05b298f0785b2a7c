"""Shared-memory operations (/v1/shared-memory): publish, browse namespaces and entries, read, delete."""

from __future__ import annotations

from typing import Any

from services.memory.models import shared as m
from services.memory.stores.shared import SharedStore
from shared.bus import Ctx
from shared.errors import NotFound, found
from shared.ops import OpGroup, op


class SharedHandlers(OpGroup):
    prefix = "shared_"

    def __init__(self, store: SharedStore) -> None:
        self.store = store

    @op("set")
    async def publish(self, req: m.SharedSet, ctx: Ctx) -> dict[str, Any]:
        await self.store.publish(
            ctx.require_agent(), req.namespace, req.key, req.value, req.description, req.ttl_seconds
        )
        return {"status": "published", "namespace": req.namespace, "key": req.key}

    @op()
    async def namespaces(self, req: m.SharedNamespaces, ctx: Ctx) -> dict[str, Any]:
        namespaces = await self.store.namespaces(req.limit)
        return {"namespaces": namespaces, "count": len(namespaces)}

    @op("list")
    async def entries(self, req: m.SharedList, ctx: Ctx) -> dict[str, Any]:
        entries = await self.store.entries(req.namespace, req.prefix, req.limit)
        return {"namespace": req.namespace, "entries": entries, "count": len(entries)}

    @op()
    async def get(self, req: m.SharedRef, ctx: Ctx) -> dict[str, Any]:
        return found(
            await self.store.get(req.namespace, req.key, req.owner_agent), "Key not found or expired"
        )

    @op()
    async def delete(self, req: m.SharedRef, ctx: Ctx) -> dict[str, Any]:
        if not await self.store.delete(ctx.require_agent(), req.namespace, req.key):
            raise NotFound("Key not found")
        return {"status": "deleted", "namespace": req.namespace, "key": req.key}
