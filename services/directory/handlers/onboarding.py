"""The onboarding checklist (POST /v1/onboarding/start, GET /v1/onboarding/status).

Progress is computed on every call from what the agent has really done, asked of each owning service over
NATS (their per-agent `agent_stats` ops, the same ones GET /v1/stats gathers) — never read from their tables.
A service that does not answer in time leaves its step not completed and is named in `degraded`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client as NATS

from shared.bus import Ctx, call
from shared.subjects import svc

GATHER_TIMEOUT = 1.0  # seconds, below the gateway's request timeout
REWARD = "Complete all steps to earn 100 bonus credits!"
# The agent's last heartbeat, from the directory's presence record (POST /v1/agents/heartbeat); None until one.
HEARTBEAT_FIELD = "last_heartbeat_at"


@dataclass(frozen=True, slots=True)
class Step:
    id: str
    title: str
    endpoint: str
    service: str  # who knows whether it is done
    field: str  # the field of that service's answer that is non-zero / non-empty once it is

    def view(self, completed: bool) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "completed": completed, "endpoint": self.endpoint}


# 1.0's seven steps, in its order.
STEPS: tuple[Step, ...] = (
    Step("register", "Register an agent", "POST /v1/register", "directory", "agent_id"),
    Step("memory", "Store something in memory", "POST /v1/memory", "memory", "memory_keys"),
    Step("message", "Send a message", "POST /v1/relay/send", "relay", "messages_sent"),
    Step("queue", "Submit a job", "POST /v1/queue/submit", "queue", "jobs_submitted"),
    Step("schedule", "Create a schedule", "POST /v1/schedules", "scheduler", "active_schedules"),
    Step(
        "directory", "Update your directory profile", "PUT /v1/directory/me", "directory", "profile_updated"
    ),
    Step("heartbeat", "Send a heartbeat", "POST /v1/agents/heartbeat", "directory", HEARTBEAT_FIELD),
)


def own_facts(profile: dict[str, Any]) -> dict[str, Any]:
    """The directory's own answers: the agent exists, and whether its profile was ever filled in."""
    return {**profile, "profile_updated": bool(profile.get("description") or profile.get("capabilities"))}


async def checklist(nc: NATS, ctx: Ctx, profile: dict[str, Any]) -> dict[str, Any]:
    others = sorted({s.service for s in STEPS} - {"directory"})
    replies = await asyncio.gather(
        *(call(nc, svc(s, "agent_stats"), {}, timeout=GATHER_TIMEOUT, ctx=ctx) for s in others)
    )
    facts: dict[str, dict[str, Any]] = {"directory": own_facts(profile)}
    degraded = []
    for service, reply in zip(others, replies, strict=False):
        if reply.ok and isinstance(reply.data, dict):
            facts[service] = reply.data
        else:
            degraded.append(service)
    steps = [s.view(bool(facts.get(s.service, {}).get(s.field))) for s in STEPS]
    return {
        "steps": steps,
        "progress": sum(s["completed"] for s in steps),
        "total": len(steps),
        "reward": REWARD,
        "degraded": degraded,
    }
