"""The store of task graphs (`coordination.tasks`, `task_dependencies`, `task_history`): all their SQL.
Every change locks the task's row, writes its history entry and its events (outbox) in
the same transaction, so two replicas deciding about one task serialise on the row: one claimer wins, and a
change is never recorded without its event or the other way round."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson

from shared.crypto import Cipher
from shared.events import add_event
from shared.ids import new_id
from shared.timeutil import iso

SCHEMA = "coordination"
COLUMNS = (
    "task_id, creator_agent, title, description, status, priority, claimed_by, claimed_at, lease_expires_at,"
    " lease_seconds, completed_at, result, metadata, created_at, updated_at"
)
SYSTEM = "system"  # the actor of changes no agent made (a lease running out)
# Serialises dependency additions across replicas, so two concurrent adds cannot close a cycle between them.
GRAPH_LOCK = 0x7461736B  # "task"
# Does `$1` (the new dependency) already reach `$2` (the dependent task)? Then the edge would close a cycle.
REACHES = """
WITH RECURSIVE reach(task_id) AS (
    SELECT depends_on FROM coordination.task_dependencies WHERE task_id = $1
    UNION
    SELECT d.depends_on FROM coordination.task_dependencies d JOIN reach r ON d.task_id = r.task_id
)
SELECT EXISTS (SELECT 1 FROM reach WHERE task_id = $2)
"""
UNFINISHED_DEPENDENCIES = """
SELECT d.depends_on FROM coordination.task_dependencies d JOIN coordination.tasks t ON t.task_id = d.depends_on
 WHERE d.task_id = $1 AND t.status <> 'completed' ORDER BY d.depends_on
"""
# Pending tasks that waited on $1 and have no unfinished dependency left.
UNBLOCKED = """
SELECT t.task_id, t.creator_agent, t.title FROM coordination.task_dependencies d
  JOIN coordination.tasks t ON t.task_id = d.task_id
 WHERE d.depends_on = $1 AND t.status = 'pending'
   AND NOT EXISTS (SELECT 1 FROM coordination.task_dependencies o JOIN coordination.tasks u ON u.task_id = o.depends_on
                    WHERE o.task_id = t.task_id AND u.status <> 'completed')
