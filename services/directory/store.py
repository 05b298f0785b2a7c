"""SQL of the directory schema: agents and their credentials."""

from __future__ import annotations

from typing import Any

import asyncpg

from shared.timeutil import iso

PROFILE_COLUMNS = (
    "agent_id, name, description, capabilities, public, available, looking_for, busy_until, "
    "reputation, reputation_count, credits, created_at, skills, role"
)
REGISTRY_COLUMNS = "agent_id, role, capabilities, skills"
BROWSE_COLUMNS = "agent_id, name, description, capabilities, available, reputation, credits, created_at"


def row_dict(r: asyncpg.Record) -> dict[str, Any]:
    out = dict(r)
    for k in ("created_at", "busy_until"):
        if k in out:
            out[k] = iso(out[k])
    return out


class DirectoryStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create_agent(self, agent_id: str, key_hash: str, name: str | None) -> None:
        await self._pool.execute(
            "INSERT INTO directory.agents (agent_id, api_key_hash, name) VALUES ($1, $2, $3)",
            agent_id,
            key_hash,
            name,
        )

    async def agent_for_key(self, key_hash: str) -> dict[str, Any] | None:
        r = await self._pool.fetchrow(
            "SELECT agent_id, name FROM directory.agents WHERE api_key_hash = $1", key_hash
        )
        return dict(r) if r else None

    async def set_key(self, agent_id: str, key_hash: str) -> bool:
        """Replace the agent's key (the old hash stops matching at once)."""
        return (
            await self._pool.execute(
                "UPDATE directory.agents SET api_key_hash = $2, updated_at = now() WHERE agent_id = $1",
                agent_id,
                key_hash,
            )
            != "UPDATE 0"
        )

    async def profile(self, agent_id: str) -> dict[str, Any] | None:
        r = await self._pool.fetchrow(
            f"SELECT {PROFILE_COLUMNS} FROM directory.agents WHERE agent_id = $1", agent_id
        )
        return row_dict(r) if r else None

    async def update_profile(
        self,
        agent_id: str,
        description: str | None,
        capabilities: list[str] | None,
        public: bool,
        skills: list[str] | None = None,
    ) -> bool:
        status = await self._pool.execute(
            "UPDATE directory.agents SET description = COALESCE($2, description),"
            " capabilities = COALESCE($3, capabilities), public = $4, skills = COALESCE($5, skills),"
            " updated_at = now() WHERE agent_id = $1",
            agent_id,
            description,
            capabilities,
            public,
            skills,
        )
        return status != "UPDATE 0"

    async def register_capabilities(
        self, agent_id: str, role: str | None, capabilities: list[str] | None, skills: list[str] | None
    ) -> dict[str, Any] | None:
        """One UPDATE (so two registrations never interleave field by field): None keeps a field, role ""
        clears it. Returns the registry fields as stored, or None for an unknown agent."""
        r = await self._pool.fetchrow(
            "UPDATE directory.agents SET role = CASE WHEN $2::text IS NULL THEN role ELSE NULLIF($2, '') END,"
            " capabilities = COALESCE($3, capabilities), skills = COALESCE($4, skills), updated_at = now()"
            f" WHERE agent_id = $1 RETURNING {REGISTRY_COLUMNS}",
            agent_id,
            role,
            capabilities,
            skills,
        )
        return dict(r) if r else None

    async def browse(self, capability: str | None, limit: int) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            f"SELECT {BROWSE_COLUMNS} FROM directory.agents WHERE public"
            " AND ($1::text IS NULL OR capabilities @> ARRAY[$1::text])"
            " ORDER BY created_at DESC LIMIT $2",
            capability,
            limit,
        )
        return [row_dict(r) for r in rows]

    async def exists(self, agent_id: str) -> bool:
        return bool(await self._pool.fetchval("SELECT 1 FROM directory.agents WHERE agent_id = $1", agent_id))

    async def counts(self) -> dict[str, int]:
        r = await self._pool.fetchrow(
            "SELECT count(*) AS registered_agents, count(*) FILTER (WHERE public) AS public_agents"
            " FROM directory.agents"
        )
        return dict(r)

    # ── admin (operator) views ──────────────────────────────────────────────
    async def admin_agents(self, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        rows = await self._pool.fetch(
            f"SELECT {PROFILE_COLUMNS} FROM directory.agents ORDER BY created_at DESC LIMIT $1 OFFSET $2",
            limit,
            offset,
        )
        return [row_dict(r) for r in rows], await self._pool.fetchval("SELECT count(*) FROM directory.agents")

    async def delete_agent(self, agent_id: str) -> bool:
        return (
            await self._pool.execute("DELETE FROM directory.agents WHERE agent_id = $1", agent_id)
            != "DELETE 0"
        )
