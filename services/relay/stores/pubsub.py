"""Pub/sub subscriptions and publications (schema `relay`: pubsub_subscriptions, publications,
publication_marks).

A publication is one row, whatever its audience: publishing costs the same database work for 10 subscribers
as for 10,000. Its subscribers are found through the subscriptions' channel index (channels.candidates lists
the patterns that match a channel) and are those subscribed when it was stored. Each subscriber's copy is an
ordinary relay message whose ids are derived from the publication and the subscriber (`copy_ids`), so the push
frame, the `message.broadcast` event and the inbox all name the same message without a row per subscriber at
publish time. The copy is written into relay.messages by the subscriber's own reads (`catch_up`: its inbox,
a message's status or trace, a read mark, its stats, an unsubscribe), so read marks, status, trace, purge and
encryption at rest work on it as on any message.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from services.relay.channels import Pattern, candidates
from services.relay.stores.errors import affected
from shared.crypto import Cipher
from shared.errors import TooLarge
from shared.timeutil import iso

MAX_SUBSCRIPTIONS = 50  # per agent, as MoltGrid 1.0
BROADCAST = "message.broadcast"
SETTLE = "30 seconds"  # a reader's mark trails the newest publication by this much (see publication_marks)

# The publication, and its audience from the same snapshot: the agents subscribed to a pattern among $5 (the
# channel's candidate patterns), the publisher excepted, each once (space-separated: agent ids have no spaces).
# Not stored (created_at null) when its payload ($6 bytes) times its audience passes the bound $7 (0: none):
# every copy a reader writes holds the payload, and every push carries it.
PUBLISH = """
WITH a AS (SELECT coalesce(string_agg(agent_id, ' '), '') AS subscribers, count(*) AS n
              FROM (SELECT DISTINCT agent_id FROM relay.pubsub_subscriptions
                     WHERE channel = ANY($5::text[]) AND agent_id <> $3) d),
     p AS (INSERT INTO relay.publications (publication_id, channel, from_agent, payload, audience)
           SELECT $1, $2, $3, $4, n FROM a WHERE $7::bigint = 0 OR $6::bigint * n <= $7::bigint
           RETURNING created_at)
SELECT p.created_at, a.subscribers, a.n FROM a LEFT JOIN p ON true
"""
# The same audience for a channel with too many tokens to list its candidate patterns: the regexes, narrowed
# by token count.
PUBLISH_SCAN = """
WITH a AS (SELECT coalesce(string_agg(agent_id, ' '), '') AS subscribers, count(*) AS n
              FROM (SELECT DISTINCT agent_id FROM relay.pubsub_subscriptions
                     WHERE ((NOT open AND tokens = $5::int) OR (open AND tokens <= $5::int)) AND $2 ~ pattern_re
                       AND agent_id <> $3) d),
     p AS (INSERT INTO relay.publications (publication_id, channel, from_agent, payload, audience)
           SELECT $1, $2, $3, $4, n FROM a WHERE $7::bigint = 0 OR $6::bigint * n <= $7::bigint
           RETURNING created_at)
SELECT p.created_at, a.subscribers, a.n FROM a LEFT JOIN p ON true
"""
AUDIENCE = """
SELECT array(SELECT DISTINCT agent_id FROM relay.pubsub_subscriptions
              WHERE subscribed_at <= $3 AND $1 ~ pattern_re AND agent_id <> $2)
"""
# Copy into the reader's ($1) inbox the publications it has not had yet: after its mark, on a channel one of
# its subscriptions matches, made after that subscription; a copy already there stays (several replicas, or a
# read racing another). Ids are copy_ids's. Then the mark moves up to the newest publication that has settled.
CATCH_UP = f"""
WITH subs AS (SELECT pattern_re, subscribed_at FROM relay.pubsub_subscriptions WHERE agent_id = $1),
     mark AS (SELECT coalesce((SELECT seq FROM relay.publication_marks WHERE agent_id = $1), 0) AS seq,
                     (SELECT min(subscribed_at) FROM subs) AS since),
     due AS (SELECT p.* FROM relay.publications p, mark
              WHERE p.seq > mark.seq AND p.created_at >= mark.since AND EXISTS (SELECT 1 FROM subs)),
     ins AS (INSERT INTO relay.messages (message_id, from_agent, to_agent, channel, payload, publication_id,
                                         created_at, accepted_at, event_id)
             SELECT 'msg_' || substr(encode(sha256(convert_to('msg:' || d.publication_id || ':' || $1, 'UTF8')),
                                            'hex'), 1, 16),
                    d.from_agent, $1, 'pubsub:' || d.channel, d.payload, d.publication_id, d.created_at,
                    d.created_at,
                    'evt_' || substr(encode(sha256(convert_to('evt:' || d.publication_id || ':' || $1, 'UTF8')),
                                            'hex'), 1, 24)
               FROM due d
              WHERE d.from_agent <> $1
                AND EXISTS (SELECT 1 FROM subs s WHERE s.subscribed_at <= d.created_at AND d.channel ~ s.pattern_re)
             ON CONFLICT DO NOTHING RETURNING 1),
     settled AS (SELECT max(seq) AS seq FROM due WHERE created_at < now() - interval '{SETTLE}'),
     moved AS (INSERT INTO relay.publication_marks (agent_id, seq) SELECT $1, seq FROM settled WHERE seq IS NOT NULL
               ON CONFLICT (agent_id) DO UPDATE SET seq = greatest(relay.publication_marks.seq, EXCLUDED.seq)
               RETURNING 1)