"""
CLAIMABLE = (
    "NOT EXISTS (SELECT 1 FROM coordination.task_dependencies d JOIN coordination.tasks u"
    " ON u.task_id = d.depends_on WHERE d.task_id = t.task_id AND u.status <> 'completed')"
)


class TaskStore:
    def __init__(self, pool: asyncpg.Pool, cipher: Cipher) -> None:
        self.pool, self.cipher = pool, cipher

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection inside a transaction: the writes below take it, so one change commits as a whole."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    # ── encoding ────────────────────────────────────────────────────────────
    def _dump(self, value: Any) -> str | None:
        return None if value is None else self.cipher.encrypt(orjson.dumps(value).decode())

    def _load(self, stored: str | None) -> Any:
        return None if stored is None else orjson.loads(self.cipher.decrypt(stored))

    def view(
        self, row: asyncpg.Record, viewer: str, history: list[dict[str, Any]], depends_on: list[str]
    ) -> dict[str, Any]:
        """A task as 1.0 shows it; the result only to its creator and its claimer (as marketplace results)."""
        out = {k: row[k] for k in ("task_id", "creator_agent", "title", "status", "priority", "claimed_by")}
        can_see = viewer in (row["creator_agent"], row["claimed_by"])
        out.update(
            description=self._load_text(row["description"]),
            claimed_at=iso(row["claimed_at"]),
            lease_expires_at=iso(row["lease_expires_at"]),
            completed_at=iso(row["completed_at"]),
            result=self._load(row["result"]) if can_see else None,
            metadata=self._load(row["metadata"]),
            created_at=iso(row["created_at"]),
            updated_at=iso(row["updated_at"]),
            depends_on=depends_on,
            history=history,
        )
        return out

    def _load_text(self, stored: str | None) -> str | None:
        return None if stored is None else self.cipher.decrypt(stored)

    # ── reads ───────────────────────────────────────────────────────────────
    async def get(self, conn: asyncpg.Connection | asyncpg.Pool, task_id: str) -> asyncpg.Record | None:
        return await conn.fetchrow(f"SELECT {COLUMNS} FROM coordination.tasks WHERE task_id = $1", task_id)

    async def read(self, task_id: str, viewer: str) -> dict[str, Any] | None:
        row = await self.get(self.pool, task_id)
        return None if row is None else await self.show(self.pool, row, viewer)

    async def lock(self, conn: asyncpg.Connection, task_id: str) -> asyncpg.Record | None:
        """The task's row locked until commit, with whether its lease has run out."""
        return await conn.fetchrow(
            "SELECT task_id, creator_agent, title, status, claimed_by, lease_expires_at,"
            " lease_expires_at <= now() AS lease_expired FROM coordination.tasks WHERE task_id = $1 FOR UPDATE",
            task_id,
        )

    async def details(
        self, conn: asyncpg.Connection | asyncpg.Pool, task_ids: list[str]
    ) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[str]]]:
        """History entries and dependencies of several tasks (two queries, whatever their number)."""
        history: dict[str, list[dict[str, Any]]] = {t: [] for t in task_ids}
        for r in await conn.fetch(
            "SELECT task_id, change, status, actor, detail, recorded_at FROM coordination.task_history"
            " WHERE task_id = ANY($1::text[]) ORDER BY id",
            task_ids,
        ):
            entry = {
                "status": r["status"],
                "actor": r["actor"],
                "timestamp": iso(r["recorded_at"]),
                "change": r["change"],
            }
            if r["detail"]:
                entry.update(r["detail"])
            history[r["task_id"]].append(entry)
        deps: dict[str, list[str]] = {t: [] for t in task_ids}
        for r in await conn.fetch(
            "SELECT task_id, depends_on FROM coordination.task_dependencies"
            " WHERE task_id = ANY($1::text[]) ORDER BY created_at, depends_on",
            task_ids,
        ):
            deps[r["task_id"]].append(r["depends_on"])
        return history, deps

    async def show(
        self, conn: asyncpg.Connection | asyncpg.Pool, row: asyncpg.Record, viewer: str
    ) -> dict[str, Any]:
        history, deps = await self.details(conn, [row["task_id"]])
        return self.view(row, viewer, history[row["task_id"]], deps[row["task_id"]])

    async def list_tasks(
        self,
        viewer: str,
        status: str | None,
        creator: str | None,
        claimed_by: str | None,
        claimable: bool,
        limit: int,
        offset: int,
    ) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            f"SELECT {', '.join('t.' + c.strip() for c in COLUMNS.split(','))} FROM coordination.tasks t"
            " WHERE ($1::text IS NULL OR t.status = $1) AND ($2::text IS NULL OR t.creator_agent = $2)"
            " AND ($3::text IS NULL OR t.claimed_by = $3)"
            f" AND (NOT $4 OR (t.status = 'pending' AND {CLAIMABLE}))"
            " ORDER BY t.created_at, t.task_id LIMIT $5 OFFSET $6",
            status,
            creator,
            claimed_by,
            claimable,
            limit,
            offset,
        )
        history, deps = await self.details(self.pool, [r["task_id"] for r in rows])
        return [self.view(r, viewer, history[r["task_id"]], deps[r["task_id"]]) for r in rows]

    async def unfinished_dependencies(self, conn: asyncpg.Connection, task_id: str) -> list[str]:
        return [r["depends_on"] for r in await conn.fetch(UNFINISHED_DEPENDENCIES, task_id)]

    async def existing(self, conn: asyncpg.Connection, task_ids: list[str]) -> set[str]:
        rows = await conn.fetch(
            "SELECT task_id FROM coordination.tasks WHERE task_id = ANY($1::text[]) FOR SHARE", task_ids
        )
        return {r["task_id"] for r in rows}

    # ── writes (callers hold a transaction on `conn`) ───────────────────────
    async def insert(
        self,
        conn: asyncpg.Connection,
        agent_id: str,
        title: str,
        description: str | None,
        priority: int,
        metadata: dict[str, Any] | None,
        depends_on: list[str],
    ) -> asyncpg.Record:
        task_id = new_id("task", 16)
        row = await conn.fetchrow(
            f"INSERT INTO coordination.tasks (task_id, creator_agent, title, description, priority, metadata)"
            f" VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}",
            task_id,
            agent_id,
            title,
            None if description is None else self.cipher.encrypt(description),
            priority,
            self._dump(metadata),
        )
        if depends_on:
            await conn.execute(
                "INSERT INTO coordination.task_dependencies (task_id, depends_on)"
                " SELECT $1, unnest($2::text[])",
                task_id,
                depends_on,
            )
        return row

    async def claim(
        self, conn: asyncpg.Connection, task_id: str, agent_id: str, lease_s: int
    ) -> asyncpg.Record:
        return await conn.fetchrow(
            "UPDATE coordination.tasks SET status = 'running', claimed_by = $2, claimed_at = now(),"
            " lease_seconds = $3::int, lease_expires_at = now() + make_interval(secs => $3::int), updated_at = now()"
            f" WHERE task_id = $1 RETURNING {COLUMNS}",
            task_id,
            agent_id,
            lease_s,
        )

    async def release(self, conn: asyncpg.Connection, task_id: str) -> asyncpg.Record:
        """Back to pending, unclaimed (a lease ran out, the claimer was deleted, or the creator reopened it).
        The result goes with the claim: it was the previous claimer's work, and the next claimer (who may read
        the task's result) must not see it."""
        return await conn.fetchrow(
            "UPDATE coordination.tasks SET status = 'pending', claimed_by = NULL, claimed_at = NULL,"
            " lease_expires_at = NULL, result = NULL, updated_at = now()"
            f" WHERE task_id = $1 RETURNING {COLUMNS}",
            task_id,
        )

    async def renew(self, conn: asyncpg.Connection, task_id: str) -> asyncpg.Record:
        return await conn.fetchrow(
            "UPDATE coordination.tasks SET status = 'running',"
            " lease_expires_at = now() + make_interval(secs => lease_seconds), updated_at = now()"
            f" WHERE task_id = $1 RETURNING {COLUMNS}",
            task_id,
        )

    async def finish(
        self, conn: asyncpg.Connection, task_id: str, status: str, result: Any
    ) -> asyncpg.Record:
        completed = "now()" if status == "completed" else "completed_at"
        return await conn.fetchrow(
            f"UPDATE coordination.tasks SET status = $2, result = coalesce($3, result), completed_at = {completed},"
            f" updated_at = now() WHERE task_id = $1 RETURNING {COLUMNS}",
            task_id,
            status,
            self._dump(result),
        )

    async def lock_graph(self, conn: asyncpg.Connection) -> None:
        """Until commit, no other transaction adds an edge. Taken before any row lock, so that two adds on
        the same pair of tasks queue up here instead of deadlocking on each other's rows."""
        await conn.execute("SELECT pg_advisory_xact_lock($1)", GRAPH_LOCK)

    async def add_edge(self, conn: asyncpg.Connection, task_id: str, depends_on: str) -> str:
        """'exists' (already there), 'cycle' (would close one) or 'added'; the caller holds the graph lock."""
        if await conn.fetchval(
            "SELECT 1 FROM coordination.task_dependencies WHERE task_id = $1 AND depends_on = $2",
            task_id,
            depends_on,
        ):
            return "exists"
        if task_id == depends_on:
            return "cycle"
        # The planner guesses the walk's working table at a few rows and would hash-join it against a full scan
        # of the edges on every step (quadratic: 0.4 s on a 1,000-task chain); each step is one index lookup.
        await conn.execute("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off")
        closes_cycle = await conn.fetchval(REACHES, depends_on, task_id)
        await conn.execute("RESET enable_hashjoin; RESET enable_mergejoin")
        if closes_cycle:
            return "cycle"
        await conn.execute(
            "INSERT INTO coordination.task_dependencies (task_id, depends_on) VALUES ($1, $2)",
            task_id,
            depends_on,
        )
        return "added"

    async def record(
        self,
        conn: asyncpg.Connection,
        row: asyncpg.Record,
        change: str,
        actor: str,
        recipients: Iterable[str | None],
        detail: dict[str, Any] | None = None,
    ) -> None:
        """The change's history entry and its `task.<change>` event for each recipient (creator, claimer…)."""
        await conn.execute(
            "INSERT INTO coordination.task_history (task_id, change, status, actor, detail)"
            " VALUES ($1, $2, $3, $4, $5)",
            row["task_id"],
            change,
            row["status"],
            actor,
            detail,
        )
        data = {
            "task_id": row["task_id"],
            "title": row["title"],
            "status": row["status"],
            "actor": actor,
            "claimed_by": row["claimed_by"],
            "lease_expires_at": iso(row["lease_expires_at"]),
            **(detail or {}),
        }
        for agent_id in dict.fromkeys(a for a in recipients if a):
            await add_event(conn, SCHEMA, agent_id, f"task.{change}", data)

    async def notify_unblocked(self, conn: asyncpg.Connection, task_id: str) -> None:
        """`task.unblocked` to the creators of pending tasks that waited on task_id and now may be claimed."""
        for r in await conn.fetch(UNBLOCKED, task_id):
            await add_event(
                conn,
                SCHEMA,
                r["creator_agent"],
                "task.unblocked",
                {
                    "task_id": r["task_id"],
                    "title": r["title"],
                    "status": "pending",
                    "completed_dependency": task_id,
                },
            )

    async def expired_leases(self, conn: asyncpg.Connection, limit: int = 100) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await conn.fetch(
            f"SELECT {COLUMNS} FROM coordination.tasks WHERE status = 'running' AND lease_expires_at <= now()"
            " ORDER BY lease_expires_at LIMIT $1 FOR UPDATE SKIP LOCKED",
            limit,
        )
        return rows

    # ── purge, stats ────────────────────────────────────────────────────────
    async def purge_agent(self, agent_id: str) -> int:
        """Delete the agent's tasks (their edges and history go with them); tasks of others it held go back to
        pending, as a lease running out would."""
        async with self.pool.acquire() as conn, conn.transaction():
            deleted = await conn.execute("DELETE FROM coordination.tasks WHERE creator_agent = $1", agent_id)
            held = await conn.fetch(
                f"SELECT {COLUMNS} FROM coordination.tasks WHERE claimed_by = $1"
                " AND status IN ('running', 'waiting_input') FOR UPDATE",
                agent_id,
            )
            for row in held:
                released = await self.release(conn, row["task_id"])
                await self.record(
                    conn,
                    released,
                    "released",
                    SYSTEM,
                    [released["creator_agent"]],
                    {"previous_claimer": agent_id},
                )
        return int(deleted.split()[-1]) + len(held)

    async def count(self, agent_id: str | None = None) -> int:
        return int(
            await self.pool.fetchval(
                "SELECT count(*) FROM coordination.tasks WHERE $1::text IS NULL OR creator_agent = $1",
                agent_id,
            )
        )
