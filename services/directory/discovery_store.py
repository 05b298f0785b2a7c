"""SQL of discovery: search, availability, collaborations and reputation (the directory schema only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.directory.store import row_dict
from shared.crypto import Cipher

SEARCH_COLUMNS = (
    "agent_id, name, description, capabilities, available, looking_for, busy_until, reputation,"
    " credits, created_at, skills, role"
)
# The original's match items, exactly (tests/test_directory.py::test_match): 1.0's match has no skill filter.
MATCH_COLUMNS = (
    "agent_id, name, description, capabilities, available, looking_for, reputation, credits, created_at"
)
FREE_NOW = "available AND (busy_until IS NULL OR busy_until < now())"
# reputation = the rounded average of every rating counted so far (sum and count are exact).
RATE = (
    "UPDATE directory.agents SET reputation_sum = reputation_sum + $2, reputation_count = reputation_count + 1,"
    " reputation = round((reputation_sum + $2)::numeric / (reputation_count + 1), 2), updated_at = now()"
    " WHERE agent_id = $1 RETURNING reputation, reputation_count"
)


class DiscoveryStore:
    def __init__(self, pool: asyncpg.Pool, cipher: Cipher) -> None:
        self.pool, self.cipher = pool, cipher

    async def search(
        self,
        capability: str | None,
        available: bool | None,
        min_reputation: float,
        limit: int,
        skill: str | None = None,
    ) -> list[dict[str, Any]]:
        """Only the filters given become SQL conditions, so each query shape gets its own plan: the GIN
        indexes for a capability or a skill, the (reputation, created_at) index for the order otherwise."""
        where, args = ["public"], [limit]
        for column, value in (("capabilities", capability), ("skills", skill)):
            if value is not None:
                args.append([value])
                where.append(f"{column} @> ${len(args)}::text[]")
        if available:  # as the original: available=false does not filter
            where.append(FREE_NOW)
        if min_reputation > 0:
            args.append(min_reputation)
            where.append(f"reputation >= ${len(args)}")
        rows = await self.pool.fetch(
            f"SELECT {SEARCH_COLUMNS} FROM directory.agents WHERE {' AND '.join(where)}"
            " ORDER BY reputation DESC, created_at DESC LIMIT $1",
            *args,
        )
        return [row_dict(r) for r in rows]

    async def match(
        self, agent_id: str, need: str, min_reputation: float, limit: int
    ) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            f"SELECT {MATCH_COLUMNS} FROM directory.agents WHERE public AND {FREE_NOW}"
            " AND capabilities @> $1::text[] AND reputation >= $2 AND agent_id <> $3"
            " ORDER BY reputation DESC, created_at DESC LIMIT $4",
            [need],
            min_reputation,
            agent_id,
            limit,
        )
        return [row_dict(r) for r in rows]

    async def update_status(
        self,
        agent_id: str,
        available: bool | None,
        looking_for: list[str] | None,
        busy_until: datetime | None,
    ) -> bool:
        status = await self.pool.execute(
            "UPDATE directory.agents SET available = COALESCE($2, available),"
            " looking_for = COALESCE($3, looking_for), busy_until = COALESCE($4, busy_until), updated_at = now()"
            " WHERE agent_id = $1",
            agent_id,
            available,
            looking_for,
            busy_until,
        )
        return status != "UPDATE 0"

    async def public_agent(self, agent_id: str) -> dict[str, Any] | None:
        r = await self.pool.fetchrow(
            "SELECT agent_id, name, description, capabilities, available, busy_until, reputation, reputation_count,"
            " created_at, skills, role FROM directory.agents WHERE agent_id = $1 AND public",
            agent_id,
        )
        return row_dict(r) if r else None

    async def collaborate(
        self,
        collaboration_id: str,
        agent_id: str,
        partner: str,
        task_type: str | None,
        outcome: str,
        rating: int,
    ) -> tuple[float, datetime] | None:
        """Log the collaboration and count its rating into the partner's reputation (one transaction);
        None when the partner does not exist."""
        async with self.pool.acquire() as conn, conn.transaction():
            rated = await conn.fetchrow(RATE, partner, rating)
            if rated is None:
                return None
            created = await conn.fetchval(
                "INSERT INTO directory.collaborations (collaboration_id, agent_id, partner_agent, task_type, outcome,"
                " rating) VALUES ($1, $2, $3, $4, $5, $6) RETURNING created_at",
                collaboration_id,
                agent_id,
                partner,
                self.cipher.encrypt(task_type) if task_type is not None else None,
                outcome,
                rating,
            )
            await conn.execute(
                "INSERT INTO directory.ratings (rating_id, agent_id, rating, source)"
                " VALUES ($1, $2, $3, 'collaboration')",
                collaboration_id,
                partner,
                rating,
            )
        return float(rated["reputation"]), created

    async def record_rating(
        self, rating_id: str, agent_id: str, rating: int, source: str
    ) -> tuple[dict[str, Any] | None, bool]:
        """Count a rating once per rating_id; returns (the agent's reputation, newly counted)."""
        async with self.pool.acquire() as conn, conn.transaction():
            fresh = await conn.fetchval(
                "INSERT INTO directory.ratings (rating_id, agent_id, rating, source) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (rating_id) DO NOTHING RETURNING true",
                rating_id,
                agent_id,
                rating,
                source,
            )
            if fresh:
                r = await conn.fetchrow(RATE, agent_id, rating)
                if r is None:  # unknown agent: the rating row rolls back with the transaction
                    raise LookupError(agent_id)
            else:
                r = await conn.fetchrow(
                    "SELECT reputation, reputation_count FROM directory.agents WHERE agent_id = $1", agent_id
                )
        return (dict(r) if r else None), bool(fresh)

    async def agent_stats(self, agent_id: str) -> dict[str, Any] | None:
        r = await self.pool.fetchrow(
            "SELECT name, created_at, reputation, credits,"
            " COALESCE((SELECT requests FROM directory.request_counts WHERE agent_id = $1), 0)"
            " AS total_requests,"
            " (SELECT count(*) FROM directory.collaborations WHERE agent_id = $1) AS collaborations_given,"
            " (SELECT count(*) FROM directory.collaborations WHERE partner_agent = $1) AS collaborations_received"
            " FROM directory.agents WHERE agent_id = $1",
            agent_id,
        )
        return row_dict(r) if r else None

    async def admin_collaborations(
        self, agent_id: str | None, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        where = "$1::text IS NULL OR agent_id = $1 OR partner_agent = $1"
        rows = await self.pool.fetch(
            "SELECT collaboration_id, agent_id, partner_agent, task_type, outcome, rating, created_at"
            f" FROM directory.collaborations WHERE {where} ORDER BY created_at DESC LIMIT $2 OFFSET $3",
            agent_id,
            limit,
            offset,
        )
        total = await self.pool.fetchval(
            f"SELECT count(*) FROM directory.collaborations WHERE {where}", agent_id
        )
        items = [
            {**row_dict(r), "task_type": self.cipher.decrypt(r["task_type"]) if r["task_type"] else None}
            for r in rows
        ]
        return items, int(total)

    async def count_collaborations(self) -> int:
        return int(await self.pool.fetchval("SELECT count(*) FROM directory.collaborations"))
