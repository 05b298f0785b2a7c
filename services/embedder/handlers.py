"""Embedder operations: `embed` (texts → unit vectors) and `info` (which backend and model answer)."""

from __future__ import annotations

from typing import Any

from services.embedder import models as m
from services.embedder.backends import Backend
from services.embedder.batching import MicroBatcher
from shared.bus import Ctx
from shared.ops import OpGroup, op


class EmbedderHandlers(OpGroup):
    def __init__(self, backend: Backend, batcher: MicroBatcher) -> None:
        self.backend, self.batcher = backend, batcher

    @op()
    async def embed(self, req: m.Embed, ctx: Ctx) -> dict[str, Any]:
        vectors = await self.batcher.embed(req.texts)
        return {"model": self.backend.model, "dimensions": self.backend.dimensions, "vectors": vectors}

    @op()
    async def info(self, req: m.Empty, ctx: Ctx) -> dict[str, Any]:
        return {
            "backend": self.backend.name,
            "model": self.backend.model,
            "dimensions": self.backend.dimensions,
            "loaded": self.backend.loaded,
            "max_texts": m.MAX_TEXTS,
        }

    @op()
    async def agent_stats(self, req: m.Empty, ctx: Ctx) -> dict[str, Any]:
        """The admin panel asks every service for an agent's stats: the embedder keeps no data."""
        return {}

    @op()
    async def admin_stats(self, req: m.Empty, ctx: Ctx) -> dict[str, Any]:
        """The admin panel asks every service for its stats: the embedder keeps no data."""
        return {}
