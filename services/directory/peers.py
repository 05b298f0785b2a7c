"""What the directory asks of the services that own other numbers about an agent.

Credits belong to the marketplace's ledger, completed tasks to the marketplace. Each question has a deadline,
and an owner that does not answer leaves its numbers at their fallback (credits: the directory's own column)
rather than failing the request. The directory asks the gateway nothing: request counts are reported to it
(store/requests.py)."""

from __future__ import annotations

from typing import Any

from nats.aio.client import Client as NATS

from shared.bus import Ctx, call
from shared.subjects import svc

BALANCES_TIMEOUT = 0.5  # seconds; a listing is not held up longer than this by the marketplace
ASK_TIMEOUT = 1.0
BATCH = 500  # agents per question to another service (their batch limit)


class Peers:
    def __init__(self, nc: NATS) -> None:
        self.nc = nc

    async def ask(
        self, subject: str, body: dict[str, Any], ctx: Ctx | None, timeout: float = ASK_TIMEOUT
    ) -> dict[str, Any] | None:
        """The answer's data, or None when the owner did not answer (in time, or at all)."""
        reply = await call(self.nc, subject, body, timeout=timeout, ctx=ctx)
        return reply.data if reply.ok and isinstance(reply.data, dict) else None

    async def fill_balances(self, agents: list[dict[str, Any]], ctx: Ctx | None = None) -> None:
        """Replace each agent's `credits` with its ledger balance, in place (one batched request)."""
        if not agents:
            return
        found = await self.ask(
            svc("marketplace", "balances"),
            {"agent_ids": [a["agent_id"] for a in agents]},
            ctx,
            BALANCES_TIMEOUT,
        )
        if found is not None:
            for agent in agents:
                agent["credits"] = found.get(agent["agent_id"], agent["credits"])

    async def balances(self, agent_ids: list[str], ctx: Ctx | None) -> dict[str, Any] | None:
        return await self.ask(svc("marketplace", "balances"), {"agent_ids": agent_ids}, ctx)

    async def public_activity(self, body: dict[str, Any], ctx: Ctx | None) -> dict[str, Any] | None:
        return await self.ask(svc("marketplace", "public_activity"), body, ctx)
