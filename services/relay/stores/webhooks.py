"""Webhooks and their deliveries (schema `relay`: webhooks, deliveries, delivery_attempts): registrations,
one delivery per (webhook, event) recorded from the event stream, claims of due deliveries shared safely by
every relay replica, the outcome of each attempt, the delivery log and replays.

An agent holds at most `max_per_agent` webhooks: the count is taken under a per-agent advisory lock in the
insert's transaction, so concurrent registrations on any replica cannot both take the last slot."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.relay.stores.errors import affected, domain_errors
from shared.crypto import Cipher
from shared.errors import QuotaExceeded
from shared.ids import new_id
from shared.timeutil import iso

# One statement per fetched batch of events: a delivery for every active webhook subscribed to each event.
RECORD = """
INSERT INTO relay.deliveries (delivery_id, webhook_id, agent_id, event_id, event_type, body)
SELECT 'dlv_' || substr(replace(gen_random_uuid()::text, '-', ''), 1, 16), w.webhook_id, w.agent_id, e.event_id,
       e.event_type, e.body
  FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[]) AS e(agent_id, event_id, event_type, body)
  JOIN relay.webhooks w ON w.agent_id = e.agent_id AND w.active AND e.event_type = ANY(w.event_types)
ON CONFLICT (webhook_id, event_id) DO NOTHING
"""
# Claims take turns between agents: every agent's oldest due delivery first, then every agent's second, ... and
# no agent gets more than $3 in flight at once (those already in flight count). A claim pushes next_attempt_at
# and in_flight_until past the attempt's timeout, so another replica never sends the same attempt; claims run
# one at a time (an advisory lock: they are short) so the per-agent cap holds across replicas.
CLAIM_LOCK = "SELECT pg_advisory_xact_lock(hashtext('relay.delivery_claim'))"
CLAIM = """
WITH busy AS (SELECT agent_id, count(*) AS n FROM relay.deliveries
               WHERE status = 'pending' AND in_flight_until > now() GROUP BY agent_id),
     due AS (SELECT delivery_id, agent_id, next_attempt_at,
                    row_number() OVER (PARTITION BY agent_id ORDER BY next_attempt_at, delivery_id) AS turn
               FROM relay.deliveries WHERE status = 'pending' AND next_attempt_at <= now()),
     picked AS (SELECT due.delivery_id FROM due LEFT JOIN busy ON busy.agent_id IS NOT DISTINCT FROM due.agent_id
                 WHERE due.turn + coalesce(busy.n, 0) <= $3
                 ORDER BY due.turn, due.next_attempt_at LIMIT $1)
UPDATE relay.deliveries d SET next_attempt_at = now() + make_interval(secs => $2),
                              in_flight_until = now() + make_interval(secs => $2)
 WHERE d.delivery_id IN (SELECT delivery_id FROM relay.deliveries
                          WHERE delivery_id IN (SELECT delivery_id FROM picked)
                            AND status = 'pending' AND next_attempt_at <= now()
                          FOR UPDATE SKIP LOCKED)
RETURNING d.delivery_id, d.webhook_id, d.agent_id, d.event_id, d.event_type, d.body, d.attempts,
          (SELECT url FROM relay.webhooks w WHERE w.webhook_id = d.webhook_id) AS url,
          (SELECT secret FROM relay.webhooks w WHERE w.webhook_id = d.webhook_id) AS secret
"""
ATTEMPT = "INSERT INTO relay.delivery_attempts (delivery_id, status_code, latency_ms, error) VALUES ($1, $2, $3, $4)"
OUTCOME = """
UPDATE relay.deliveries SET attempts = $2, status = $3, last_status_code = $4, last_error = $5,
       delivered_at = CASE WHEN $3 = 'delivered' THEN now() END, in_flight_until = NULL,
       next_attempt_at = now() + make_interval(secs => coalesce($6, 0))
 WHERE delivery_id = $1
