"""All SQL of private entries: `memory.entries`, their history (`memory.history`, recorded by the trigger of
migration 0003), the log of cross-agent reads (`memory.access_log`), and the `memory.changed` event each
write and delete leaves in `memory.outbox` in its own transaction (key, namespace, action, version: never the
value). Expired rows are never returned and are swept periodically.

Compare-and-set needs no explicit lock: the conditional UPDATE (or INSERT … ON CONFLICT … WHERE) is one
statement, and Postgres re-checks its condition against the newest row version after waiting for a concurrent
writer, so of two writers that saw the same version exactly one succeeds, whichever replica serves it.

Each agent's live entries are bounded in number and in bytes (`Quota`). The check runs in the write's own
transaction under a per-agent advisory lock, so two replicas writing an agent's last slot at once serialize:
exactly one of them passes. A write that does not grow the agent's usage (an overwrite no larger than before)
always passes, so an agent over a lowered quota can still shrink or rewrite what it has.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.memory.db import Db, affected
from services.memory.stores import RECALL_SCAN
from shared.crypto import Cipher
from shared.errors import Conflict, QuotaExceeded
from shared.events import add_event
from shared.timeutil import iso, utcnow

SCHEMA = "memory"
CHANGED = "memory.changed"  # event type of a write or delete of a private entry
LIVE = "(expires_at IS NULL OR expires_at > now())"
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


def expiry(ttl_seconds: int | None) -> datetime | None:
    return utcnow() + timedelta(seconds=ttl_seconds) if ttl_seconds else None


def times(r: asyncpg.Record, *names: str) -> dict[str, Any]:
    return {n: iso(r[n]) for n in names}


async def changed(
    conn: asyncpg.Connection, agent_id: str, namespace: str, key: str, action: str, version: int
) -> None:
    """Record a memory.changed event for the entry's owner in the caller's transaction."""
    data = {"key": key, "namespace": namespace, "action": action, "version": version}
    await add_event(conn, SCHEMA, agent_id, CHANGED, data)


@dataclass(frozen=True, slots=True)
class Write:
    """One write of a private entry (a POST /v1/memory, one batch item, or a persisted tiered event)."""

    namespace: str
    key: str
    value: str
    ttl_seconds: int | None = None
    visibility: str | None = None  # None: unchanged (a new entry is private)
    shared_agents: list[str] | None = None
    expected_version: int | None = None  # None: unconditional; 0: must not exist; n: must be at version n


@dataclass(frozen=True, slots=True)
class Quota:
    """Per-agent bounds on live private entries (0 = unbounded)."""

    max_entries: int = 0
    max_bytes: int = 0


_USAGE = f"SELECT count(*) AS n, COALESCE(sum(size_bytes), 0) AS b FROM memory.entries WHERE agent_id = $1 AND {LIVE}"


class EntryStore:
    def __init__(self, db: Db, cipher: Cipher, quota: Quota = Quota()) -> None:
        self._db, self._cipher, self._quota = db, cipher, quota

    async def _usage(self, conn: asyncpg.Connection, agent_id: str) -> tuple[int, int]:
        row = await conn.fetchrow(_USAGE, agent_id)
        return int(row["n"]), int(row["b"])

    async def _check_quota(self, conn: asyncpg.Connection, agent_id: str, before: tuple[int, int]) -> None:
        """Refuse (rolling the write back) when it grew the agent's usage beyond its quota."""
        q = self._quota
        n, b = await self._usage(conn, agent_id)
        if q.max_entries and n > q.max_entries and n > before[0]:
            raise QuotaExceeded(
                f"Memory quota exceeded: at most {q.max_entries} entries per agent",
                {"quota": "memory_entries", "limit": q.max_entries},
            )
        if q.max_bytes and b > q.max_bytes and b > before[1]:
            raise QuotaExceeded(
                f"Memory quota exceeded: at most {q.max_bytes} bytes of values per agent",
                {"quota": "memory_bytes", "limit": q.max_bytes},
            )

    # ── writes ──────────────────────────────────────────────────────────────
    async def write(self, agent_id: str, w: Write) -> dict[str, Any]:
        """Store a value; returns {version, visibility}. Raises Conflict when expected_version does not match."""
        shared = None if w.shared_agents is None else sorted(set(w.shared_agents) - {agent_id})
        if w.visibility is not None and w.visibility != "shared":
            shared = []  # an explicit private/public entry keeps no list
        args: tuple[Any, ...] = (
            agent_id,
            w.namespace,
            w.key,
            self._cipher.encrypt(w.value),
            len(w.value.encode()),
            expiry(w.ttl_seconds),
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
        async with self._db.transaction() as conn:
            before = (0, 0)
            if self._quota.max_entries or self._quota.max_bytes:
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"memory:{agent_id}"
                )
                before = await self._usage(conn, agent_id)
            row = await conn.fetchrow(sql, *args)
            if row is not None and (self._quota.max_entries or self._quota.max_bytes):
                await self._check_quota(conn, agent_id, before)
            if row is None:
                current = await conn.fetchval(
                    f"SELECT version FROM memory.entries WHERE agent_id = $1 AND namespace = $2 AND key = $3"
                    f" AND {LIVE}",
                    agent_id,
                    w.namespace,
                    w.key,
                )
                raise Conflict(
                    f"Version mismatch: expected {w.expected_version}, current {int(current or 0)}",
                    {"expected_version": w.expected_version, "current_version": int(current or 0)},
                )
            await changed(conn, agent_id, w.namespace, w.key, "set", row["version"])
        return {"version": row["version"], "visibility": row["visibility"]}

    async def delete(self, agent_id: str, namespace: str, key: str) -> bool:
        async with self._db.transaction() as conn:
            version = await conn.fetchval(
                f"DELETE FROM memory.entries WHERE agent_id = $1 AND namespace = $2 AND key = $3 AND {LIVE}"
                " RETURNING version",
                agent_id,
                namespace,
                key,
            )
            if version is None:
                return False
            await changed(conn, agent_id, namespace, key, "delete", version)
        return True

    async def current_version(self, agent_id: str, namespace: str, key: str) -> int:
        """The live entry's version, 0 when there is none."""
        v = await self._db.fetchval(
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
        status = await self._db.execute(
            f"UPDATE memory.entries SET visibility = $4, shared_agents = $5"
            f" WHERE agent_id = $1 AND namespace = $2 AND key = $3 AND {LIVE}",
            agent_id,
            namespace,
            key,
            visibility,
            shared,
        )
        return affected(status) > 0

    # ── reads ───────────────────────────────────────────────────────────────
    async def get(self, agent_id: str, namespace: str, key: str) -> dict[str, Any] | None:
        r = await self._db.fetchrow(
            f"SELECT value, version, updated_at, expires_at FROM memory.entries"
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
            **times(r, "updated_at", "expires_at"),
            "version": r["version"],
        }

    async def list_keys(self, agent_id: str, namespace: str, prefix: str, limit: int) -> list[dict[str, Any]]:
        rows = await self._db.fetch(
            f"SELECT key, size_bytes, updated_at, expires_at FROM memory.entries"
            f" WHERE agent_id = $1 AND namespace = $2 AND starts_with(key, $3) AND {LIVE}"
            f" ORDER BY key LIMIT $4",
            agent_id,
            namespace,
            prefix,
            limit,
        )
        return [
            {"key": r["key"], "size_bytes": r["size_bytes"], **times(r, "updated_at", "expires_at")}
            for r in rows
        ]

    async def meta(self, agent_id: str, namespace: str, key: str) -> dict[str, Any] | None:
        r = await self._db.fetchrow(
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
            **times(r, "created_at", "updated_at", "expires_at"),
            "visibility": r["visibility"],
            "shared_agents": list(r["shared_agents"]),
            "size_bytes": r["size_bytes"],
        }

    async def history(
        self, agent_id: str, namespace: str, key: str, limit: int
    ) -> list[dict[str, Any]] | None:
        """Past values, newest first; None when the live entry does not exist."""
        async with self._db.connection() as conn:
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
        async with self._db.connection() as conn:
            r = await conn.fetchrow(
                f"SELECT value, version, visibility, shared_agents, updated_at, expires_at FROM memory.entries"
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
            **times(r, "updated_at", "expires_at"),
            "version": r["version"],
        }

    async def access_log(
        self, owner: str, namespace: str | None, key: str | None, reader: str | None, limit: int
    ) -> list[dict[str, Any]]:
        rows = await self._db.fetch(
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

    async def recent(self, agent_id: str, namespace: str) -> list[dict[str, Any]]:
        """Tiered recall's notes: the newest live entries of a namespace, values still encrypted."""
        rows = await self._db.fetch(
            f"SELECT key, value, updated_at FROM memory.entries WHERE agent_id = $1 AND namespace = $2"
            f" AND {LIVE} ORDER BY updated_at DESC LIMIT $3",
            agent_id,
            namespace,
            RECALL_SCAN,
        )
        return [{"key": r["key"], "text": r["value"], "at": r["updated_at"], "metadata": None} for r in rows]

    # ── counts and operator views ───────────────────────────────────────────
    async def count_live(self, agent_id: str | None = None) -> int:
        """Live entries of one agent, or of all agents."""
        n: int = await self._db.fetchval(
            f"SELECT count(*) FROM memory.entries WHERE ($1::text IS NULL OR agent_id = $1) AND {LIVE}",
            agent_id,
        )
        return n

    async def admin_entries(
        self, agent_id: str | None, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        rows = await self._db.fetch(
            "SELECT agent_id, namespace, key, size_bytes, created_at, updated_at, expires_at FROM memory.entries"
            " WHERE ($1::text IS NULL OR agent_id = $1) ORDER BY updated_at DESC LIMIT $2 OFFSET $3",
            agent_id,
            limit,
            offset,
        )
        total: int = await self._db.fetchval(
            "SELECT count(*) FROM memory.entries WHERE ($1::text IS NULL OR agent_id = $1)", agent_id
        )
        return [{**dict(r), **times(r, "created_at", "updated_at", "expires_at")} for r in rows], total

    async def admin_value(self, agent_id: str, namespace: str, key: str) -> str | None:
        raw = await self._db.fetchval(
            "SELECT value FROM memory.entries WHERE agent_id = $1 AND namespace = $2 AND key = $3",
            agent_id,
            namespace,
            key,
        )
        return None if raw is None else self._cipher.decrypt(raw)

    # ── housekeeping ────────────────────────────────────────────────────────
    async def sweep_expired(self, batch: int = 5000) -> int:
        """Delete expired entries in bounded batches (harmless when several replicas sweep at once)."""
        return affected(
            await self._db.execute(
                "DELETE FROM memory.entries WHERE ctid = ANY(ARRAY(SELECT ctid FROM memory.entries"
                f" WHERE expires_at <= now() LIMIT {batch} FOR UPDATE SKIP LOCKED))"
            )
        )

    async def sweep_access_log(self, batch: int = 5000) -> int:
        return affected(
            await self._db.execute(
                "DELETE FROM memory.access_log WHERE id = ANY(ARRAY(SELECT id FROM memory.access_log"
                f" WHERE read_at < now() - interval '{ACCESS_LOG_RETENTION_DAYS} days' LIMIT {batch}))"
            )
        )

    async def delete_agent(self, agent_id: str) -> int:
        """The agent's entries (their history goes with them, by trigger), its reads of others and others'
        reads of it."""
        async with self._db.transaction() as conn:
            a = await conn.execute("DELETE FROM memory.entries WHERE agent_id = $1", agent_id)
            b = await conn.execute(
                "DELETE FROM memory.access_log WHERE owner_agent = $1 OR reader = $1", agent_id
            )
        return affected(a) + affected(b)
