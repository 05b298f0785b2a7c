"""The store of the credits tables (`marketplace.accounts`, `ledger`, `escrow`): balances, the starting
grant, escrow holds and their release; all their SQL.

Every write takes a connection inside the caller's transaction, so a balance change and the task state
change that caused it commit together or not at all. Each change appends one immutable ledger row whose id
names its cause (grant:<agent>, hold:<task>, payout:<task>, refund:<task>): a step replayed after a crash
or a retry collides on the primary key instead of moving credits twice.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from shared.errors import BadRequest
from shared.timeutil import iso


class LedgerStore:
    """Credits: the writes a task transition makes inside its transaction, and the reads (balances for other
    services, the agent's own statement, the totals of the invariant)."""

    def __init__(self, pool: asyncpg.Pool, starting_credits: int) -> None:
        self.pool, self.starting_credits = pool, starting_credits

    async def ensure_account(self, conn: asyncpg.Connection, agent_id: str) -> None:
        """Open the agent's account with the starting grant on first use (once per agent, race-free: a second
        transaction inserting the same account waits on the primary key, then does nothing)."""
        opened = await conn.fetchval(
            "INSERT INTO marketplace.accounts (agent_id, balance) VALUES ($1, $2)"
            " ON CONFLICT (agent_id) DO NOTHING RETURNING balance",
            agent_id,
            self.starting_credits,
        )
        if opened is not None:
            await self._append(
                conn, f"grant:{agent_id}", agent_id, "grant", self.starting_credits, opened, None
            )

    async def _append(
        self,
        conn: asyncpg.Connection,
        entry_id: str,
        agent_id: str,
        kind: str,
        amount: int,
        balance_after: int,
        task_id: str | None,
    ) -> None:
        await conn.execute(
            "INSERT INTO marketplace.ledger (entry_id, agent_id, kind, amount, balance_after, task_id)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            entry_id,
            agent_id,
            kind,
            amount,
            balance_after,
            task_id,
        )

    async def _credit(self, conn: asyncpg.Connection, agent_id: str, amount: int) -> int:
        return int(
            await conn.fetchval(
                "UPDATE marketplace.accounts SET balance = balance + $2, updated_at = now() WHERE agent_id = $1"
                " RETURNING balance",
                agent_id,
                amount,
            )
        )

    async def hold(self, conn: asyncpg.Connection, agent_id: str, task_id: str, amount: int) -> None:
        """Move a task's reward from the poster's balance into escrow; refused when the balance is short."""
        if amount == 0:
            return
        balance = await conn.fetchval(
            "UPDATE marketplace.accounts SET balance = balance - $2, updated_at = now()"
            " WHERE agent_id = $1 AND balance >= $2 RETURNING balance",
            agent_id,
            amount,
        )
        if balance is None:
            have = await conn.fetchval(
                "SELECT balance FROM marketplace.accounts WHERE agent_id = $1", agent_id
            )
            raise BadRequest(f"Insufficient credits: balance {have or 0}, reward_credits {amount}")
        await conn.execute(
            "INSERT INTO marketplace.escrow (task_id, poster, amount) VALUES ($1, $2, $3)",
            task_id,
            agent_id,
            amount,
        )
        await self._append(conn, f"hold:{task_id}", agent_id, "hold", -amount, balance, task_id)

    async def pay_out(self, conn: asyncpg.Connection, task_id: str, worker: str) -> int:
        """Release a task's escrow to its worker; returns the credits paid (0 when nothing was held)."""
        amount = await conn.fetchval(
            "UPDATE marketplace.escrow SET status = 'paid', settled_at = now() WHERE task_id = $1 AND status = 'held'"
            " RETURNING amount",
            task_id,
        )
        if not amount:
            return 0
        await self.ensure_account(conn, worker)
        await self._append(
            conn,
            f"payout:{task_id}",
            worker,
            "payout",
            amount,
            await self._credit(conn, worker, amount),
            task_id,
        )
        return int(amount)

    async def refund(self, conn: asyncpg.Connection, task_id: str) -> int:
        """Return a task's escrow to its poster; returns the credits refunded (0 when nothing was held)."""
        row = await conn.fetchrow(
            "UPDATE marketplace.escrow SET status = 'refunded', settled_at = now() WHERE task_id = $1"
            " AND status = 'held' RETURNING poster, amount",
            task_id,
        )
        if row is None or not row["amount"]:
            return 0
        balance = await self._credit(conn, row["poster"], row["amount"])
        await self._append(
            conn, f"refund:{task_id}", row["poster"], "refund", row["amount"], balance, task_id
        )
        return int(row["amount"])

    async def open_account(self, agent_id: str) -> None:
        """Open a newly registered agent's account with the starting grant (a no-op when it is open)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await self.ensure_account(conn, agent_id)

    async def balances(self, agent_ids: list[str]) -> dict[str, int]:
        """Balances; an agent without an account yet shows the grant it receives at first use."""
        rows = await self.pool.fetch(
            "SELECT agent_id, balance FROM marketplace.accounts WHERE agent_id = ANY($1)", agent_ids
        )
        found = {r["agent_id"]: int(r["balance"]) for r in rows}
        return {a: found.get(a, self.starting_credits) for a in agent_ids}

    async def statement(self, agent_id: str, limit: int) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                await self.ensure_account(conn, agent_id)
            balance = await conn.fetchval(
                "SELECT balance FROM marketplace.accounts WHERE agent_id = $1", agent_id
            )
            escrowed = await conn.fetchval(
                "SELECT coalesce(sum(amount), 0) FROM marketplace.escrow WHERE poster = $1 AND status = 'held'",
                agent_id,
            )
            rows = await conn.fetch(
                "SELECT entry_id, kind, amount, balance_after, task_id, created_at FROM marketplace.ledger"
                " WHERE agent_id = $1 ORDER BY seq DESC LIMIT $2",
                agent_id,
                limit,
            )
        entries = [{**dict(r), "created_at": iso(r["created_at"])} for r in rows]
        return {
            "agent_id": agent_id,
            "balance": int(balance),
            "escrowed": int(escrowed),
            "entries": entries,
            "count": len(entries),
        }

    async def totals(self) -> dict[str, int]:
        """The invariant's three terms: balances + held escrow must equal everything ever granted."""
        r = await self.pool.fetchrow(
            "SELECT (SELECT coalesce(sum(balance), 0) FROM marketplace.accounts) AS balances,"
            " (SELECT coalesce(sum(amount), 0) FROM marketplace.escrow WHERE status = 'held') AS escrowed,"
            " (SELECT coalesce(sum(amount), 0) FROM marketplace.ledger WHERE kind = 'grant') AS granted"
        )
        return {k: int(v) for k, v in r.items()}
