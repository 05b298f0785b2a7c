"""All SQL of shared memory (`memory.shared_entries`): public read, one row per (namespace, key, owner), so
nobody overwrites another agent's entry. Expired rows are never returned and are swept periodically."""

from __future__ import annotations

from typing import Any

from services.memory.db import Db, affected
from services.memory.stores.entries import LIVE, expiry, times
from shared.crypto import Cipher


class SharedStore:
    def __init__(self, db: Db, cipher: Cipher) -> None:
        self._db, self._cipher = db, cipher

    async def publish(
        self, owner: str, namespace: str, key: str, value: str, description: str | None, ttl: int | None
    ) -> None:
        await self._db.execute(
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
            expiry(ttl),
        )

    async def namespaces(self, limit: int) -> list[dict[str, Any]]:
        rows = await self._db.fetch(
            f"SELECT namespace, count(*) AS entry_count, count(DISTINCT owner_agent) AS contributor_count"
            f" FROM memory.shared_entries WHERE {LIVE} GROUP BY namespace ORDER BY namespace LIMIT $1",
            limit,
        )
        return [dict(r) for r in rows]

    async def entries(self, namespace: str, prefix: str, limit: int) -> list[dict[str, Any]]:
        rows = await self._db.fetch(
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
                **times(r, "updated_at", "expires_at"),
            }
            for r in rows
        ]

    async def get(self, namespace: str, key: str, owner: str | None) -> dict[str, Any] | None:
        r = await self._db.fetchrow(
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
            **times(r, "created_at", "updated_at", "expires_at"),
            "owner_count": r["owners"],
        }

    async def delete(self, owner: str, namespace: str, key: str) -> bool:
        status = await self._db.execute(
            f"DELETE FROM memory.shared_entries WHERE owner_agent = $1 AND namespace = $2 AND key = $3"
            f" AND {LIVE}",
            owner,
            namespace,
            key,
        )
        return affected(status) > 0

    # ── counts and operator views ───────────────────────────────────────────
    async def count_live(self, owner: str | None = None) -> int:
        """Live shared entries of one owner, or of all."""
        n: int = await self._db.fetchval(
            f"SELECT count(*) FROM memory.shared_entries WHERE ($1::text IS NULL OR owner_agent = $1)"
            f" AND {LIVE}",
            owner,
        )
        return n

    async def admin_entries(
        self, namespace: str | None, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        rows = await self._db.fetch(
            "SELECT owner_agent, namespace, key, description, size_bytes, created_at, updated_at, expires_at"
            " FROM memory.shared_entries WHERE ($1::text IS NULL OR namespace = $1)"
            " ORDER BY updated_at DESC LIMIT $2 OFFSET $3",
            namespace,
            limit,
            offset,
        )
        total: int = await self._db.fetchval(
            "SELECT count(*) FROM memory.shared_entries WHERE ($1::text IS NULL OR namespace = $1)", namespace
        )
        return [{**dict(r), **times(r, "created_at", "updated_at", "expires_at")} for r in rows], total

    # ── housekeeping ────────────────────────────────────────────────────────
    async def sweep_expired(self, batch: int = 5000) -> int:
        """Delete expired rows in bounded batches (harmless when several replicas sweep at once)."""
        return affected(
            await self._db.execute(
                "DELETE FROM memory.shared_entries WHERE ctid = ANY(ARRAY(SELECT ctid FROM memory.shared_entries"
                f" WHERE expires_at <= now() LIMIT {batch} FOR UPDATE SKIP LOCKED))"
            )
        )

    async def delete_agent(self, owner: str) -> int:
        return affected(
            await self._db.execute("DELETE FROM memory.shared_entries WHERE owner_agent = $1", owner)
        )
