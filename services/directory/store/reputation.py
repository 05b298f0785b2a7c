"""Collaborations and ratings, and the reputation they add up to (directory.collaborations,
directory.ratings, and the reputation columns of directory.agents).

Reputation is the rounded average of every rating counted so far, kept exactly as sum and count; a rating
is counted once per rating_id (the collaboration id, or the marketplace review it came from), so a retried
notice cannot count twice.

A collaboration between agents registered from the same network (directory.agents.registered_from) is logged
but its rating is not counted, unless the operator says so (`same_network_counts`): one operator's agents
rating each other is not evidence of anything (docs/marketplace.md "Sybils")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.directory.store.rows import row_dict
from shared.crypto import Cipher
from shared.timeutil import iso

RATE = (
    "UPDATE directory.agents SET reputation_sum = reputation_sum + $2, reputation_count = reputation_count + 1,"
    " reputation = round((reputation_sum + $2)::numeric / (reputation_count + 1), 2), updated_at = now()"
    " WHERE agent_id = $1 RETURNING reputation, reputation_count"
)
COLLABORATION_COLUMNS = "collaboration_id, agent_id, partner_agent, task_type, outcome, rating, created_at"


class ReputationStore:
    def __init__(self, pool: asyncpg.Pool, cipher: Cipher, same_network_counts: bool = False) -> None:
        self._pool, self._cipher, self._same_network_counts = pool, cipher, same_network_counts

    def _collaboration(self, r: asyncpg.Record) -> dict[str, Any]:
        return {**row_dict(r), "task_type": self._cipher.decrypt(r["task_type"]) if r["task_type"] else None}

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
        async with self._pool.acquire() as conn, conn.transaction():
            counted = self._same_network_counts or not await conn.fetchval(
                "SELECT a.registered_from = p.registered_from FROM directory.agents a, directory.agents p"
                " WHERE a.agent_id = $1 AND p.agent_id = $2",
                agent_id,
                partner,
            )
            if counted:
                rated = await conn.fetchrow(RATE, partner, rating)
            else:
                rated = await conn.fetchrow(
                    "SELECT reputation FROM directory.agents WHERE agent_id = $1", partner
                )
            if rated is None:
                return None
            created: datetime = await conn.fetchval(
                "INSERT INTO directory.collaborations (collaboration_id, agent_id, partner_agent, task_type,"
                " outcome, rating) VALUES ($1, $2, $3, $4, $5, $6) RETURNING created_at",
                collaboration_id,
                agent_id,
                partner,
                self._cipher.encrypt(task_type) if task_type is not None else None,
                outcome,
                rating,
            )
            if counted:
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
    ) -> tuple[dict[str, Any], bool] | None:
        """Count a rating once per rating_id; returns (the agent's reputation, newly counted), or None for
        an unknown agent (the rating is not kept)."""
        try:
            async with self._pool.acquire() as conn, conn.transaction():
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
                    if r is None:  # unknown agent: roll the rating row back with the transaction
                        raise _UnknownAgent
                else:
                    r = await conn.fetchrow(
                        "SELECT reputation, reputation_count FROM directory.agents WHERE agent_id = $1",
                        agent_id,
                    )
        except _UnknownAgent:
            return None
        if r is None:
            return None
        return dict(r), bool(fresh)

    async def agent_numbers(self, agent_id: str) -> dict[str, Any] | None:
        """The agent's own numbers for its stats: name, creation, reputation, credits, collaborations."""
        r = await self._pool.fetchrow(
            "SELECT name, created_at, reputation, credits,"
            " (SELECT count(*) FROM directory.collaborations WHERE agent_id = $1) AS collaborations_given,"
            " (SELECT count(*) FROM directory.collaborations WHERE partner_agent = $1) AS collaborations_received"
            " FROM directory.agents WHERE agent_id = $1",
            agent_id,
        )
        return row_dict(r) if r else None

    async def of_agent(self, agent_id: str, limit: int, offset: int) -> list[dict[str, Any]]:
        """The collaborations an agent logged or was rated in, newest first."""
        rows = await self._pool.fetch(
            f"SELECT {COLLABORATION_COLUMNS} FROM directory.collaborations"
            " WHERE agent_id = $1 OR partner_agent = $1"
            " ORDER BY created_at DESC, collaboration_id LIMIT $2 OFFSET $3",
            agent_id,
            limit,
            offset,
        )
        return [self._collaboration(r) for r in rows]

    async def page(self, agent_id: str | None, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        """The operator's listing (of every collaboration, or one agent's)."""
        where = "$1::text IS NULL OR agent_id = $1 OR partner_agent = $1"
        rows = await self._pool.fetch(
            f"SELECT {COLLABORATION_COLUMNS} FROM directory.collaborations WHERE {where}"
            " ORDER BY created_at DESC LIMIT $2 OFFSET $3",
            agent_id,
            limit,
            offset,
        )
        total = await self._pool.fetchval(
            f"SELECT count(*) FROM directory.collaborations WHERE {where}", agent_id
        )
        return [self._collaboration(r) for r in rows], int(total)

    async def edges(self, agent_ids: list[str]) -> list[dict[str, Any]]:
        """Who worked with whom among `agent_ids`: one edge per (agent, partner) pair."""
        pairs = await self._pool.fetch(
            "SELECT agent_id, partner_agent, count(*) AS weight, avg(rating) AS avg_rating, max(created_at) AS last"
            " FROM directory.collaborations WHERE agent_id = ANY($1) AND partner_agent = ANY($1)"
            " GROUP BY agent_id, partner_agent ORDER BY agent_id, partner_agent",
            agent_ids,
        )
        return [
            {
                "source": p["agent_id"],
                "target": p["partner_agent"],
                "type": "collaboration",
                "weight": int(p["weight"]),
                "avg_rating": round(float(p["avg_rating"]), 1),
                "last_activity": iso(p["last"]),
            }
            for p in pairs
        ]


class _UnknownAgent(Exception):
    """Raised inside record_rating's transaction to roll it back."""
