"""SQL of pub/sub: subscriptions, and the fan-out of a publication into one message per subscriber."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import orjson

from shared import subjects
from shared.crypto import Cipher
from shared.events import make_event
from shared.ids import new_id
from shared.timeutil import iso
from services.relay.channels import Pattern, inbox_channel

MAX_SUBSCRIPTIONS = 50  # per agent, as MoltGrid 1.0
BROADCAST = "message.broadcast"

# The subscribers a publication on channel $1 (of $2 tokens) reaches, the publisher ($3) excepted: an agent
# with several matching patterns is one subscriber.
MATCHING = """
SELECT DISTINCT agent_id FROM relay.pubsub_subscriptions
 WHERE ((NOT open AND tokens = $2) OR (open AND tokens <= $2)) AND $1 ~ pattern_re AND agent_id <> $3
"""
FAN_OUT = """
INSERT INTO relay.messages (message_id, from_agent, to_agent, channel, payload, publication_id)
SELECT x.message_id, $1, x.to_agent, $2, $3, $4 FROM unnest($5::text[], $6::text[]) AS x(message_id, to_agent)
ON CONFLICT (publication_id, to_agent) WHERE publication_id IS NOT NULL DO NOTHING
RETURNING message_id, to_agent, created_at
"""
OUTBOX = """
INSERT INTO relay.outbox (event_id, subject, body)
SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[])
"""


class PubSubStore:
    def __init__(self, pool: asyncpg.Pool, cipher: Cipher) -> None:
        self.pool, self.cipher = pool, cipher

    async def subscribe(self, agent_id: str, pattern: Pattern) -> tuple[datetime, bool] | None:
        """(subscribed_at, new) — an existing subscription is kept as it was; None when the agent is at its
        limit. The per-agent advisory lock makes the limit hold with concurrent requests on any replica."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('pubsub:' || $1))", agent_id)
            existing = await conn.fetchval("SELECT subscribed_at FROM relay.pubsub_subscriptions"
                                           " WHERE agent_id = $1 AND channel = $2", agent_id, pattern.text)
            if existing is not None:
                return existing, False
            count = await conn.fetchval("SELECT count(*) FROM relay.pubsub_subscriptions WHERE agent_id = $1",
                                        agent_id)
            if count >= MAX_SUBSCRIPTIONS:
                return None
            created = await conn.fetchval(
                "INSERT INTO relay.pubsub_subscriptions (agent_id, channel, pattern_re, tokens, open)"
                " VALUES ($1, $2, $3, $4, $5) RETURNING subscribed_at",
                agent_id, pattern.text, pattern.regex, pattern.tokens, pattern.open)
            return created, True

    async def unsubscribe(self, agent_id: str, channel: str) -> bool:
        status = await self.pool.execute(
            "DELETE FROM relay.pubsub_subscriptions WHERE agent_id = $1 AND channel = $2", agent_id, channel)
        return status != "DELETE 0"

    async def subscriptions(self, agent_id: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch("SELECT channel, subscribed_at FROM relay.pubsub_subscriptions"
                                     " WHERE agent_id = $1 ORDER BY subscribed_at, channel", agent_id)
        return [{"channel": r["channel"], "subscribed_at": iso(r["subscribed_at"])} for r in rows]

    async def channels(self, limit: int) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT channel, count(*) AS subscriber_count FROM relay.pubsub_subscriptions"
            " GROUP BY channel ORDER BY subscriber_count DESC, channel LIMIT $1", limit)
        return [dict(r) for r in rows]

    async def publish(self, publication_id: str, sender: str, channel: str, tokens: int,
                      payload: Any) -> list[dict[str, Any]]:
        """Store one message (and its message.broadcast event) per matching subscriber, in one transaction;
        returns the push frames. The payload is encrypted once: every copy holds the same ciphertext."""
        stored = self.cipher.encrypt(orjson.dumps(payload).decode())
        inbox = inbox_channel(channel)
        async with self.pool.acquire() as conn, conn.transaction():
            recipients = [r["agent_id"] for r in await conn.fetch(MATCHING, channel, tokens, sender)]
            if not recipients:
                return []
            message_ids = [new_id("msg", 16) for _ in recipients]
            rows = await conn.fetch(FAN_OUT, sender, inbox, stored, publication_id, message_ids, recipients)
            events = [make_event(r["to_agent"], BROADCAST, {
                "message_id": r["message_id"], "publication_id": publication_id, "from_agent": sender,
                "channel": channel}) for r in rows]
            await conn.execute(OUTBOX, [e["id"] for e in events],
                               [subjects.event(e["agent_id"], BROADCAST) for e in events], events)
        return [{"event": BROADCAST, "message_id": r["message_id"], "publication_id": publication_id,
                 "from_agent": sender, "to_agent": r["to_agent"], "channel": channel, "inbox_channel": inbox,
                 "payload": payload, "created_at": iso(r["created_at"])} for r in rows]