"""
TEST_DELIVERY = """
INSERT INTO relay.deliveries (delivery_id, webhook_id, agent_id, event_id, event_type, body, status, attempts,
                              last_status_code, last_error, delivered_at)
VALUES ($1, $2, $9, $3, $4, $5, $6, 1, $7, $8, CASE WHEN $6 = 'delivered' THEN now() END)
"""
LOG = """
SELECT d.delivery_id, d.event_id, d.event_type, d.status, d.attempts, d.last_status_code, d.last_error,
       d.created_at, d.delivered_at, d.next_attempt_at,
       coalesce((SELECT jsonb_agg(jsonb_build_object('attempted_at', a.attempted_at, 'status_code', a.status_code,
                                                     'latency_ms', a.latency_ms, 'error', a.error) ORDER BY a.id)
                   FROM relay.delivery_attempts a WHERE a.delivery_id = d.delivery_id), '[]') AS attempt_log
  FROM relay.deliveries d WHERE d.webhook_id = $1 ORDER BY d.created_at DESC LIMIT $2
"""


class WebhookStore:
    def __init__(self, pool: asyncpg.Pool, cipher: Cipher, max_per_agent: int = 0) -> None:
        self.pool, self.cipher, self.max_per_agent = pool, cipher, max_per_agent

    # ── registrations ───────────────────────────────────────────────────────
    async def create(
        self, agent_id: str, url: str, event_types: list[str], secret: str | None
    ) -> dict[str, Any]:
        """Register a webhook; QuotaExceeded when the agent already holds `max_per_agent` (0 = unbounded)."""
        webhook_id = new_id("wh")
        async with self.pool.acquire() as conn, conn.transaction():
            if self.max_per_agent:
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext('webhooks:' || $1))", agent_id)
                held = await conn.fetchval(
                    "SELECT count(*) FROM relay.webhooks WHERE agent_id = $1", agent_id
                )
                if held >= self.max_per_agent:
                    raise QuotaExceeded(
                        f"Webhook quota exceeded: at most {self.max_per_agent} webhooks per agent",
                        {"quota": "webhooks", "limit": self.max_per_agent},
                    )
            created = await conn.fetchval(
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

    async def list_for(self, agent_id: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT webhook_id, url, event_types, active, disabled_reason, created_at FROM relay.webhooks"
            " WHERE agent_id = $1 ORDER BY created_at",
            agent_id,
        )
        return [{**dict(r), "created_at": iso(r["created_at"])} for r in rows]

    async def delete(self, agent_id: str, webhook_id: str) -> bool:
        status = await self.pool.execute(
            "DELETE FROM relay.webhooks WHERE webhook_id = $1 AND agent_id = $2", webhook_id, agent_id
        )
        return affected(status) > 0

    async def get(self, agent_id: str, webhook_id: str) -> dict[str, Any] | None:
        """One of the agent's webhooks with its secret in clear, for a test send."""
        row = await self.pool.fetchrow(
            "SELECT webhook_id, agent_id, url, secret, active FROM relay.webhooks WHERE webhook_id = $1"
            " AND agent_id = $2",
            webhook_id,
            agent_id,
        )
        if row is None:
            return None
        return {**dict(row), "secret": self.cipher.decrypt(row["secret"]) if row["secret"] else None}

    async def owns(self, agent_id: str, webhook_id: str) -> bool:
        return bool(
            await self.pool.fetchval(
                "SELECT 1 FROM relay.webhooks WHERE webhook_id = $1 AND agent_id = $2", webhook_id, agent_id
            )
        )

    # ── deliveries ──────────────────────────────────────────────────────────
    async def record(self, events: list[dict[str, Any]]) -> int:
        """A delivery for every active webhook subscribed to each event (a redelivered event adds none);
        returns how many were new."""
        status = await self.pool.execute(
            RECORD,
            [e["agent_id"] for e in events],
            [e["id"] for e in events],
            [e["type"] for e in events],
            events,
        )
        return affected(status)

    async def claim(self, limit: int, hold_s: float, per_agent: int) -> list[dict[str, Any]]:
        """Up to `limit` due deliveries, taking turns between agents with at most `per_agent` of one agent in
        flight, each held for `hold_s` seconds (its attempt's timeout and a margin), with the webhook's URL
        and secret in clear."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(CLAIM_LOCK)
            rows = await conn.fetch(CLAIM, limit, hold_s, per_agent)
        return [
            {**dict(r), "secret": self.cipher.decrypt(r["secret"]) if r["secret"] else None} for r in rows
        ]

    async def record_attempt(
        self,
        delivery_id: str,
        webhook_id: str,
        attempt: int,
        status: str,
        code: int | None,
        error: str | None,
        latency_ms: float,
        retry_in: float | None,
        disable: str | None = None,
    ) -> None:
        """The attempt in the log and its outcome on the delivery (`retry_in` seconds for a pending one);
        `disable` deactivates the webhook with that reason (410 Gone)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(ATTEMPT, delivery_id, code, latency_ms, error)
            await conn.execute(OUTCOME, delivery_id, attempt, status, code, error, retry_in)
            if disable is not None:
                await conn.execute(
                    "UPDATE relay.webhooks SET active = false, disabled_reason = $2 WHERE webhook_id = $1",
                    webhook_id,
                    disable,
                )

    async def record_test(
        self,
        webhook_id: str,
        event: dict[str, Any],
        status: str,
        code: int | None,
        error: str | None,
        latency_ms: float,
    ) -> str:
        """A test send as one finished delivery with its one attempt; returns the delivery id."""
        delivery_id = new_id("dlv", 16)
        with domain_errors(missing="Webhook not found"):
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    TEST_DELIVERY,
                    delivery_id,
                    webhook_id,
                    event["id"],
                    event["type"],
                    event,
                    status,
                    code,
                    error,
                    event["agent_id"],
                )
                await conn.execute(ATTEMPT, delivery_id, code, latency_ms, error)
        return delivery_id

    async def log(self, webhook_id: str, limit: int) -> list[dict[str, Any]]:
        return [
            {
                **dict(r),
                "created_at": iso(r["created_at"]),
                "delivered_at": iso(r["delivered_at"]),
                "next_attempt_at": iso(r["next_attempt_at"]) if r["status"] == "pending" else None,
            }
            for r in await self.pool.fetch(LOG, webhook_id, limit)
        ]

    async def replay(self, webhook_id: str, delivery_id: str, max_attempts: int) -> bool:
        """Make a delivery due now, with at least one attempt left."""
        status = await self.pool.execute(
            "UPDATE relay.deliveries SET status = 'pending', next_attempt_at = now(),"
            " attempts = least(attempts, $3) WHERE delivery_id = $1 AND webhook_id = $2",
            delivery_id,
            webhook_id,
            max_attempts - 1,
        )
        return affected(status) > 0

    # ── stats, admin, purge ─────────────────────────────────────────────────
    async def active_count(self, agent_id: str | None = None) -> int:
        return int(
            await self.pool.fetchval(
                "SELECT count(*) FROM relay.webhooks WHERE active AND ($1::text IS NULL OR agent_id = $1)",
                agent_id,
            )
        )

    async def admin_page(self, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        rows = await self.pool.fetch(
            "SELECT webhook_id, agent_id, url, event_types, active, disabled_reason, secret IS NOT NULL AS has_secret,"
            " created_at FROM relay.webhooks ORDER BY created_at DESC LIMIT $1 OFFSET $2",
            limit,
            offset,
        )
        total = await self.pool.fetchval("SELECT count(*) FROM relay.webhooks")
        return [{**dict(r), "created_at": iso(r["created_at"])} for r in rows], total

    async def purge_agent(self, conn: asyncpg.Connection, agent_id: str) -> int:
        """Inside the relay's purge transaction: the agent's webhooks (deliveries and attempts cascade)."""
        return affected(await conn.execute("DELETE FROM relay.webhooks WHERE agent_id = $1", agent_id))
