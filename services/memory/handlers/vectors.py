"""Vector memory operations (1.0's /v1/vector routes): text is embedded by the embedder service over NATS
(svc.embedder.embed), then stored and searched with pgvector in this service's schema."""

from __future__ import annotations

from typing import Any

from nats.aio.client import Client as NATS

from services.memory.models import vectors as m
from services.memory.stores.vectors import DIMENSIONS, VectorStore
from shared.bus import Ctx, call
from shared.errors import NotFound, Unavailable, found
from shared.ops import OpGroup, op
from shared.subjects import svc


class VectorHandlers(OpGroup):
    prefix = "vector_"

    def __init__(self, store: VectorStore, nc: NATS, embed_timeout: float) -> None:
        self.store, self.nc, self.embed_timeout = store, nc, embed_timeout

    async def _embed(self, text: str, ctx: Ctx) -> list[float]:
        """One text's vector from the embedder (its errors pass through: unavailable → 503, timeout → 504)."""
        reply = await call(
            self.nc, svc("embedder", "embed"), {"texts": [text]}, timeout=self.embed_timeout, ctx=ctx
        )
        vectors: list[list[float]] = reply.unwrap()["vectors"]
        if len(vectors) != 1 or len(vectors[0]) != DIMENSIONS:
            raise Unavailable("the embedder returned a vector of the wrong size")
        return vectors[0]

    @op()
    async def upsert(self, req: m.VectorUpsert, ctx: Ctx) -> dict[str, Any]:
        agent_id = ctx.require_agent()
        embedding = await self._embed(req.text, ctx)
        await self.store.upsert(
            agent_id, req.namespace, req.key, req.text, req.metadata, req.importance, embedding
        )
        return {"key": req.key, "namespace": req.namespace, "dimensions": DIMENSIONS, "status": "upserted"}

    @op()
    async def search(self, req: m.VectorSearch, ctx: Ctx) -> dict[str, Any]:
        agent_id = ctx.require_agent()
        embedding = await self._embed(req.query, ctx)
        results = await self.store.search(
            agent_id,
            req.namespace,
            embedding,
            limit=req.limit,
            min_similarity=req.min_similarity,
            composite=req.scoring == "composite",
            metadata_filter=req.metadata_filter,
        )
        return {"results": results, "count": len(results), "scoring": req.scoring}

    @op()
    async def get(self, req: m.VectorKeyRef, ctx: Ctx) -> dict[str, Any]:
        return found(
            await self.store.get(ctx.require_agent(), req.namespace, req.key), "Vector entry not found"
        )

    @op("list")
    async def keys(self, req: m.VectorList, ctx: Ctx) -> dict[str, Any]:
        keys = await self.store.keys(ctx.require_agent(), req.namespace, req.limit)
        return {"keys": keys, "count": len(keys), "namespace": req.namespace}

    @op()
    async def delete(self, req: m.VectorKeyRef, ctx: Ctx) -> dict[str, Any]:
        if not await self.store.delete(ctx.require_agent(), req.namespace, req.key):
            raise NotFound("Vector entry not found")
        return {"status": "deleted", "key": req.key, "namespace": req.namespace}
