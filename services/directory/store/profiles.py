"""Profiles: what an agent says about itself (description, capabilities, skills, role, availability) and
every way it is found (browse, search, match, the card, the public views). The columns live on
directory.agents beside the identity that store/agents.py owns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.directory.store.rows import changed, row_dict

REGISTRY_COLUMNS = "agent_id, role, capabilities, skills"
BROWSE_COLUMNS = "agent_id, name, description, capabilities, available, reputation, credits, created_at"
SEARCH_COLUMNS = (
    "agent_id, name, description, capabilities, available, looking_for, busy_until, reputation,"
    " credits, created_at, skills, role, interests"
)
# The original's match items, exactly (tests/test_directory.py::test_match): 1.0's match has no skill filter.
MATCH_COLUMNS = (
    "agent_id, name, description, capabilities, available, looking_for, reputation, credits, created_at"
)
CARD_COLUMNS = (
    "agent_id, name, description, capabilities, available, busy_until, reputation, reputation_count,"
    " created_at, skills, role"
)
PUBLIC_PROFILE_COLUMNS = (
    "agent_id, name, description, capabilities, reputation, reputation_count, credits, available,"
    " created_at, skills, role"
)
NETWORK_COLUMNS = (
    "agent_id, name, description, capabilities, skills, interests, reputation, credits, available, created_at"
)
FREE_NOW = "available AND (busy_until IS NULL OR busy_until < now())"


class ProfileStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    # ── an agent's own profile ────────────────────────────────────────────────
    async def update(
        self,
        agent_id: str,
        description: str | None,
        capabilities: list[str] | None,
        public: bool,
        skills: list[str] | None = None,
        interests: list[str] | None = None,
    ) -> bool:
        """Fields given as None keep their value; `public` is always set (as the original's PUT)."""
        return changed(
            await self._pool.execute(
                "UPDATE directory.agents SET description = COALESCE($2, description),"
                " capabilities = COALESCE($3, capabilities), public = $4, skills = COALESCE($5, skills),"
                " interests = COALESCE($6, interests), updated_at = now() WHERE agent_id = $1",
                agent_id,
                description,
                capabilities,
                public,
                skills,
                interests,
            )
        )

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

    async def update_status(
        self,
        agent_id: str,
        available: bool | None,
        looking_for: list[str] | None,
        busy_until: datetime | None,
    ) -> bool:
        return changed(
            await self._pool.execute(
                "UPDATE directory.agents SET available = COALESCE($2, available),"
                " looking_for = COALESCE($3, looking_for), busy_until = COALESCE($4, busy_until),"
                " updated_at = now() WHERE agent_id = $1",
                agent_id,
                available,
                looking_for,
                busy_until,
            )
        )

    # ── finding agents ───────────────────────────────────────────────────────
    async def browse(self, capability: str | None, limit: int, offset: int = 0) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            f"SELECT {BROWSE_COLUMNS} FROM directory.agents WHERE public"
            " AND ($1::text IS NULL OR capabilities @> ARRAY[$1::text])"
            " ORDER BY created_at DESC, agent_id LIMIT $2 OFFSET $3",
            capability,
            limit,
            offset,
        )
        return [row_dict(r) for r in rows]

    async def search(
        self,
        capability: str | None,
        available: bool | None,
        min_reputation: float,
        limit: int,
        skill: str | None = None,
        interest: str | None = None,
    ) -> list[dict[str, Any]]:
        """Only the filters given become SQL conditions, so each query shape gets its own plan: the GIN
        indexes for a capability, a skill or an interest, the (reputation, created_at) index for the order otherwise."""
        where: list[str] = ["public"]
        args: list[Any] = [limit]
        for column, value in (("capabilities", capability), ("skills", skill), ("interests", interest)):
            if value is not None:
                args.append([value])
                where.append(f"{column} @> ${len(args)}::text[]")
        if available:  # as the original: available=false does not filter
            where.append(FREE_NOW)
        if min_reputation > 0:
            args.append(min_reputation)
            where.append(f"reputation >= ${len(args)}")
        rows = await self._pool.fetch(
            f"SELECT {SEARCH_COLUMNS} FROM directory.agents WHERE {' AND '.join(where)}"
            " ORDER BY reputation DESC, created_at DESC LIMIT $1",
            *args,
        )
        return [row_dict(r) for r in rows]

    async def match(
        self, agent_id: str, need: str, min_reputation: float, limit: int
    ) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            f"SELECT {MATCH_COLUMNS} FROM directory.agents WHERE public AND {FREE_NOW}"
            " AND capabilities @> $1::text[] AND reputation >= $2 AND agent_id <> $3"
            " ORDER BY reputation DESC, created_at DESC LIMIT $4",
            [need],
            min_reputation,
            agent_id,
            limit,
        )
        return [row_dict(r) for r in rows]

    # ── public views ─────────────────────────────────────────────────────────
    async def card(self, agent_id: str) -> dict[str, Any] | None:
        """What an agent card shows of a public agent."""
        r = await self._pool.fetchrow(
            f"SELECT {CARD_COLUMNS} FROM directory.agents WHERE agent_id = $1 AND public", agent_id
        )
        return row_dict(r) if r else None

    async def public_profile(self, agent_id: str) -> dict[str, Any] | None:
        """A public agent's profile row (timestamps left as datetimes: the reply shows the date)."""
        r = await self._pool.fetchrow(
            f"SELECT {PUBLIC_PROFILE_COLUMNS} FROM directory.agents WHERE agent_id = $1 AND public", agent_id
        )
        return dict(r) if r else None

    async def public_count(self) -> int:
        return int(await self._pool.fetchval("SELECT count(*) FROM directory.agents WHERE public"))

    async def ranked(self, limit: int) -> list[dict[str, Any]]:
        """Public agents by reputation (ties: the earlier first), for the leaderboard."""
        rows = await self._pool.fetch(
            "SELECT agent_id, name, reputation, credits FROM directory.agents WHERE public"
            " ORDER BY reputation DESC, created_at LIMIT $1",
            limit,
        )
        return [dict(r) for r in rows]

    async def public_capabilities(self) -> list[dict[str, Any]]:
        """Every public agent's capabilities and (the directory's copy of) its credits."""
        rows = await self._pool.fetch(
            "SELECT agent_id, capabilities, credits FROM directory.agents WHERE public"
        )
        return [dict(r) for r in rows]

    async def network_nodes(self, limit: int) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            f"SELECT {NETWORK_COLUMNS} FROM directory.agents WHERE public"
            " ORDER BY reputation DESC, created_at DESC LIMIT $1",
            limit,
        )
        return [dict(r) for r in rows]
