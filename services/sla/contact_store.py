"""The store of `sla.contact_submissions`: contact form submissions, and the bookkeeping of their e-mails
(claimed for sending with SKIP LOCKED, retried with back-off, so an SMTP outage loses nothing)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from shared.ids import new_id
from shared.timeutil import iso

MAX_ATTEMPTS = 10


class ContactStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def add(self, name: str, email: str, subject: str, message: str, client_addr: str | None) -> str:
        cid = new_id("contact")
        await self._pool.execute(
            "INSERT INTO sla.contact_submissions (id, name, email, subject, message, client_addr)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            cid,
            name,
            email,
            subject,
            message,
            client_addr,
        )
        return cid

    async def list_submissions(self, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        rows = await self._pool.fetch(
            "SELECT id, name, email, subject, message, created_at, emailed_at, attempts FROM sla.contact_submissions"
            " ORDER BY created_at DESC LIMIT $1 OFFSET $2",
            limit,
            offset,
        )
        total = await self._pool.fetchval("SELECT count(*) FROM sla.contact_submissions")
        return [
            {**dict(r), "created_at": iso(r["created_at"]), "emailed_at": iso(r["emailed_at"])} for r in rows
        ], total

    async def send_unsent(
        self, send: Callable[[asyncpg.Record], Awaitable[str | None]], batch: int = 20
    ) -> int:
        """Hand each unsent submission that is due to `send` (None = sent; else the error, retried later with
        back-off). SKIP LOCKED: replicas sending together share the submissions."""
        sent = 0
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, name, email, subject, message FROM sla.contact_submissions"
                " WHERE emailed_at IS NULL AND next_try_at <= now() AND attempts < $1"
                " ORDER BY next_try_at LIMIT $2 FOR UPDATE SKIP LOCKED",
                MAX_ATTEMPTS,
                batch,
            )
            for row in rows:
                error = await send(row)
                if error is not None:
                    await conn.execute(
                        "UPDATE sla.contact_submissions SET attempts = attempts + 1, last_error = $2,"
                        " next_try_at = now() + make_interval(secs => least(3600, 30 * power(2, attempts)))"
                        " WHERE id = $1",
                        row["id"],
                        error[:500],
                    )
                    continue
                await conn.execute(
                    "UPDATE sla.contact_submissions SET emailed_at = now(), attempts = attempts + 1"
                    " WHERE id = $1",
                    row["id"],
                )
                sent += 1
        return sent
