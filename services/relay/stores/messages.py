"""Messages and their trace (schema `relay`: messages, message_hops): storing a message with its event,
inboxes, read marks, the hops a message went through, dead letters, counts for stats and the admin panel.

Before reading an agent's messages the store lets `catch_up` copy the publications the agent has not had yet
into its inbox (stores.pubsub: a publication is stored once, and becomes a subscriber's message on its reads)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from services.relay import trace
from services.relay.stores.errors import affected
from shared import subjects
from shared.crypto import Cipher
from shared.errors import QuotaExceeded
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
INBOX = """
SELECT message_id, from_agent, channel, payload, created_at, read_at FROM relay.messages
 WHERE to_agent = $1 AND ($2::text IS NULL OR channel = $2) AND (NOT $3 OR read_at IS NULL)
 ORDER BY created_at DESC LIMIT $4 OFFSET $5
"""
INBOX_AFTER = """
SELECT message_id, from_agent, channel, payload, created_at, read_at FROM relay.messages
 WHERE to_agent = $1 AND ($2::text IS NULL OR channel = $2) AND (NOT $3 OR read_at IS NULL)
   AND (created_at, message_id) > ($6, $7) ORDER BY created_at, message_id LIMIT $4 OFFSET $5
"""
MESSAGE = """
SELECT message_id, from_agent, to_agent, channel, created_at, read_at, coalesce(accepted_at, created_at) AS accepted_at,
       event_id FROM relay.messages WHERE message_id = $1 AND (from_agent = $2 OR to_agent = $2)
"""
HOPS = """
SELECT hop_id, hop, status, detail, recorded_at FROM relay.message_hops WHERE message_id = $1
 ORDER BY recorded_at, id
"""
ATTEMPTS = """
SELECT d.delivery_id, d.webhook_id, d.status AS delivery_status, a.attempted_at, a.status_code, a.latency_ms, a.error,
       row_number() OVER (PARTITION BY d.delivery_id ORDER BY a.id) AS attempt,
       count(*) OVER (PARTITION BY d.delivery_id) AS attempts
  FROM relay.deliveries d JOIN relay.delivery_attempts a ON a.delivery_id = d.delivery_id
 WHERE d.event_id = $1 ORDER BY a.attempted_at, a.id
"""
DEAD_LETTERS = """
SELECT d.delivery_id, m.message_id, m.to_agent, m.channel, d.attempts, d.last_status_code,
       coalesce((SELECT max(a.attempted_at) FROM relay.delivery_attempts a WHERE a.delivery_id = d.delivery_id),
                d.created_at) AS failed_at
  FROM relay.messages m JOIN relay.deliveries d ON d.event_id = m.event_id
 WHERE m.from_agent = $1 AND d.status = 'failed'
 ORDER BY failed_at DESC, d.delivery_id LIMIT $2
"""
RECORD_HOP = """
INSERT INTO relay.message_hops (hop_id, message_id, hop, status, detail, recorded_at)
SELECT $1, message_id, $3, $4, $5, $6 FROM relay.messages WHERE message_id = $2
ON CONFLICT (hop_id) DO NOTHING
"""
RELAYED = """
SELECT (SELECT count(*) FROM relay.messages m
         WHERE m.publication_id IS NULL
            OR NOT EXISTS (SELECT 1 FROM relay.publications p WHERE p.publication_id = m.publication_id))
     + (SELECT coalesce(sum(audience), 0) FROM relay.publications)
"""
# a publication counts as sent once per subscriber, as when every copy was written at publish time
AGENT_COUNTS = """
SELECT (SELECT count(*) FROM relay.messages m
         WHERE m.from_agent = $1
           AND (m.publication_id IS NULL
                OR NOT EXISTS (SELECT 1 FROM relay.publications p WHERE p.publication_id = m.publication_id)))
     + (SELECT coalesce(sum(audience), 0) FROM relay.publications WHERE from_agent = $1) AS messages_sent,
       (SELECT count(*) FROM relay.messages WHERE to_agent = $1) AS messages_received
