"""Agents and their keys: the identity columns of directory.agents (id, key hash, name), registration with
its announcement, key rotation, existence, deletion and the operator's listing.

A registration writes the agent row and the announcement on `admin.agent_registered` (ADMIN stream) in one
transaction, through the directory's outbox: the announcement's `Nats-Msg-Id` is `registered-<agent>`, so
the outbox publisher's retries (after a JetStream outage or a restart) are deduplicated and a committed
agent is always announced.

Registrations are limited per client network (`registered_from`, see shared.netaddr): the count of the
network's registrations in the last hour is taken under an advisory lock on the network in the insert's
transaction, so concurrent registrations on any replica cannot both take the last one."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.directory.store.rows import changed, row_dict
from shared import subjects
from shared.errors import RateLimited
from shared.events import outbox_body

# Columns of an agent's own profile (GET /v1/directory/me) and the operator's listing.
PROFILE_COLUMNS = (
    "agent_id, name, description, capabilities, public, available, looking_for, busy_until, "
    "reputation, reputation_count, credits, created_at, skills, role, interests"
)


def registration_msg_id(agent_id: str) -> str:
    return f"registered-{agent_id}"


class AgentStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(
        self, agent_id: str, key_hash: str, name: str | None, network: str | None = None, per_hour: int = 0
    ) -> None:
        """The agent row and its registration announcement, committed together. RateLimited (with the seconds
        until the network's oldest registration of the hour leaves the window) when the network already
        registered `per_hour` agents in the last hour (0 = unlimited)."""
        async with self._pool.acquire() as conn, conn.transaction():
            if network is not None and per_hour:
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext('register:' || $1))", network)
                recent = await conn.fetch(
                    "SELECT created_at FROM directory.agents WHERE registered_from = $1"
                    " AND created_at > now() - interval '1 hour' ORDER BY created_at LIMIT $2",
                    network,
                    per_hour,
                )
                if len(recent) >= per_hour:
                    wait = await conn.fetchval(
                        "SELECT ceil(extract(epoch FROM $1::timestamptz + interval '1 hour' - now()))::int",
                        recent[0]["created_at"],
                    )
                    raise RateLimited(
                        f"Too many registrations from your network ({per_hour}/hour)",
                        {"retry_after_seconds": max(1, int(wait or 1))},
                    )
            await conn.execute(
                "INSERT INTO directory.agents (agent_id, api_key_hash, name, registered_from)"
                " VALUES ($1, $2, $3, $4)",
                agent_id,
                key_hash,
                name,
                network,
            )
            await conn.execute(
                "INSERT INTO directory.outbox (event_id, subject, body) VALUES ($1, $2, $3)",
                registration_msg_id(agent_id),
                subjects.AGENT_REGISTERED,
                outbox_body({"agent_id": agent_id}),
            )

    async def for_key(self, key_hash: str) -> dict[str, Any] | None:
        r = await self._pool.fetchrow(
            "SELECT agent_id, name FROM directory.agents WHERE api_key_hash = $1", key_hash
        )
        return dict(r) if r else None

    async def replace_key(self, agent_id: str, old_hash: str, new_hash: str) -> bool:
        """Compare-and-set: the new key replaces the old one only while the old one is still the agent's key,
        so of concurrent rotations with one key exactly one wins (and the key it returns is the one that
        works); the old hash stops matching at once."""
        return changed(
            await self._pool.execute(
                "UPDATE directory.agents SET api_key_hash = $3, updated_at = now()"
                " WHERE agent_id = $1 AND api_key_hash = $2",
                agent_id,
                old_hash,
                new_hash,
            )
        )

    async def exists(self, agent_id: str) -> bool:
        return bool(await self._pool.fetchval("SELECT 1 FROM directory.agents WHERE agent_id = $1", agent_id))

    async def profile(self, agent_id: str) -> dict[str, Any] | None:
        r = await self._pool.fetchrow(
            f"SELECT {PROFILE_COLUMNS} FROM directory.agents WHERE agent_id = $1", agent_id
        )
        return row_dict(r) if r else None

    async def counts(self) -> dict[str, int]:
        r = await self._pool.fetchrow(
            "SELECT count(*) AS registered_agents, count(*) FILTER (WHERE public) AS public_agents"
            " FROM directory.agents"
        )
        return {"registered_agents": int(r["registered_agents"]), "public_agents": int(r["public_agents"])}

    async def page(self, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        """Every agent, newest first (the operator's listing)."""
        rows = await self._pool.fetch(
            f"SELECT {PROFILE_COLUMNS} FROM directory.agents ORDER BY created_at DESC LIMIT $1 OFFSET $2",
            limit,
            offset,
        )
        total = await self._pool.fetchval("SELECT count(*) FROM directory.agents")
        return [row_dict(r) for r in rows], int(total)

    async def delete(self, agent_id: str) -> bool:
        """Remove the agent (its presence row goes with it: ON DELETE CASCADE)."""
        return changed(await self._pool.execute("DELETE FROM directory.agents WHERE agent_id = $1", agent_id))
