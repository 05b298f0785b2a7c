"""Pub/sub subscriptions and publications (schema `relay`: pubsub_subscriptions, and the messages a
publication fans out into, one per subscriber, with their events)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import orjson

from services.relay.channels import Pattern, inbox_channel
from services.relay.stores.errors import affected
from shared.crypto import Cipher
from shared.errors import TooLarge
from shared.events import EVENT_VERSION
from shared.timeutil import iso, utcnow

MAX_SUBSCRIPTIONS = 50  # per agent, as MoltGrid 1.0
BROADCAST = "message.broadcast"

# One statement fans a publication out: the subscribers matching channel $1 (of $2 tokens), the publisher ($3)
# excepted and an agent with several matching patterns counted once; a message per subscriber; and its
# message.broadcast event in the outbox. Ids and event envelopes are built here, not sent from Python: 10,000
# subscribers would otherwise mean 20,000 values encoded and decoded. The envelope is shared.events.make_event's
# (version 1); ids have make_event's and new_id's shapes (evt_ + 24 hex, msg_ + 16 hex).
MATCHING = """SELECT DISTINCT agent_id FROM relay.pubsub_subscriptions
            WHERE ((NOT open AND tokens = $2::int) OR (open AND tokens <= $2::int)) AND $1::text ~ pattern_re
              AND agent_id <> $3::text"""
# How many copies a publication stores (one per matching subscriber): bounds its size x audience.
RECIPIENTS = f"SELECT count(*) FROM ({MATCHING}) s"
FAN_OUT = f"""
WITH s AS ({MATCHING}),
     m AS (INSERT INTO relay.messages (message_id, from_agent, to_agent, channel, payload, publication_id)
           SELECT 'msg_' || substr(replace(gen_random_uuid()::text, '-', ''), 1, 16), $3, agent_id, $4::text,
                  $5::text, $6::text FROM s
           ON CONFLICT (publication_id, to_agent) WHERE publication_id IS NOT NULL DO NOTHING
           RETURNING message_id, to_agent, created_at),
     e AS (INSERT INTO relay.outbox (event_id, subject, body)
           SELECT x.event_id, 'events.' || x.to_agent || '.' || $7::text,
                  jsonb_build_object('id', x.event_id, 'type', $7::text, 'agent_id', x.to_agent, 'time', $8::text,
                                     'version', $9::int, 'data', jsonb_build_object(
                                         'message_id', x.message_id, 'publication_id', $6::text,
                                         'from_agent', $3::text, 'channel', $1::text))
             FROM (SELECT 'evt_' || substr(replace(gen_random_uuid()::text, '-', ''), 1, 24) AS event_id, m.*
                     FROM m) x)
SELECT message_id, to_agent, created_at FROM m
"""


class PubSubStore:
    def __init__(self, pool: asyncpg.Pool, cipher: Cipher, max_fanout_bytes: int = 0) -> None:
        self.pool, self.cipher, self.max_fanout_bytes = pool, cipher, max_fanout_bytes

    async def subscribe(self, agent_id: str, pattern: Pattern) -> tuple[datetime, bool] | None:
        """(subscribed_at, new) — an existing subscription is kept as it was; None when the agent is at its
        limit. The per-agent advisory lock makes the limit hold with concurrent requests on any replica."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('pubsub:' || $1))", agent_id)
            existing = await conn.fetchval(
                "SELECT subscribed_at FROM relay.pubsub_subscriptions WHERE agent_id = $1 AND channel = $2",
                agent_id,
                pattern.text,
            )
            if existing is not None:
                return existing, False
            count = await conn.fetchval(
                "SELECT count(*) FROM relay.pubsub_subscriptions WHERE agent_id = $1", agent_id
            )
            if count >= MAX_SUBSCRIPTIONS:
                return None
            created = await conn.fetchval(
                "INSERT INTO relay.pubsub_subscriptions (agent_id, channel, pattern_re, tokens, open)"
                " VALUES ($1, $2, $3, $4, $5) RETURNING subscribed_at",
                agent_id,
                pattern.text,
                pattern.regex,
                pattern.tokens,
                pattern.open,
            )
            return created, True

    async def unsubscribe(self, agent_id: str, channel: str) -> bool:
        status = await self.pool.execute(
            "DELETE FROM relay.pubsub_subscriptions WHERE agent_id = $1 AND channel = $2", agent_id, channel
        )
        return affected(status) > 0

    async def subscriptions(self, agent_id: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT channel, subscribed_at FROM relay.pubsub_subscriptions"
            " WHERE agent_id = $1 ORDER BY subscribed_at, channel",
            agent_id,
        )
        return [{"channel": r["channel"], "subscribed_at": iso(r["subscribed_at"])} for r in rows]

    async def channels(self, limit: int) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT channel, count(*) AS subscriber_count FROM relay.pubsub_subscriptions"
            " GROUP BY channel ORDER BY subscriber_count DESC, channel LIMIT $1",
            limit,
        )
        return [dict(r) for r in rows]

    async def publish(
        self, publication_id: str, sender: str, channel: str, tokens: int, payload: Any
    ) -> list[dict[str, Any]]:
        """Store one message (and its message.broadcast event) per matching subscriber, in one statement (so
        all or none); returns the push frames. The payload is encrypted once: every copy holds the same
        ciphertext."""
        encoded = orjson.dumps(payload)
        stored = self.cipher.encrypt(encoded.decode())
        async with self.pool.acquire() as conn, conn.transaction():
            if self.max_fanout_bytes:
                recipients = await conn.fetchval(RECIPIENTS, channel, tokens, sender)
                if len(encoded) * recipients > self.max_fanout_bytes:
                    raise TooLarge(
                        f"Publication too large for its audience: {len(encoded)} bytes to {recipients} subscribers"
                        f" exceeds {self.max_fanout_bytes} bytes stored per publication",
                        {"quota": "publication_bytes", "limit": self.max_fanout_bytes},
                    )
            rows = await conn.fetch(
                FAN_OUT,
                channel,
                tokens,
                sender,
                inbox_channel(channel),
                stored,
                publication_id,
                BROADCAST,
                iso(utcnow()),
                EVENT_VERSION,
            )
        return [
            {
                "event": BROADCAST,
                "message_id": r["message_id"],
                "publication_id": publication_id,
                "from_agent": sender,
                "to_agent": r["to_agent"],
                "channel": channel,
                "inbox_channel": inbox_channel(channel),
                "payload": payload,
                "created_at": iso(r["created_at"]),
            }
            for r in rows
        ]

    async def purge_agent(self, conn: asyncpg.Connection, agent_id: str) -> int:
        """Inside the relay's purge transaction: the agent's subscriptions."""
        return affected(
            await conn.execute("DELETE FROM relay.pubsub_subscriptions WHERE agent_id = $1", agent_id)
        )
