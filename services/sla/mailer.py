"""The contact mailer: e-mails stored contact submissions when SMTP is configured (services.sla.contact_store
keeps what is unsent and when to retry)."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import asyncpg
import structlog

from services.sla.contact_store import ContactStore

log = structlog.get_logger("contact")


class Mailer:
    """Sends unsent submissions; safe with several replicas (the store claims rows with SKIP LOCKED)."""

    def __init__(
        self,
        store: ContactStore,
        host: str,
        port: int,
        user: str,
        password: str,
        sender: str,
        recipient: str,
        starttls: bool,
    ) -> None:
        self.store = store
        self.host, self.port, self.user, self.password = host, port, user, password
        self.sender, self.recipient, self.starttls = sender, recipient, starttls
        self._sending: set[asyncio.Task[int]] = set()

    @property
    def configured(self) -> bool:
        return bool(self.host and self.sender and self.recipient)

    def send_soon(self) -> None:
        """Send what is pending now, in the background (the periodic retry covers a failure)."""
        task = asyncio.create_task(self.send_pending())
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def send_pending(self) -> int:
        if not self.configured:
            return 0
        return await self.store.send_unsent(self._try_send)

    async def _try_send(self, row: asyncpg.Record) -> str | None:
        try:
            await self._send(row)
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.warning("contact_email_failed", contact_id=row["id"], error=str(exc))
            return str(exc)
        return None

    async def _send(self, row: asyncpg.Record) -> None:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Reply-To"] = self.sender, self.recipient, row["email"]
        msg["Subject"] = f"[MoltGrid contact] {row['subject'] or '(no subject)'}"
        msg.set_content(f"From: {row['name']} <{row['email']}>\nId: {row['id']}\n\n{row['message']}")
        login: dict[str, Any] = {"username": self.user, "password": self.password} if self.password else {}
        await aiosmtplib.send(
            msg, hostname=self.host, port=self.port, start_tls=self.starttls, timeout=15, **login
        )
