"""SQL of the relay schema: messages and webhook registrations (deliveries are in delivery_store.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import orjson

from shared import subjects
from shared.crypto import Cipher
from shared.events import make_event, outbox_body
from shared.ids import new_id
from shared.timeutil import iso

# The message and its outbox event in one statement (a single implicit transaction, one round trip).
SEND = """
WITH m AS (INSERT INTO relay.messages (message_id, from_agent, to_agent, channel, payload, event_id, accepted_at)
           VALUES ($1, $2, $3, $4, $5, $6, $9) RETURNING created_at),
     e AS (INSERT INTO relay.outbox (event_id, subject, body) SELECT $6, $7, $8 FROM m)
SELECT created_at FROM m
"""


class RelayStore:
    def __init__(self, pool: asyncpg.Pool, cipher: Cipher) -> None:
        self.pool, self.cipher = pool, cipher

    def _dump(self, value: Any) -> str:
        return self.cipher.encrypt(orjson.dumps(value).decode())

    def _load(self, stored: str) -> Any:
        return orjson.loads(self.cipher.decrypt(stored))

    # ── messages ────────────────────────────────────────────────────────────
    async def send(
        self, sender: str, recipient: str, channel: str, payload: Any, accepted_at: datetime | None = None
    ) -> dict[str, Any]:
        """Store the message and its message.received event atomically (one statement); returns the push frame.
        `accepted_at` (when the relay took the request) is the first hop of the message's trace."""
        message_id = new_id("msg", 16)
        event = make_event(
            recipient,
            "message.received",
            {"message_id": message_id, "from_agent": sender, "channel": channel},
        )
        created = await self.pool.fetchval(
            SEND,
            message_id,
            sender,
            recipient,
            channel,
            self._dump(payload),
            event["id"],
            subjects.event(recipient, "message.received"),
            outbox_body(event),
            accepted_at,
        )
        return {
            "event": "message.received",
            "message_id": message_id,
            "from_agent": sender,
            "to_agent": recipient,
            "channel": channel,
            "payload": payload,
            "created_at": iso(created),
        }

    async def inbox(
        self,
        agent_id: str,
        channel: str | None,
        unread_only: bool,
        limit: int,
        offset: int,
        after: str | None = None,
    ) -> list[dict[str, Any]] | None:
        """Newest first; with `after` (a message id of this inbox, 1.0's cursor) the messages stored after it,
        oldest first. None when the cursor is not a message of this inbox."""
        if after is not None:
            cursor = await self.pool.fetchrow(
                "SELECT created_at, message_id FROM relay.messages WHERE message_id = $1 AND to_agent = $2",
                after,
                agent_id,
            )
            if cursor is None:
                return None
            rows = await self.pool.fetch(
                "SELECT message_id, from_agent, channel, payload, created_at, read_at FROM relay.messages"
                " WHERE to_agent = $1 AND ($2::text IS NULL OR channel = $2) AND (NOT $3 OR read_at IS NULL)"
                " AND (created_at, message_id) > ($6, $7) ORDER BY created_at, message_id LIMIT $4 OFFSET $5",
                agent_id,
                channel,
                unread_only,
                limit,
                offset,
                cursor["created_at"],
                cursor["message_id"],
            )
        else:
            rows = await self.pool.fetch(
                "SELECT message_id, from_agent, channel, payload, created_at, read_at FROM relay.messages"
                " WHERE to_agent = $1 AND ($2::text IS NULL OR channel = $2) AND (NOT $3 OR read_at IS NULL)"
                " ORDER BY created_at DESC LIMIT $4 OFFSET $5",
                agent_id,
                channel,
                unread_only,
                limit,
                offset,
            )
        return [
            {
                "message_id": r["message_id"],
                "from_agent": r["from_agent"],
                "channel": r["channel"],
                "payload": self._load(r["payload"]),
                "created_at": iso(r["created_at"]),
                "read_at": iso(r["read_at"]),
            }
            for r in rows
        ]

    async def mark_read(self, agent_id: str, message_id: str) -> bool:
        status = await self.pool.execute(
            "UPDATE relay.messages SET read_at = now() WHERE message_id = $1 AND to_agent = $2 AND read_at IS NULL",
            message_id,
            agent_id,
        )
        return status != "UPDATE 0"

    # ── webhooks ────────────────────────────────────────────────────────────
    async def create_webhook(
        self, agent_id: str, url: str, event_types: list[str], secret: str | None
    ) -> dict[str, Any]:
        webhook_id = new_id("wh")
        created = await self.pool.fetchval(
            "INSERT INTO relay.webhooks (webhook_id, agent_id, url, event_types, secret)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING created_at",
            webhook_id,
            agent_id,
            url,
            event_types,
            self.cipher.encrypt(secret) if secret else None,
        )
        return {
            "webhook_id": webhook_id,
            "url": url,
            "event_types": event_types,
            "active": True,
            "created_at": iso(created),
        }

    async def list_webhooks(self, agent_id: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT webhook_id, url, event_types, active, disabled_reason, created_at FROM relay.webhooks"
            " WHERE agent_id = $1 ORDER BY created_at",
            agent_id,
        )
        return [{**dict(r), "created_at": iso(r["created_at"])} for r in rows]

    async def delete_webhook(self, agent_id: str, webhook_id: str) -> bool:
        status = await self.pool.execute(
            "DELETE FROM relay.webhooks WHERE webhook_id = $1 AND agent_id = $2", webhook_id, agent_id
        )
        return status != "DELETE 0"

    async def webhook(self, agent_id: str, webhook_id: str) -> asyncpg.Record | None:
        """One of the agent's webhooks with its (encrypted) secret, for a test send."""
        return await self.pool.fetchrow(
            "SELECT webhook_id, agent_id, url, secret, active FROM relay.webhooks WHERE webhook_id = $1"
            " AND agent_id = $2",
            webhook_id,
            agent_id,
        )

    async def owns_webhook(self, agent_id: str, webhook_id: str) -> bool:
        return bool(
            await self.pool.fetchval(
                "SELECT 1 FROM relay.webhooks WHERE webhook_id = $1 AND agent_id = $2", webhook_id, agent_id
            )
        )

    # ── stats, admin, purge ─────────────────────────────────────────────────
    async def counts(self) -> dict[str, int]:
        return dict(
            await self.pool.fetchrow(
                "SELECT (SELECT count(*) FROM relay.messages) AS messages_relayed,"
                " (SELECT count(*) FROM relay.webhooks WHERE active) AS active_webhooks"
            )
        )

    async def agent_counts(self, agent_id: str) -> dict[str, int]:
        return dict(
            await self.pool.fetchrow(
                "SELECT (SELECT count(*) FROM relay.messages WHERE from_agent = $1) AS messages_sent,"
                " (SELECT count(*) FROM relay.messages WHERE to_agent = $1) AS messages_received,"
                " (SELECT count(*) FROM relay.webhooks WHERE agent_id = $1 AND active) AS active_webhooks",
                agent_id,
            )
        )

    async def admin_messages(
        self, agent_id: str | None, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        where = "WHERE ($1::text IS NULL OR from_agent = $1 OR to_agent = $1)"
        rows = await self.pool.fetch(
            f"SELECT message_id, from_agent, to_agent, channel, length(payload) AS stored_bytes, created_at, read_at"
            f" FROM relay.messages {where} ORDER BY created_at DESC LIMIT $2 OFFSET $3",
            agent_id,
            limit,
            offset,
        )
        total = await self.pool.fetchval(f"SELECT count(*) FROM relay.messages {where}", agent_id)
        return [
            {**dict(r), "created_at": iso(r["created_at"]), "read_at": iso(r["read_at"])} for r in rows
        ], total

    async def admin_webhooks(self, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        rows = await self.pool.fetch(
            "SELECT webhook_id, agent_id, url, event_types, active, disabled_reason, secret IS NOT NULL AS has_secret,"
            " created_at FROM relay.webhooks ORDER BY created_at DESC LIMIT $1 OFFSET $2",
            limit,
            offset,
        )
        total = await self.pool.fetchval("SELECT count(*) FROM relay.webhooks")
        return [{**dict(r), "created_at": iso(r["created_at"])} for r in rows], total

    async def purge_agent(self, agent_id: str) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            a = await conn.execute(
                "DELETE FROM relay.messages WHERE from_agent = $1 OR to_agent = $1", agent_id
            )
            b = await conn.execute("DELETE FROM relay.webhooks WHERE agent_id = $1", agent_id)
            c = await conn.execute("DELETE FROM relay.acked_events WHERE agent_id = $1", agent_id)
            c = await conn.execute("DELETE FROM relay.pubsub_subscriptions WHERE agent_id = $1", agent_id)
        return int(a.split()[-1]) + int(b.split()[-1]) + int(c.split()[-1])
