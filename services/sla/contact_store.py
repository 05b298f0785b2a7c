"""Contact form: submissions are stored first, then e-mailed by a background mailer when SMTP is configured
(retried with back-off, so an SMTP outage loses nothing)."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import asyncpg
import structlog

from shared.ids import new_id
from shared.timeutil import iso

log = structlog.get_logger("contact")
MAX_ATTEMPTS = 10


class ContactStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._sending: set[asyncio.Task[int]] = set()

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

    async def list(self, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
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


class Mailer:
    """Sends unsent submissions; safe with several replicas (rows are claimed with SKIP LOCKED)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        host: str,
        port: int,
        user: str,
        password: str,
        sender: str,
        recipient: str,
        starttls: bool,
    ) -> None:
        self._pool = pool
        self.host, self.port, self.user, self.password = host, port, user, password
        self.sender, self.recipient, self.starttls = sender, recipient, starttls

    @property
    def configured(self) -> bool:
        return bool(self.host and self.sender and self.recipient)

    def send_soon(self) -> None:
        """Send what is pending now, in the background (the periodic retry covers a failure)."""
        task = asyncio.create_task(self.send_pending())
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def send_pending(self, batch: int = 20) -> int:
        if not self.configured:
            return 0
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
                try:
                    await self._send(row)
                except (aiosmtplib.SMTPException, OSError) as exc:
                    log.warning("contact_email_failed", contact_id=row["id"], error=str(exc))
                    await conn.execute(
                        "UPDATE sla.contact_submissions SET attempts = attempts + 1, last_error = $2,"
                        " next_try_at = now() + make_interval(secs => least(3600, 30 * power(2, attempts)))"
                        " WHERE id = $1",
                        row["id"],
                        str(exc)[:500],
                    )
                    continue
                await conn.execute(
                    "UPDATE sla.contact_submissions SET emailed_at = now(), attempts = attempts + 1"
                    " WHERE id = $1",
                    row["id"],
                )
                sent += 1
        return sent

    async def _send(self, row: asyncpg.Record) -> None:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Reply-To"] = self.sender, self.recipient, row["email"]
        msg["Subject"] = f"[MoltGrid contact] {row['subject'] or '(no subject)'}"
        msg.set_content(f"From: {row['name']} <{row['email']}>\nId: {row['id']}\n\n{row['message']}")
        login = {"username": self.user, "password": self.password} if self.password else {}
        await aiosmtplib.send(
            msg, hostname=self.host, port=self.port, start_tls=self.starttls, timeout=15, **login
        )
