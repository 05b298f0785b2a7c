"""Memory operations: private key-value memory and public shared memory (POST /v1/memory, with versions and
visibility, is in versioned_handlers.py)."""

from __future__ import annotations

from typing import Any

from services.memory import models as m
from services.memory.store import MemoryStore
from shared.bus import Ctx, Op
from shared.errors import NotFound, found


class MemoryHandlers:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    async def get(self, req: m.KeyRef, ctx: Ctx) -> dict[str, Any]:
        return found(
            await self.store.get(ctx.require_agent(), req.namespace, req.key), "Key not found or expired"
        )

    async def list(self, req: m.List, ctx: Ctx) -> dict[str, Any]:
        keys = await self.store.list(ctx.require_agent(), req.namespace, req.prefix, req.limit)
        return {"namespace": req.namespace, "keys": keys, "count": len(keys)}

    async def delete(self, req: m.KeyRef, ctx: Ctx) -> dict[str, Any]:
        if not await self.store.delete(ctx.require_agent(), req.namespace, req.key):
            raise NotFound("Key not found")
        return {"status": "deleted", "key": req.key}

    async def shared_set(self, req: m.SharedSet, ctx: Ctx) -> dict[str, Any]:
        await self.store.shared_set(
            ctx.require_agent(), req.namespace, req.key, req.value, req.description, req.ttl_seconds
        )
        return {"status": "published", "namespace": req.namespace, "key": req.key}

    async def shared_namespaces(self, req: m.SharedNamespaces, ctx: Ctx) -> dict[str, Any]:
        namespaces = await self.store.shared_namespaces(req.limit)
        return {"namespaces": namespaces, "count": len(namespaces)}

    async def shared_list(self, req: m.SharedList, ctx: Ctx) -> dict[str, Any]:
        entries = await self.store.shared_list(req.namespace, req.prefix, req.limit)
        return {"namespace": req.namespace, "entries": entries, "count": len(entries)}

    async def shared_get(self, req: m.SharedRef, ctx: Ctx) -> dict[str, Any]:
        return found(
            await self.store.shared_get(req.namespace, req.key, req.owner_agent), "Key not found or expired"
        )

    async def shared_delete(self, req: m.SharedRef, ctx: Ctx) -> dict[str, Any]:
        if not await self.store.shared_delete(ctx.require_agent(), req.namespace, req.key):
            raise NotFound("Key not found")
        return {"status": "deleted", "namespace": req.namespace, "key": req.key}

    async def global_stats(self, req: m.Empty, ctx: Ctx) -> dict[str, int]:
        return await self.store.counts()

    async def agent_stats(self, req: m.StatsRef, ctx: Ctx) -> dict[str, int]:
        agent_id = ctx.agent_or_named(req.agent_id)
        return await self.store.agent_counts(agent_id)

    def ops(self) -> dict[str, Op]:
        return {
            "get": Op(self.get, m.KeyRef),
            "list": Op(self.list, m.List),
            "delete": Op(self.delete, m.KeyRef),
            "shared_set": Op(self.shared_set, m.SharedSet),
            "shared_namespaces": Op(self.shared_namespaces, m.SharedNamespaces),
            "shared_list": Op(self.shared_list, m.SharedList),
            "shared_get": Op(self.shared_get, m.SharedRef),
            "shared_delete": Op(self.shared_delete, m.SharedRef),
            "global_stats": Op(self.global_stats, m.Empty),
            "agent_stats": Op(self.agent_stats, m.StatsRef),
        }
