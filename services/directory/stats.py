"""GET /v1/stats: the agent's own numbers, gathered from the services that own them.

The directory answers its own fields (total_requests among them: the gateways report request counts to
it) and asks every other owner's `agent_stats` at once (scatter-gather
with a deadline); a service that is slow, down or not deployed leaves its fields null and is named in
`degraded`, and the request still succeeds."""

from __future__ import annotations

import asyncio
from typing import Any

from nats.aio.client import Client as NATS

from shared.bus import Ctx, call
from shared.subjects import svc

GATHER_TIMEOUT = 1.0  # seconds, below the gateway's request timeout
# Who owns which field of the contract's reply.
OWNERS: dict[str, tuple[str, ...]] = {
    "memory": ("memory_keys", "shared_memory_keys"),
    "queue": ("jobs_submitted",),
    "relay": ("messages_sent", "messages_received", "active_webhooks"),
    "scheduler": ("active_schedules",),
    "marketplace": ("credits", "marketplace_tasks_created", "marketplace_tasks_completed"),
}
ORDER = (
    "agent_id",
    "name",
    "created_at",
    "total_requests",
    "memory_keys",
    "jobs_submitted",
    "messages_sent",
    "messages_received",
    "active_webhooks",
    "active_schedules",
    "shared_memory_keys",
    "credits",
    "reputation",
    "collaborations_given",
    "collaborations_received",
    "marketplace_tasks_created",
    "marketplace_tasks_completed",
)


async def gather_stats(nc: NATS, ctx: Ctx, own: dict[str, Any]) -> dict[str, Any]:
    """`own` holds the directory's fields; the rest come from their owners (or are null)."""
    services = list(OWNERS)
    payload = {"agent_id": own["agent_id"]}
    replies = await asyncio.gather(
        *(call(nc, svc(s, "agent_stats"), payload, timeout=GATHER_TIMEOUT, ctx=ctx) for s in services)
    )
    fields: dict[str, Any] = dict(own)
    degraded = []
    for service, reply in zip(services, replies, strict=False):
        data = reply.data if reply.ok and isinstance(reply.data, dict) else None
        if data is None:
            degraded.append(service)
        for name in OWNERS[service]:
            fields[name] = data.get(name) if data is not None else None
    if "marketplace" in degraded:  # the directory's own copy is better than nothing
        fields["credits"] = own.get("credits")
    return {**{k: fields.get(k) for k in ORDER}, "degraded": degraded}
