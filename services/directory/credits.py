"""Credit balances belong to the marketplace's ledger; profiles and listings ask it (one batched request)
and fall back to the directory's own column when it does not answer, rather than failing the request."""

from __future__ import annotations

from typing import Any

from nats.aio.client import Client as NATS

from shared.bus import Ctx, call
from shared.subjects import svc

BALANCES_TIMEOUT = 0.5  # seconds; a listing is not held up longer than this by the marketplace


class LedgerBalances:
    def __init__(self, nc: NATS) -> None:
        self.nc = nc

    async def fill(self, agents: list[dict[str, Any]], ctx: Ctx | None = None) -> None:
        """Replace each agent's `credits` with its ledger balance, in place."""
        if not agents:
            return
        reply = await call(
            self.nc,
            svc("marketplace", "balances"),
            {"agent_ids": [a["agent_id"] for a in agents]},
            timeout=BALANCES_TIMEOUT,
            ctx=ctx,
        )
        if reply.ok and isinstance(reply.data, dict):
            for agent in agents:
                agent["credits"] = reply.data.get(agent["agent_id"], agent["credits"])
