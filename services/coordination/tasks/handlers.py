"""Task graph operations (/v1/tasks): tasks with dependencies, leased claims, a state machine.

Any agent may list, read and claim a task (a shared board, like marketplace tasks); its creator adds
dependencies, cancels or rejects it while pending, and reopens it after a failure; its claimer moves it
on while it runs. A task is claimable once every task it depends on has completed. A claim is a lease: when
it runs out the task goes back to pending (the sweeper, on any replica, or the next claim). Transitions the
state machine has no arrow for answer 409.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg

from services.coordination.tasks import models as m
from services.coordination.tasks.store import SYSTEM, TaskStore
from shared.bus import Ctx
from shared.errors import Conflict, Forbidden, NotFound
from shared.ops import OpGroup, op
from shared.timeutil import iso

CREATOR, CLAIMER = "creator", "claimer"
# (from, to) → who may make the change, and its name in the history and in the event type (task.<change>)
TRANSITIONS: dict[tuple[str, str], tuple[str, str]] = {
    ("pending", "cancelled"): (CREATOR, "cancelled"),
    ("pending", "rejected"): (CREATOR, "rejected"),
    ("running", "completed"): (CLAIMER, "completed"),
    ("running", "failed"): (CLAIMER, "failed"),
    ("running", "waiting_input"): (CLAIMER, "waiting_input"),
    ("waiting_input", "running"): (CLAIMER, "resumed"),
    ("waiting_input", "completed"): (CLAIMER, "completed"),
    ("waiting_input", "failed"): (CLAIMER, "failed"),
    ("failed", "pending"): (CREATOR, "reopened"),
}
LEASE_EXPIRED = "Lease expired: the task went back to pending"


def invalid(old: str, new: str) -> Conflict:
    return Conflict(f"Invalid transition: {old} -> {new}")


class TaskHandlers(OpGroup):
    prefix = "task_"

    def __init__(self, store: TaskStore, kick: Callable[[], None]) -> None:
        self.store, self.kick = store, kick

    @op()
    async def create(self, req: m.TaskCreate, ctx: Ctx) -> dict[str, Any]:
        agent_id = ctx.require_agent()
        depends_on = list(dict.fromkeys(req.depends_on or []))
        async with self.store.transaction() as conn:
            if depends_on:
                missing = sorted(set(depends_on) - await self.store.existing(conn, depends_on))
                if missing:
                    raise NotFound(f"Dependency task not found: {', '.join(missing)}")
            row = await self.store.insert(
                conn, agent_id, req.title, req.description, req.priority, req.metadata, depends_on
            )
            await self.store.record(
                conn, row, "created", agent_id, [agent_id], {"depends_on": depends_on} if depends_on else None
            )
            task = await self.store.show(conn, row, agent_id)
        self.kick()
        return task

    @op("list")
    async def list_tasks(self, req: m.TaskList, ctx: Ctx) -> dict[str, Any]:
        tasks = await self.store.list_tasks(
            ctx.require_agent(), req.status, req.creator, req.claimed_by, req.claimable, req.limit, req.offset
        )
        return {"tasks": tasks, "count": len(tasks)}

    @op()
    async def get(self, req: m.TaskRef, ctx: Ctx) -> dict[str, Any]:
        agent_id = ctx.require_agent()
        task = await self.store.read(req.task_id, agent_id)
        if task is None:
            raise NotFound("Task not found")
        return task

    @op()
    async def claim(self, req: m.TaskClaim, ctx: Ctx) -> dict[str, Any]:
        """Exactly one claimer wins: the row lock orders concurrent claims on every replica; the losers then
        see a running task. A lease that has run out is ended first (recorded), then the task is claimed."""
        agent_id = ctx.require_agent()
        async with self.store.transaction() as conn:
            row = await self._locked(conn, req.task_id)
            if row["status"] == "running" and row["lease_expired"]:
                row = await self._expire(conn, row)
            if row["status"] != "pending":
                raise Conflict(f"Task is not pending (status: {row['status']})")
            blocked = await self.store.unfinished_dependencies(conn, req.task_id)
            if blocked:
                raise Conflict(f"Task is blocked by unfinished dependencies: {', '.join(blocked)}")
            row = await self.store.claim(conn, req.task_id, agent_id, req.lease_seconds)
            await self.store.record(conn, row, "claimed", agent_id, [row["creator_agent"], agent_id])
        self.kick()
        return {
            "task_id": row["task_id"],
            "status": row["status"],
            "claimed_by": row["claimed_by"],
            "lease_expires_at": iso(row["lease_expires_at"]),
        }

    @op()
    async def complete(self, req: m.TaskComplete, ctx: Ctx) -> dict[str, Any]:
        return await self._transition(req.task_id, "completed", req.result, ctx.require_agent())

    @op()
    async def update(self, req: m.TaskUpdate, ctx: Ctx) -> dict[str, Any]:
        return await self._transition(req.task_id, req.status, req.result, ctx.require_agent())

    @op()
    async def add_dependency(self, req: m.TaskDependency, ctx: Ctx) -> dict[str, Any]:
        agent_id = ctx.require_agent()
        async with self.store.transaction() as conn:
            await self.store.lock_graph(conn)
            row = await self._locked(conn, req.task_id)
            if row["creator_agent"] != agent_id:
                raise Forbidden("Only the creator can add dependencies")
            if not await self.store.existing(conn, [req.depends_on]):
                raise NotFound("Dependency task not found")
            if row["status"] != "pending":
                raise Conflict(f"Dependencies can only be added to a pending task (status: {row['status']})")
            outcome = await self.store.add_edge(conn, req.task_id, req.depends_on)
            if outcome == "cycle":
                raise Conflict("Dependency would create a cycle")
            if outcome == "added":
                await self.store.record(
                    conn, row, "dependency_added", agent_id, [agent_id], {"depends_on": req.depends_on}
                )
            task = await self.store.show(conn, await self.store.get(conn, req.task_id), agent_id)
        self.kick()
        return {
            "task_id": req.task_id,
            "depends_on": req.depends_on,
            "status": "added" if outcome == "added" else "exists",
            "dependencies": task["depends_on"],
        }

    # ── internals ───────────────────────────────────────────────────────────
    async def _locked(self, conn: asyncpg.Connection, task_id: str) -> asyncpg.Record:
        row = await self.store.lock(conn, task_id)
        if row is None:
            raise NotFound("Task not found")
        return row

    async def _expire(self, conn: asyncpg.Connection, row: asyncpg.Record) -> asyncpg.Record:
        released = await self.store.release(conn, row["task_id"])
        await self.store.record(
            conn,
            released,
            "lease_expired",
            SYSTEM,
            [row["creator_agent"], row["claimed_by"]],
            {"previous_claimer": row["claimed_by"]},
        )
        return released

    async def _transition(self, task_id: str, new: str, result: Any, agent_id: str) -> dict[str, Any]:
        async with self.store.transaction() as conn:
            row = await self._locked(conn, task_id)
            old = row["status"]
            rule = TRANSITIONS.get((old, new))
            if rule is None:
                raise invalid(old, new)
            who, change = rule
            if who == CREATOR and row["creator_agent"] != agent_id:
                raise Forbidden(f"Only the creator can move a {old} task to {new}")
            if who == CLAIMER and row["claimed_by"] != agent_id:
                raise Forbidden(f"Only the agent that claimed the task can move it to {new}")
            if old == "running" and row["lease_expired"]:
                raise Conflict(LEASE_EXPIRED)
            if change == "reopened":
                updated = await self.store.release(conn, task_id)
            elif change == "resumed":
                updated = await self.store.renew(conn, task_id)
            else:
                updated = await self.store.finish(conn, task_id, new, result)
            await self.store.record(
                conn, updated, change, agent_id, [row["creator_agent"], row["claimed_by"]]
            )
            if new == "completed":
                await self.store.notify_unblocked(conn, task_id)
            task = await self.store.show(conn, updated, agent_id)
        self.kick()
        return task

    async def sweep_leases(self) -> int:
        """Return every task whose lease ran out to pending (SKIP LOCKED: replicas share the work)."""
        async with self.store.transaction() as conn:
            rows = await self.store.expired_leases(conn)
            for row in rows:
                await self._expire(conn, row)
        if rows:
            self.kick()
        return len(rows)