SELECT count(*) FROM ins
"""


def copy_ids(publication_id: str, agent_id: str) -> tuple[str, str]:
    """The message id and event id of `agent_id`'s copy of a publication (CATCH_UP derives the same in SQL):
    the shapes of new_id's and make_event's ids."""

    def digest(kind: str) -> str:
        return hashlib.sha256(f"{kind}:{publication_id}:{agent_id}".encode()).hexdigest()

    return "msg_" + digest("msg")[:16], "evt_" + digest("evt")[:24]


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
        """What the subscription brought stays in the inbox: it is copied there first."""
        async with self.pool.acquire() as conn, conn.transaction():
            await self.catch_up(agent_id, conn)
            status = await conn.execute(
                "DELETE FROM relay.pubsub_subscriptions WHERE agent_id = $1 AND channel = $2",
                agent_id,
                channel,
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
    ) -> tuple[datetime, list[str]]:
        """Store the publication (one row; the payload encrypted once); returns when it was stored and the
        subscribers it reaches."""
        encoded = orjson.dumps(payload)
        stored = self.cipher.encrypt(encoded.decode())
        patterns = candidates(channel)
        query, match = (PUBLISH, patterns) if patterns is not None else (PUBLISH_SCAN, tokens)
        row = await self.pool.fetchrow(
            query, publication_id, channel, sender, stored, match, len(encoded), self.max_fanout_bytes
        )
        if row["created_at"] is None:
            raise TooLarge(
                f"Publication too large for its audience: {len(encoded)} bytes to {row['n']} subscribers"
                f" exceeds {self.max_fanout_bytes} bytes stored per publication",
                {"quota": "publication_bytes", "limit": self.max_fanout_bytes},
            )
        return row["created_at"], row["subscribers"].split()  # one text, not 10,000 values to decode

    async def catch_up(self, agent_id: str, conn: asyncpg.Connection | None = None) -> int:
        """Copy into the agent's inbox the publications it has not had yet (see CATCH_UP); how many."""
        return int(await (conn or self.pool).fetchval(CATCH_UP, agent_id))

    async def events_done(self, publication_id: str) -> None:
        await self.pool.execute(
            "UPDATE relay.publications SET events_done = true WHERE publication_id = $1", publication_id
        )

    async def events_due(self, limit: int) -> list[dict[str, Any]]:
        """Publications whose events were not all confirmed on the stream a while after they were stored (the
        replica that stored them stopped on the way), with their audience as it was, oldest first."""
        rows = await self.pool.fetch(
            "SELECT publication_id, channel, from_agent, created_at FROM relay.publications"
            " WHERE NOT events_done AND created_at < now() - interval '10 seconds' ORDER BY seq LIMIT $1",
            limit,
        )
        out = []
        for r in rows:
            audience = await self.pool.fetchval(AUDIENCE, r["channel"], r["from_agent"], r["created_at"])
            out.append({**dict(r), "subscribers": list(audience)})
        return out

    async def purge_agent(self, conn: asyncpg.Connection, agent_id: str) -> int:
        """Inside the relay's purge transaction: the agent's subscriptions, read mark and publications (their
        copies in other inboxes go with the agent's messages)."""
        removed = 0
        for table, column in (
            ("pubsub_subscriptions", "agent_id"),
            ("publication_marks", "agent_id"),
            ("publications", "from_agent"),
        ):
            removed += affected(
                await conn.execute(f"DELETE FROM relay.{table} WHERE {column} = $1", agent_id)
            )
        return removed
