"""The gateways' reports of per-agent request counts (svc.directory.record_requests)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from services.directory.store.requests import RequestCountStore
from shared.bus import Ctx
from shared.models import AgentId, Request
from shared.ops import OpGroup, op


class Counts(Request):
    counts: Annotated[dict[AgentId, Annotated[int, Field(ge=1)]], Field(max_length=10_000)]


class RequestCountOps(OpGroup):
    def __init__(self, store: RequestCountStore) -> None:
        self.store = store

    @op()
    async def record_requests(self, req: Counts, ctx: Ctx) -> dict[str, Any]:
        """A gateway's batch of counts since its last report."""
        if req.counts:
            await self.store.record(req.counts)
        return {"agents": len(req.counts)}
