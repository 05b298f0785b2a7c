"""The memory service's operations called over NATS as a given agent (or as the admin panel), for tests that
must see what an agent still holds once the gateway no longer admits it (a purged agent): the service's own
operations, never its tables."""

from __future__ import annotations

from typing import Any

import nats

from shared.bus import Ctx, call
from shared.subjects import svc


async def memory_op(stack: Any, op: str, payload: dict[str, Any], *, agent_id: str | None = None) -> Any:
    """Answer of svc.memory.<op> for `agent_id` (an admin request when no agent is named)."""
    nc = await nats.connect(stack.infra.nats_url)
    try:
        ctx = Ctx(agent_id=agent_id) if agent_id else Ctx(admin=True)
        return (await call(nc, svc("memory", op), payload, timeout=10, ctx=ctx)).unwrap()
    finally:
        await nc.close()
