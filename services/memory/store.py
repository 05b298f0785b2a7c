"""SQL of the memory schema. Expired rows are never returned and are swept periodically."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import asyncpg

from shared.crypto import Cipher
from shared.timeutil import iso, utcnow

LIVE = "(expires_at IS NULL OR expires_at > now())"


def _expiry(ttl_seconds: int | None) -> datetime | None:
    return utcnow() + timedelta(seconds=ttl_seconds) if ttl_seconds else None


def _times(r: asyncpg.Record, *names: str) -> dict[str, Any]:
    return {n: iso(r[n]) for n in names}


class MemoryStore:
    def __init__(self, pool: asyncpg.Pool, cipher: Cipher) -> None:
        self._pool, self._cipher = pool, cipher

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool

    @property
    def cipher(self) -> Cipher:
        return self._cipher

    # ── private memory ──────────────────────────────────────────────────────
    async def get(self, agent_id: str, namespace: str, key: str) -> dict[str, Any] | None:
        r = await self._pool.fetchrow(
            f"SELECT value, updated_at, expires_at FROM memory.entries"
            f" WHERE agent_id = $1 AND namespace = $2 AND key = $3 AND {LIVE}",
            agent_id,
            namespace,
            key,
        )
        if r is None:
            return None
        return {
            "key": key,
            "value": self._cipher.decrypt(r["value"]),
            "namespace": namespace,
            **_times(r, "updated_at", "expires_at"),
        }

    async def list(self, agent_id: str, namespace: str, prefix: str, limit: int) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            f"SELECT key, size_bytes, updated_at, expires_at FROM memory.entries"
            f" WHERE agent_id = $1 AND namespace = $2 AND starts_with(key, $3) AND {LIVE}"
            f" ORDER BY key LIMIT $4",
            agent_id,
            namespace,
            prefix,
            limit,
        )
        return [
            {"key": r["key"], "size_bytes": r["size_bytes"], **_times(r, "updated_at", "expires_at")}
            for r in rows
        ]

    async def delete(self, agent_id: str, namespace: str, key: str) -> bool:
        status = await self._pool.execute(
            f"DELETE FROM memory.entries WHERE agent_id = $1 AND namespace = $2 AND key = $3 AND {LIVE}",
            agent_id,
            namespace,
            key,
        )
        return status != "DELETE 0"

    # ── shared memory ───────────────────────────────────────────────────────
    async def shared_set(
        self, owner: str, namespace: str, key: str, value: str, description: str | None, ttl: int | None
    ) -> None:
        await self._pool.execute(
            "INSERT INTO memory.shared_entries AS e"
            " (owner_agent, namespace, key, value, size_bytes, description, expires_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT (namespace, key, owner_agent) DO UPDATE SET value = EXCLUDED.value,"
            " size_bytes = EXCLUDED.size_bytes, description = EXCLUDED.description,"
            " expires_at = EXCLUDED.expires_at, updated_at = now(),"
            " created_at = CASE WHEN e.expires_at <= now() THEN now() ELSE e.created_at END",
            owner,
            namespace,
            key,
            self._cipher.encrypt(value),
            len(value.encode()),
            description,
            _expiry(ttl),
        )

    async def shared_namespaces(self, limit: int) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            f"SELECT namespace, count(*) AS entry_count, count(DISTINCT owner_agent) AS contributor_count"
            f" FROM memory.shared_entries WHERE {LIVE} GROUP BY namespace ORDER BY namespace LIMIT $1",
            limit,
        )
        return [dict(r) for r in rows]

    async def shared_list(self, namespace: str, prefix: str, limit: int) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            f"SELECT owner_agent, key, description, size_bytes, updated_at, expires_at"
            f" FROM memory.shared_entries WHERE namespace = $1 AND starts_with(key, $2) AND {LIVE}"
            f" ORDER BY key, updated_at DESC LIMIT $3",
            namespace,
            prefix,
            limit,
        )
        return [
            {
                "owner_agent": r["owner_agent"],
                "key": r["key"],
                "description": r["description"],
                "size_bytes": r["size_bytes"],
                **_times(r, "updated_at", "expires_at"),
            }
            for r in rows
        ]

    async def shared_get(self, namespace: str, key: str, owner: str | None) -> dict[str, Any] | None:
        r = await self._pool.fetchrow(
            f"SELECT owner_agent, value, description, created_at, updated_at, expires_at,"
            f" (SELECT count(*) FROM memory.shared_entries o WHERE o.namespace = $1 AND o.key = $2"
            f" AND (o.expires_at IS NULL OR o.expires_at > now())) AS owners FROM memory.shared_entries"
            f" WHERE namespace = $1 AND key = $2 AND ($3::text IS NULL OR owner_agent = $3) AND {LIVE}"
            f" ORDER BY updated_at DESC LIMIT 1",
            namespace,
            key,
            owner,
        )
        if r is None:
            return None
        return {
            "owner_agent": r["owner_agent"],
            "namespace": namespace,
            "key": key,
            "value": self._cipher.decrypt(r["value"]),
            "description": r["description"],
            **_times(r, "created_at", "updated_at", "expires_at"),
            "owner_count": r["owners"],
        }

    async def shared_delete(self, owner: str, namespace: str, key: str) -> bool:
        status = await self._pool.execute(
            f"DELETE FROM memory.shared_entries WHERE owner_agent = $1 AND namespace = $2 AND key = $3"
            f" AND {LIVE}",
            owner,
            namespace,
            key,
        )
        return status != "DELETE 0"

    # ── housekeeping ────────────────────────────────────────────────────────
    async def sweep_expired(self, batch: int = 5000) -> int:
        """Delete expired rows in bounded batches (harmless when several replicas sweep at once)."""
        removed = 0
        for table in ("memory.entries", "memory.shared_entries"):
            status = await self._pool.execute(
                f"DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table}"
                f" WHERE expires_at <= now() LIMIT {batch} FOR UPDATE SKIP LOCKED))"
            )
            removed += int(status.split()[-1])
        return removed

    async def counts(self) -> dict[str, int]:
        r = await self._pool.fetchrow(
            f"SELECT (SELECT count(*) FROM memory.entries WHERE {LIVE}) AS memory_keys_stored,"
            f" (SELECT count(*) FROM memory.shared_entries WHERE {LIVE}) AS shared_memory_keys"
        )
        return dict(r)

    async def agent_counts(self, agent_id: str) -> dict[str, int]:
        """One agent's live keys, for GET /v1/stats (the directory gathers it)."""
        r = await self._pool.fetchrow(
            f"SELECT (SELECT count(*) FROM memory.entries WHERE agent_id = $1 AND {LIVE}) AS memory_keys,"
            f" (SELECT count(*) FROM memory.shared_entries WHERE owner_agent = $1 AND {LIVE}) AS shared_memory_keys",
            agent_id,
        )
        return dict(r)

    async def delete_agent(self, agent_id: str) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            a = await conn.execute("DELETE FROM memory.entries WHERE agent_id = $1", agent_id)
            b = await conn.execute("DELETE FROM memory.shared_entries WHERE owner_agent = $1", agent_id)
        return int(a.split()[-1]) + int(b.split()[-1])

    # ── admin (operator) views ──────────────────────────────────────────────
    async def admin_entries(
        self, agent_id: str | None, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        rows = await self._pool.fetch(
            "SELECT agent_id, namespace, key, size_bytes, created_at, updated_at, expires_at FROM memory.entries"
            " WHERE ($1::text IS NULL OR agent_id = $1) ORDER BY updated_at DESC LIMIT $2 OFFSET $3",
            agent_id,
            limit,
            offset,
        )
        total = await self._pool.fetchval(
            "SELECT count(*) FROM memory.entries WHERE ($1::text IS NULL OR agent_id = $1)", agent_id
        )
        return [{**dict(r), **_times(r, "created_at", "updated_at", "expires_at")} for r in rows], total

    async def admin_shared(
        self, namespace: str | None, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        rows = await self._pool.fetch(
            "SELECT owner_agent, namespace, key, description, size_bytes, created_at, updated_at, expires_at"
            " FROM memory.shared_entries WHERE ($1::text IS NULL OR namespace = $1)"
            " ORDER BY updated_at DESC LIMIT $2 OFFSET $3",
            namespace,
            limit,
            offset,
        )
        total = await self._pool.fetchval(
            "SELECT count(*) FROM memory.shared_entries WHERE ($1::text IS NULL OR namespace = $1)", namespace
        )
        return [{**dict(r), **_times(r, "created_at", "updated_at", "expires_at")} for r in rows], total

    async def admin_value(self, agent_id: str, namespace: str, key: str) -> str | None:
        raw = await self._pool.fetchval(
            "SELECT value FROM memory.entries WHERE agent_id = $1 AND namespace = $2 AND key = $3",
            agent_id,
            namespace,
            key,
        )
        return None if raw is None else self._cipher.decrypt(raw)