"""
ADMIN_WHERE = "WHERE ($1::text IS NULL OR from_agent = $1 OR to_agent = $1)"


@dataclass(frozen=True, slots=True)
class UnreadQuota:
    """Bounds on unread messages in one inbox (0 = unbounded)."""

    per_inbox: int = 0
    per_sender: int = 0

    async def check(self, conn: asyncpg.Connection, sender: str, recipient: str) -> None:
        if not (self.per_inbox or self.per_sender):
            return
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('inbox:' || $1))", recipient)
        row = await conn.fetchrow(
            "SELECT count(*) AS total, count(*) FILTER (WHERE from_agent = $2) AS mine FROM relay.messages"
            " WHERE to_agent = $1 AND read_at IS NULL",
            recipient,
            sender,
        )
        if self.per_inbox and row["total"] >= self.per_inbox:
            raise QuotaExceeded(
                f"The recipient's inbox is full ({self.per_inbox} unread messages)",
                {"quota": "inbox_unread", "limit": self.per_inbox},
            )
        if self.per_sender and row["mine"] >= self.per_sender:
            raise QuotaExceeded(
                f"The recipient's inbox already holds {self.per_sender} unread messages from you",
                {"quota": "inbox_unread_per_sender", "limit": self.per_sender},
            )


CatchUp = Callable[[str], Awaitable[int]]


async def _nothing(agent_id: str) -> int:
    return 0


class MessageStore:
    def __init__(
        self,
        pool: asyncpg.Pool,
        cipher: Cipher,
        unread: UnreadQuota = UnreadQuota(),
        catch_up: CatchUp = _nothing,
    ) -> None:
        self.pool, self.cipher, self.unread, self.catch_up = pool, cipher, unread, catch_up

    def _dump(self, value: Any) -> str:
        return self.cipher.encrypt(orjson.dumps(value).decode())

    def _load(self, stored: str) -> Any:
        return orjson.loads(self.cipher.decrypt(stored))

    async def send(
        self, sender: str, recipient: str, channel: str, payload: Any, accepted_at: datetime | None = None
    ) -> dict[str, Any]:
        """Store the message and its message.received event atomically (one statement); returns the push frame.
        `accepted_at` (when the relay took the request) is the first hop of the message's trace.

        An inbox holds at most `unread.per_inbox` unread messages, and at most `unread.per_sender` of them
        from one sender (so one sender cannot fill another agent's inbox alone): a send beyond either is
        refused (QuotaExceeded), never stored by dropping older mail. Both counts are taken under an advisory
        lock on the recipient in the insert's transaction, so concurrent sends on any replica cannot both take
        the last slot."""
        message_id = new_id("msg", 16)
        event = make_event(
            recipient,
            "message.received",
            {"message_id": message_id, "from_agent": sender, "channel": channel},
        )
        async with self.pool.acquire() as conn, conn.transaction():
            await self.unread.check(conn, sender, recipient)
            created = await conn.fetchval(
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
        await self.catch_up(agent_id)
        if after is not None:
            cursor = await self.pool.fetchrow(
                "SELECT created_at, message_id FROM relay.messages WHERE message_id = $1 AND to_agent = $2",
                after,
                agent_id,
            )
            if cursor is None:
                return None
            rows = await self.pool.fetch(
                INBOX_AFTER,
                agent_id,
                channel,
                unread_only,
                limit,
                offset,
                cursor["created_at"],
                cursor["message_id"],
            )
        else:
            rows = await self.pool.fetch(INBOX, agent_id, channel, unread_only, limit, offset)
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
        await self.catch_up(agent_id)
        status = await self.pool.execute(
            "UPDATE relay.messages SET read_at = now() WHERE message_id = $1 AND to_agent = $2 AND read_at IS NULL",
            message_id,
            agent_id,
        )
        return affected(status) > 0

    # ── trace ───────────────────────────────────────────────────────────────
    async def message(self, message_id: str, viewer: str) -> asyncpg.Record | None:
        """The message, when the viewer sent or received it."""
        await self.catch_up(viewer)
        return await self.pool.fetchrow(MESSAGE, message_id, viewer)

    async def hops(self, msg: asyncpg.Record, viewer: str) -> list[dict[str, Any]]:
        """Every hop of the message, oldest first (see trace.hops for what each party sees)."""
        reported = await self.pool.fetch(HOPS, msg["message_id"])
        attempts = await self.pool.fetch(ATTEMPTS, msg["event_id"]) if msg["event_id"] else []
        return trace.hops(msg, reported, attempts, viewer)

    async def dead_letters(self, sender: str, limit: int) -> list[dict[str, Any]]:
        return [trace.dead_letter(r) for r in await self.pool.fetch(DEAD_LETTERS, sender, limit)]

    async def record_push(self, message_id: str, gateway: str, sockets: int, at: datetime) -> None:
        """A gateway wrote the message to `sockets` WebSockets of the recipient (one hop per gateway)."""
        await self.pool.execute(
            RECORD_HOP,
            trace.hop_id(message_id, "pushed", gateway),
            message_id,
            "pushed",
            "pushed",
            {"gateway": gateway, "sockets": sockets},
            at,
        )

    # ── stats, admin, purge ─────────────────────────────────────────────────
    async def counts(self) -> dict[str, int]:
        """Every subscriber's copy of a publication counts, whether or not its reads have written it yet."""
        return {"messages_relayed": int(await self.pool.fetchval(RELAYED))}

    async def agent_counts(self, agent_id: str) -> dict[str, int]:
        await self.catch_up(agent_id)
        return dict(await self.pool.fetchrow(AGENT_COUNTS, agent_id))

    async def admin_messages(
        self, agent_id: str | None, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        rows = await self.pool.fetch(
            "SELECT message_id, from_agent, to_agent, channel, length(payload) AS stored_bytes, created_at, read_at"
            f" FROM relay.messages {ADMIN_WHERE} ORDER BY created_at DESC LIMIT $2 OFFSET $3",
            agent_id,
            limit,
            offset,
        )
        total = await self.pool.fetchval(f"SELECT count(*) FROM relay.messages {ADMIN_WHERE}", agent_id)
        return [
            {**dict(r), "created_at": iso(r["created_at"]), "read_at": iso(r["read_at"])} for r in rows
        ], total

    async def purge_agent(self, conn: asyncpg.Connection, agent_id: str) -> int:
        """Inside the relay's purge transaction: the agent's messages, sent or received (hops cascade)."""
        return affected(
            await conn.execute("DELETE FROM relay.messages WHERE from_agent = $1 OR to_agent = $1", agent_id)
        )
