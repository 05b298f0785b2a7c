"""SQL of MoltGrid 1.0's private-memory features: versioned writes with compare-and-set, visibility,
history (recorded by the memory.entries trigger of migration 0003), metadata, cross-agent reads and their log.

Compare-and-set needs no explicit lock: the conditional UPDATE (or INSERT … ON CONFLICT … WHERE) is one
statement, and Postgres re-checks its condition against the newest row version after waiting for a concurrent
writer, so of two writers that saw the same version exactly one succeeds, whichever replica serves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from services.memory.store import LIVE, _expiry
from shared.crypto import Cipher
from shared.errors import Conflict
from shared.timeutil import iso

ACCESS_LOG_RETENTION_DAYS = 30

# Shared by the three write shapes: the new row's columns, $1…$8.
_INSERT = (
    "INSERT INTO memory.entries AS e (agent_id, namespace, key, value, size_bytes, expires_at, visibility,"
    " shared_agents) VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7, 'private'), COALESCE($8, '{}'::text[]))"
)
_EXPIRED = "e.expires_at IS NOT NULL AND e.expires_at <= now()"
_UPDATE = (
    " SET value = EXCLUDED.value, size_bytes = EXCLUDED.size_bytes, expires_at = EXCLUDED.expires_at,"
    " updated_at = now(),"
    f" version = CASE WHEN {_EXPIRED} THEN 1 ELSE e.version + 1 END,"
    f" created_at = CASE WHEN {_EXPIRED} THEN now() ELSE e.created_at END,"
    f" visibility = CASE WHEN $7::text IS NOT NULL THEN $7 WHEN {_EXPIRED} THEN 'private' ELSE e.visibility END,"
    f" shared_agents = CASE WHEN $7::text IS NOT NULL OR $8::text[] IS NOT NULL THEN COALESCE($8, '{{}}'::text[])"
    f" WHEN {_EXPIRED} THEN '{{}}'::text[] ELSE e.shared_agents END"
)
_RETURNING = " RETURNING e.version, e.visibility"


@dataclass(frozen=True, slots=True)
class Write:
    """One write of a private entry (a POST /v1/memory or one batch item)."""

    namespace: str
    key: str
    value: str
    ttl_seconds: int | None = None
    visibility: str | None = None  # None: unchanged (a new entry is private)
    shared_agents: list[str] | None = None
    expected_version: int | None = None  # None: unconditional; 0: must not exist; n: must be at version n


def _entry_times(r: asyncpg.Record, *names: str) -> dict[str, Any]:
    return {n: iso(r[n]) for n in names}


class VersionedStore:
    def __init__(self, pool: asyncpg.Pool, cipher: Cipher) -> None:
        self._pool, self._cipher = pool, cipher

    # ── writes ──────────────────────────────────────────────────────────────
    async def write(self, agent_id: str, w: Write) -> dict[str, Any]:
        """Store a value; returns {version, visibility}. Raises Conflict when expected_version does not match."""
        shared = None if w.shared_agents is None else sorted(set(w.shared_agents) - {agent_id})
        if w.visibility is not None and w.visibility != "shared":
            shared = []  # an explicit private/public entry keeps no list
        args = (
            agent_id,
            w.namespace,
            w.key,
            self._cipher.encrypt(w.value),
            len(w.value.encode()),
            _expiry(w.ttl_seconds),
            w.visibility,
            shared,
        )
        if w.expected_version is None:
            sql = f"{_INSERT} ON CONFLICT (agent_id, namespace, key) DO UPDATE{_UPDATE}{_RETURNING}"
        elif w.expected_version == 0:  # create only: an expired row counts as absent
            sql = f"{_INSERT} ON CONFLICT (agent_id, namespace, key) DO UPDATE{_UPDATE} WHERE {_EXPIRED}{_RETURNING}"
        else:
            sql = (
                f"UPDATE memory.entries AS e{_UPDATE.replace('EXCLUDED.', 'new.')}"
                " FROM (SELECT $4::text AS value, $5::integer AS size_bytes, $6::timestamptz AS expires_at) new"
                f" WHERE e.agent_id = $1 AND e.namespace = $2 AND e.key = $3 AND e.version = $9"
                f" AND NOT ({_EXPIRED}){_RETURNING}"
            )
            args = (*args, w.expected_version)
        row = await self._pool.fetchrow(sql, *args)
        if row is None:
            current = await self.current_version(agent_id, w.namespace, w.key)
            raise Conflict(
                f"Version mismatch: expected {w.expected_version}, current {current}",
                {"expected_version": w.expected_version, "current_version": current},
            )
        return {"version": row["version"], "visibility": row["visibility"]}

    async def current_version(self, agent_id: str, namespace: str, key: str) -> int:
        """The live entry's version, 0 when there is none."""
        v = await self._pool.fetchval(
            f"SELECT version FROM memory.entries WHERE agent_id = $1 AND namespace = $2 AND key = $3 AND {LIVE}",
            agent_id,
            namespace,
            key,
        )
        return int(v or 0)

    async def set_visibility(
        self, agent_id: str, namespace: str, key: str, visibility: str, shared_agents: list[str]
    ) -> bool:
        shared = sorted(set(shared_agents) - {agent_id}) if visibility == "shared" else []
        status = await self._pool.execute(
            f"UPDATE memory.entries SET visibility = $4, shared_agents = $5"
            f" WHERE agent_id = $1 AND namespace = $2 AND key = $3 AND {LIVE}",
            agent_id,
            namespace,
            key,
            visibility,
            shared,
        )
        return status != "UPDATE 0"

    # ── reads ───────────────────────────────────────────────────────────────
    async def meta(self, agent_id: str, namespace: str, key: str) -> dict[str, Any] | None:
        r = await self._pool.fetchrow(
            f"SELECT version, visibility, shared_agents, size_bytes, created_at, updated_at, expires_at"
            f" FROM memory.entries WHERE agent_id = $1 AND namespace = $2 AND key = $3 AND {LIVE}",
            agent_id,
            namespace,
            key,
        )
        if r is None:
            return None
        return {
            "key": key,
            "namespace": namespace,
            "writer": agent_id,
            "version": r["version"],
            **_entry_times(r, "created_at", "updated_at", "expires_at"),
            "visibility": r["visibility"],
            "shared_agents": list(r["shared_agents"]),
            "size_bytes": r["size_bytes"],
        }

    async def history(
        self, agent_id: str, namespace: str, key: str, limit: int
    ) -> list[dict[str, Any]] | None:
        """Past values, newest first; None when the live entry does not exist."""
        async with self._pool.acquire() as conn:
            if not await conn.fetchval(
                f"SELECT true FROM memory.entries WHERE agent_id = $1 AND namespace = $2"
                f" AND key = $3 AND {LIVE}",
                agent_id,
                namespace,
                key,
            ):
                return None
            rows = await conn.fetch(
                "SELECT version, value, changed_by, changed_at FROM memory.history"
                " WHERE agent_id = $1 AND namespace = $2 AND key = $3 ORDER BY version DESC LIMIT $4",
                agent_id,
                namespace,
                key,
                limit,
            )
        return [
            {
                "version": r["version"],
                "value": self._cipher.decrypt(r["value"]),
                "changed_by": r["changed_by"],
                "changed_at": iso(r["changed_at"]),
            }
            for r in rows
        ]

    async def read_as(self, reader: str, owner: str, namespace: str, key: str) -> dict[str, Any] | None:
        """Another agent's entry if its visibility lets `reader` see it, else None (whether or not it exists).
        Every read of an existing entry by someone other than its owner is logged, granted or not."""
        async with self._pool.acquire() as conn:
            r = await conn.fetchrow(
                f"SELECT value, visibility, shared_agents, updated_at, expires_at FROM memory.entries"
                f" WHERE agent_id = $1 AND namespace = $2 AND key = $3 AND {LIVE}",
                owner,
                namespace,
                key,
            )
            if r is None:
                return None
            granted = (
                reader == owner
                or r["visibility"] == "public"
                or (r["visibility"] == "shared" and reader in r["shared_agents"])
            )
            if reader != owner:
                await conn.execute(
                    "INSERT INTO memory.access_log (owner_agent, reader, namespace, key, granted)"
                    " VALUES ($1, $2, $3, $4, $5)",
                    owner,
                    reader,
                    namespace,
                    key,
                    granted,
                )
        if not granted:
            return None
        return {
            "key": key,
            "value": self._cipher.decrypt(r["value"]),
            "namespace": namespace,
            "visibility": r["visibility"],
            **_entry_times(r, "updated_at", "expires_at"),
        }

    async def access_log(
        self, owner: str, namespace: str | None, key: str | None, reader: str | None, limit: int
    ) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            "SELECT reader, namespace, key, granted, read_at FROM memory.access_log WHERE owner_agent = $1"
            " AND ($2::text IS NULL OR namespace = $2) AND ($3::text IS NULL OR key = $3)"
            " AND ($4::text IS NULL OR reader = $4) ORDER BY id DESC LIMIT $5",
            owner,
            namespace,
            key,
            reader,
            limit,
        )
        return [
            {
                "reader": r["reader"],
                "namespace": r["namespace"],
                "key": r["key"],
                "granted": r["granted"],
                "read_at": iso(r["read_at"]),
            }
            for r in rows
        ]

    # ── housekeeping ────────────────────────────────────────────────────────
    async def sweep_access_log(self, batch: int = 5000) -> int:
        status = await self._pool.execute(
            "DELETE FROM memory.access_log WHERE id = ANY(ARRAY(SELECT id FROM memory.access_log"
            f" WHERE read_at < now() - interval '{ACCESS_LOG_RETENTION_DAYS} days' LIMIT {batch}))"
        )
        return int(status.split()[-1])

    async def delete_agent(self, agent_id: str) -> int:
        """The agent's reads of others and others' reads of it (history goes with the entries, by trigger)."""
        status = await self._pool.execute(
            "DELETE FROM memory.access_log WHERE owner_agent = $1 OR reader = $1", agent_id
        )
        return int(status.split()[-1])
