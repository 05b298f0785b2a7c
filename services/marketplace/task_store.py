"""The store of `marketplace.tasks`: all its SQL. Every transition is one transaction: the task's state
change, the credits it moves (services.marketplace.ledger_store), its event (outbox) and any rating notice for
the directory (services.marketplace.notice_store).

Self-dealing pays nothing: a task posted and claimed from the same client network (an IPv4 address, an IPv6
/64; shared.netaddr) is completed on acceptance, but its reward goes back to the poster and its rating is not
sent to the directory, unless the operator says so (`same_network_counts`). Otherwise one operator's fresh
accounts could pass their starting grants to one agent, with ratings, by posting tasks it "completes"."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.marketplace import models as m
from services.marketplace.ledger_store import LedgerStore
from services.marketplace.notice_store import RatingNoticeStore
from shared.crypto import Cipher
from shared.errors import BadRequest, Conflict, Forbidden, NotFound
from shared.events import add_event
from shared.ids import new_id
from shared.timeutil import iso, parse_iso, utcnow

SCHEMA = "marketplace"
COLUMNS = (
    "task_id, creator_agent, title, description, category, requirements, reward_credits, priority,"
    " estimated_effort, tags, deadline, status, claimed_by, claimed_at, delivered_at, result, rating,"
    " created_at"
)


class TaskStore:
    def __init__(
        self,
        pool: asyncpg.Pool,
        cipher: Cipher,
        ledger: LedgerStore,
        notices: RatingNoticeStore,
        same_network_counts: bool = False,
    ) -> None:
        self.pool, self.cipher, self.ledger, self.notices = pool, cipher, ledger, notices
        self.same_network_counts = same_network_counts

    def _task(self, r: asyncpg.Record, viewer: str | None) -> dict[str, Any]:
        """A task in the contract's shape; the delivered result is shown only to its creator and worker."""
        out = dict(r)
        for k in ("claimed_at", "delivered_at", "created_at"):
            out[k] = iso(out[k])
        can_see = viewer is not None and viewer in (out["creator_agent"], out["claimed_by"])
        out["result"] = self.cipher.decrypt(out["result"]) if can_see and out["result"] is not None else None
        return out

    async def create(self, agent_id: str, req: m.Create, network: str | None = None) -> dict[str, Any]:
        deadline_at = parse_iso(req.deadline) if req.deadline else None
        if deadline_at is not None and deadline_at <= utcnow():
            raise BadRequest("deadline must be in the future")
        task_id = new_id("mktask")
        async with self.pool.acquire() as conn, conn.transaction():
            await self.ledger.ensure_account(conn, agent_id)
            await self.ledger.hold(conn, agent_id, task_id, req.reward_credits)
            created = await conn.fetchval(
                "INSERT INTO marketplace.tasks (task_id, creator_agent, title, description, category, requirements,"
                " reward_credits, priority, estimated_effort, tags, deadline, deadline_at, creator_network)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING created_at",
                task_id,
                agent_id,
                req.title,
                req.description,
                req.category,
                req.requirements or [],
                req.reward_credits,
                req.priority,
                req.estimated_effort,
                req.tags or [],
                req.deadline,
                deadline_at,
                network,
            )
        # credits_deducted (1.0's, additive): the reward moved from the poster's balance into escrow
        return {
            "task_id": task_id,
            "status": "open",
            "created_at": iso(created),
            "credits_deducted": req.reward_credits,
        }

    async def browse(self, req: m.Browse) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            f"SELECT {COLUMNS} FROM marketplace.tasks WHERE status = $1"
            " AND ($2::text IS NULL OR category = $2) AND ($3::text IS NULL OR tags @> ARRAY[$3::text])"
            " AND reward_credits >= $4 ORDER BY priority DESC, created_at DESC LIMIT $5",
            req.status,
            req.category,
            req.tag,
            req.min_reward,
            req.limit,
        )
        return [self._task(r, None) for r in rows]

    async def get(self, viewer: str | None, task_id: str) -> dict[str, Any]:
        r = await self.pool.fetchrow(f"SELECT {COLUMNS} FROM marketplace.tasks WHERE task_id = $1", task_id)
        if r is None:
            raise NotFound("Task not found")
        return self._task(r, viewer)

    async def claim(self, agent_id: str, task_id: str, network: str | None = None) -> dict[str, Any]:
        """One conditional UPDATE: concurrent claimers queue on the row lock and re-check `status = 'open'`,
        so exactly one wins whichever replica serves them."""
        async with self.pool.acquire() as conn, conn.transaction():
            r = await conn.fetchrow(
                "UPDATE marketplace.tasks SET status = 'claimed', claimed_by = $2, claimed_at = now(), updated_at = now(),"
                " worker_network = $3 WHERE task_id = $1 AND status = 'open' AND creator_agent <> $2"
                " AND (deadline_at IS NULL OR deadline_at > now()) RETURNING creator_agent, title, claimed_at",
                task_id,
                agent_id,
                network,
            )
            if r is None:
                await self._refuse_claim(conn, agent_id, task_id)
            await add_event(
                conn,
                SCHEMA,
                r["creator_agent"],
                "marketplace.task_claimed",
                {
                    "task_id": task_id,
                    "title": r["title"],
                    "claimed_by": agent_id,
                    "claimed_at": iso(r["claimed_at"]),
                },
            )
        return {"task_id": task_id, "status": "claimed", "claimed_by": agent_id}

    async def _refuse_claim(self, conn: asyncpg.Connection, agent_id: str, task_id: str) -> None:
        t = await conn.fetchrow(
            "SELECT creator_agent, status, deadline_at FROM marketplace.tasks WHERE task_id = $1", task_id
        )
        if t is None:
            raise NotFound("Task not found")
        if t["creator_agent"] == agent_id:
            raise BadRequest("Cannot claim your own task")
        if t["status"] != "open":
            raise Conflict(f"Task is not open (status: {t['status']})")
        raise Conflict("Task deadline has passed")

    async def _locked(self, conn: asyncpg.Connection, task_id: str) -> asyncpg.Record:
        t = await conn.fetchrow(
            "SELECT task_id, creator_agent, title, status, claimed_by, reward_credits, reviews,"
            " creator_network, worker_network FROM marketplace.tasks WHERE task_id = $1 FOR UPDATE",
            task_id,
        )
        if t is None:
            raise NotFound("Task not found")
        return t

    async def deliver(self, agent_id: str, task_id: str, result: str) -> dict[str, Any]:
        async with self.pool.acquire() as conn, conn.transaction():
            t = await self._locked(conn, task_id)
            if t["claimed_by"] != agent_id:
                raise Forbidden("Only the claimant can deliver")
            if t["status"] != "claimed":
                raise Conflict(f"Task is not claimed (status: {t['status']})")
            delivered = await conn.fetchval(
                "UPDATE marketplace.tasks SET status = 'delivered', delivered_at = now(), result = $2,"
                " updated_at = now() WHERE task_id = $1 RETURNING delivered_at",
                task_id,
                self.cipher.encrypt(result),
            )
            await add_event(
                conn,
                SCHEMA,
                t["creator_agent"],
                "marketplace.task_delivered",
                {
                    "task_id": task_id,
                    "title": t["title"],
                    "delivered_by": agent_id,
                    "delivered_at": iso(delivered),
                },
            )
        return {"task_id": task_id, "status": "delivered"}

    async def review(self, agent_id: str, task_id: str, accept: bool, rating: int | None) -> dict[str, Any]:
        """Accept pays the held reward to the worker; reject reopens the task (its reward stays in escrow).
        A second review of the same delivery finds the task no longer delivered: it pays nothing twice."""
        async with self.pool.acquire() as conn, conn.transaction():
            t = await self._locked(conn, task_id)
            if t["creator_agent"] != agent_id:
                raise Forbidden("Only the creator can review")
            worker = t["claimed_by"]
            if (
                not accept and t["status"] == "open"
            ):  # nothing delivered: the original answers and changes nothing
                return {"task_id": task_id, "status": "open", "credits_awarded": 0}
            if t["status"] not in (("delivered",) if accept else ("claimed", "delivered")):
                raise Conflict(f"Task is not delivered (status: {t['status']})")
            self_dealt = (
                not self.same_network_counts
                and t["creator_network"] is not None
                and t["creator_network"] == t["worker_network"]
            )
            if self_dealt:
                rating = None  # nothing to rate: the poster's own network did the work
            if accept:
                if self_dealt:
                    await self.ledger.refund(conn, task_id)
                    awarded = 0
                else:
                    awarded = await self.ledger.pay_out(conn, task_id, worker)
                await conn.execute(
                    "UPDATE marketplace.tasks SET status = 'completed', rating = $2,"
                    " reviews = reviews + 1, updated_at = now() WHERE task_id = $1",
                    task_id,
                    rating,
                )
            else:
                awarded = 0
                await conn.execute(
                    "UPDATE marketplace.tasks SET status = 'open', claimed_by = NULL, claimed_at = NULL, worker_network = NULL,"
                    " delivered_at = NULL, result = NULL, rating = NULL, reviews = reviews + 1, updated_at = now()"
                    " WHERE task_id = $1",
                    task_id,
                )
            status = "completed" if accept else "open"
            if rating is not None:
                await self.notices.add(conn, f"mkreview:{task_id}:{t['reviews'] + 1}", worker, rating)
            await add_event(
                conn,
                SCHEMA,
                worker,
                "marketplace.task_reviewed",
                {
                    "task_id": task_id,
                    "title": t["title"],
                    "accepted": accept,
                    "rating": rating,
                    "status": status,
                    "credits_awarded": awarded,
                },
            )
        return {"task_id": task_id, "status": status, "credits_awarded": awarded}

    async def cancel(self, agent_id: str, task_id: str) -> dict[str, Any]:
        async with self.pool.acquire() as conn, conn.transaction():
            t = await self._locked(conn, task_id)
            if t["creator_agent"] != agent_id:
                raise Forbidden("Only the creator can cancel")
            if t["status"] != "open":
                raise Conflict(f"Task is not open (status: {t['status']})")
            refunded = await self.ledger.refund(conn, task_id)
            await conn.execute(
                "UPDATE marketplace.tasks SET status = 'cancelled', updated_at = now() WHERE task_id = $1",
                task_id,
            )
        return {"task_id": task_id, "status": "cancelled", "credits_refunded": refunded}

    async def expire_overdue(self, batch: int = 100) -> int:
        """Refund open tasks whose deadline passed. SKIP LOCKED: replicas sweeping together share the work,
        and a task being claimed right now is left to the claim (which re-checks the deadline)."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT task_id FROM marketplace.tasks WHERE status = 'open' AND deadline_at <= now()"
                " ORDER BY deadline_at LIMIT $1 FOR UPDATE SKIP LOCKED",
                batch,
            )
            for r in rows:
                await self.ledger.refund(conn, r["task_id"])
            await conn.execute(
                "UPDATE marketplace.tasks SET status = 'expired', updated_at = now() WHERE task_id = ANY($1)",
                [r["task_id"] for r in rows],
            )
        return len(rows)

    async def purge_agent(self, agent_id: str) -> int:
        """Cascade delete of an agent: its open tasks are cancelled (escrow refunded into its account) and the
        tasks it had claimed reopen. Tasks and ledger rows stay: they are the other parties' records too."""
        async with self.pool.acquire() as conn, conn.transaction():
            own = await conn.fetch(
                "SELECT task_id FROM marketplace.tasks WHERE creator_agent = $1"
                " AND status = 'open' FOR UPDATE",
                agent_id,
            )
            for r in own:
                await self.ledger.refund(conn, r["task_id"])
            await conn.execute(
                "UPDATE marketplace.tasks SET status = 'cancelled', updated_at = now()"
                " WHERE task_id = ANY($1)",
                [r["task_id"] for r in own],
            )
            reopened = await conn.execute(
                "UPDATE marketplace.tasks SET status = 'open', claimed_by = NULL, claimed_at = NULL,"
                " delivered_at = NULL, result = NULL, updated_at = now()"
                " WHERE claimed_by = $1 AND status IN ('claimed', 'delivered')",
                agent_id,
            )
        return len(own) + int(reopened.split()[-1])

    async def agent_counts(self, agent_id: str) -> dict[str, int]:
        r = await self.pool.fetchrow(
            "SELECT count(*) FILTER (WHERE creator_agent = $1) AS marketplace_tasks_created,"
            " count(*) FILTER (WHERE claimed_by = $1 AND status = 'completed') AS marketplace_tasks_completed"
            " FROM marketplace.tasks WHERE creator_agent = $1 OR claimed_by = $1",
            agent_id,
        )
        return dict(r)

    async def public_activity(self, agent_ids: list[str], recent_for: str | None) -> dict[str, Any]:
        """Completed (accepted) tasks per worker, the number of tasks ever posted, and one worker's latest
        completed tasks (titles only: task listings are public) — for the public directory."""
        rows = await self.pool.fetch(
            "SELECT claimed_by, count(*) AS n FROM marketplace.tasks"
            " WHERE claimed_by = ANY($1) AND status = 'completed' GROUP BY claimed_by",
            agent_ids,
        )
        counts = {r["claimed_by"]: int(r["n"]) for r in rows}
        recent = (
            await self.pool.fetch(
                "SELECT task_id, title, delivered_at FROM marketplace.tasks WHERE claimed_by = $1 AND status = 'completed'"
                " ORDER BY delivered_at DESC NULLS LAST LIMIT 5",
                recent_for,
            )
            if recent_for
            else []
        )
        return {
            "tasks_completed": {a: counts.get(a, 0) for a in agent_ids},
            "total_tasks": int(await self.pool.fetchval("SELECT count(*) FROM marketplace.tasks")),
            "recent": [
                {"task_id": r["task_id"], "title": r["title"], "delivered_at": iso(r["delivered_at"])}
                for r in recent
            ],
        }

    async def admin_tasks(
        self, status: str | None, agent_id: str | None, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        where = "($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR creator_agent = $2 OR claimed_by = $2)"
        rows = await self.pool.fetch(
            f"SELECT {COLUMNS} FROM marketplace.tasks WHERE {where}"
            " ORDER BY created_at DESC LIMIT $3 OFFSET $4",
            status,
            agent_id,
            limit,
            offset,
        )
        total = await self.pool.fetchval(
            f"SELECT count(*) FROM marketplace.tasks WHERE {where}", status, agent_id
        )
        return [{**self._task(r, None), "result": None} for r in rows], int(total)
