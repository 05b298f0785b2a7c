"""Embedder operations: `embed` (texts → unit vectors) and `info` (which backend and model answer)."""

from __future__ import annotations

from typing import Any

from services.embedder import models as m
from services.embedder.backends import Backend
from services.embedder.batching import MicroBatcher
from shared.bus import Ctx, Op


class EmbedderHandlers:
    def __init__(self, backend: Backend, batcher: MicroBatcher) -> None:
        self.backend, self.batcher = backend, batcher

    async def embed(self, req: m.Embed, ctx: Ctx) -> dict[str, Any]:
        vectors = await self.batcher.embed(req.texts)
        return {"model": self.backend.model, "dimensions": self.backend.dimensions, "vectors": vectors}

    async def info(self, req: m.Empty, ctx: Ctx) -> dict[str, Any]:
        return {
            "backend": self.backend.name,
            "model": self.backend.model,
            "dimensions": self.backend.dimensions,
            "loaded": self.backend.loaded,
            "max_texts": m.MAX_TEXTS,
        }

    async def nothing_stored(self, req: m.Empty, ctx: Ctx) -> dict[str, Any]:
        """agent_stats / admin_stats, which the admin panel asks every service: the embedder keeps no data."""
        return {}

    def ops(self) -> dict[str, Op]:
        return {
            "embed": Op(self.embed, m.Embed),
            "info": Op(self.info, m.Empty),
            "agent_stats": Op(self.nothing_stored, m.Empty),
            "admin_stats": Op(self.nothing_stored, m.Empty),
        }
