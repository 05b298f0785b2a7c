"""Webhook delivery that survives faults.

1. `EventRouter` consumes the EVENTS stream with one durable JetStream consumer shared by every relay
   replica, records one delivery per (webhook, event) in Postgres, then acks — so no event is lost while
   the relay is down, and a redelivered event creates no second delivery (unique (webhook_id, event_id)).
2. `Deliverer` claims due deliveries with FOR UPDATE SKIP LOCKED (a claim also pushes next_attempt_at past
   the attempt's timeout, so another replica never sends the same attempt), POSTs them concurrently with a
   timeout, and schedules retries with exponential backoff and jitter over hours. 410 disables the webhook;
   Retry-After is honoured; one dead receiver never delays the others.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import random
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import orjson
import structlog
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.relay.urlguard import PublicOnlyResolver
from shared import metrics, subjects, tracing
from shared.crypto import Cipher
from shared.db import DB_UNAVAILABLE
from shared.events import fetch_batch, jetstream_retry, make_event
from shared.ids import new_id

log = structlog.get_logger("webhooks")
DELIVERIES = metrics.counter(
    "moltgrid_webhook_deliveries", "Webhook delivery attempts by outcome", ("outcome",)
)
MAX_ATTEMPTS = 15
ATTEMPT_TIMEOUT_S = 10.0
MAX_DELAY_S = 2 * 3600.0

# One statement per fetched batch of events: a delivery for every active webhook subscribed to each event.
RECORD = """
INSERT INTO relay.deliveries (delivery_id, webhook_id, event_id, event_type, body)
SELECT 'dlv_' || substr(replace(gen_random_uuid()::text, '-', ''), 1, 16), w.webhook_id, e.event_id, e.event_type,
       e.body
  FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[]) AS e(agent_id, event_id, event_type, body)
  JOIN relay.webhooks w ON w.agent_id = e.agent_id AND w.active AND e.event_type = ANY(w.event_types)
ON CONFLICT (webhook_id, event_id) DO NOTHING
"""
CLAIM = """
UPDATE relay.deliveries d SET next_attempt_at = now() + make_interval(secs => $2)
 WHERE d.delivery_id IN (SELECT delivery_id FROM relay.deliveries
                          WHERE status = 'pending' AND next_attempt_at <= now()
                          ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
RETURNING d.delivery_id, d.webhook_id, d.event_id, d.event_type, d.body, d.attempts,
          (SELECT url FROM relay.webhooks w WHERE w.webhook_id = d.webhook_id) AS url,
          (SELECT secret FROM relay.webhooks w WHERE w.webhook_id = d.webhook_id) AS secret
"""


def backoff(attempt: int, base: float) -> float:
    """Delay before attempt n+1: exponential, capped, with jitter (half to full of the step)."""
    step = min(MAX_DELAY_S, base * 2 ** (attempt - 1))
    return random.uniform(step / 2, step)


def sign(secret: str, event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The original's X-MoltGrid-Signature (hex HMAC-SHA256 of the body) and the Standard Webhooks one."""
    key = secret.encode()
    standard = hmac.new(key, f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "X-MoltGrid-Signature": hmac.new(key, body, hashlib.sha256).hexdigest(),
        "webhook-signature": "v1," + base64.b64encode(standard).decode(),
    }


def payload(event: dict[str, Any]) -> bytes:
    """What receivers get: the event envelope, plus the original's `event` and `timestamp` keys."""
    return orjson.dumps({"event": event["type"], "timestamp": event["time"], **event})


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one POST to a receiver came to: its status code (None when no answer), error, latency."""

    status_code: int | None
    error: str | None
    latency_ms: float
    retry_after: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def post_event(
    http: aiohttp.ClientSession,
    url: str,
    secret: str | None,
    event: dict[str, Any],
    trace_headers: dict[str, str] | None = None,
) -> Attempt:
    """POST one event the way every delivery does: the same body, headers and signatures (`secret` in clear);
    `trace_headers` (W3C traceparent) let the receiver continue the delivery's trace."""
    body = payload(event)
    now = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "MoltGrid-Webhooks/1",
        "X-MoltGrid-Event": event["type"],
        "webhook-id": event["id"],
        "webhook-timestamp": str(now),
        **(trace_headers or {}),
    }
    if secret:
        headers.update(sign(secret, event["id"], now, body))
    started = time.perf_counter()
    code, error, retry_after = None, None, None
    try:
        async with http.post(url, data=body, headers=headers, allow_redirects=False) as r:
            code = r.status
            retry_after = r.headers.get("Retry-After")
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        error = str(exc) or type(exc).__name__
    return Attempt(code, error, round((time.perf_counter() - started) * 1000, 2), retry_after)


class EventRouter:
    DURABLE = "webhook-router"

    def __init__(self, pool: asyncpg.Pool, js: JetStreamContext, on_recorded: Any) -> None:
        self.pool, self.js, self.on_recorded = pool, js, on_recorded
        self.sub: Any = None

    async def subscribe(self) -> None:
        """Bind the durable consumer; the first start creates it, from new events on. The relay does this
        before it serves, so a webhook is only ever registered once the consumer exists and no event that
        follows a registration can be skipped."""
        self.sub = await jetstream_retry(
            lambda: self.js.pull_subscribe(
                subjects.EVENTS_WILDCARD,
                durable=self.DURABLE,
                stream=subjects.EVENTS_STREAM,
                config=ConsumerConfig(
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=30,
                    max_deliver=-1,
                    deliver_policy=DeliverPolicy.NEW,
                ),
            ),
            f"consumer {self.DURABLE}",
        )

    async def run(self) -> None:
        if self.sub is None:
            await self.subscribe()
        sub = self.sub
        try:
            while True:
                messages = await fetch_batch(sub, 100, 2, self.DURABLE)
                if not messages:
                    continue
                events = [orjson.loads(msg.data) for msg in messages]
                if tracing.ENABLED:
                    events = [self._traced(msg, e) for msg, e in zip(messages, events, strict=False)]
                try:
                    status = await self.pool.execute(
                        RECORD,
                        [e["agent_id"] for e in events],
                        [e["id"] for e in events],
                        [e["type"] for e in events],
                        events,
                    )
                except (
                    DB_UNAVAILABLE
                ) as exc:  # PostgreSQL restarting: hand the batch back for prompt redelivery
                    log.warning("router_record_failed", error=str(exc) or type(exc).__name__)
                    for msg in messages:
                        await msg.nak(delay=1)
                    await asyncio.sleep(1)
                    continue
                for msg in messages:  # acked only once recorded: a crash before this redelivers the batch
                    await msg.ack()
                if int(status.split()[-1]):
                    self.on_recorded()
        finally:
            self.sub = None  # a restarted loop binds the durable consumer again
            try:
                await sub.unsubscribe()
            except Exception:
                pass

    @staticmethod
    def _traced(msg: Any, event: dict[str, Any]) -> dict[str, Any]:
        """A CONSUMER span continuing the event's trace; its context is kept with the deliveries (under the
        body's TRACE_KEY, stripped before sending) so each delivery attempt continues the trace too."""
        if not msg.headers or "traceparent" not in msg.headers:
            return event
        with tracing.span(
            f"route {event.get('type')}",
            "CONSUMER",
            msg.headers,
            {
                "messaging.system": "nats",
                "messaging.destination.name": msg.subject,
                "messaging.operation.type": "receive",
                "moltgrid.event_id": event.get("id"),
            },
        ):
            return {**event, tracing.TRACE_KEY: tracing.carrier()}


class Deliverer:
    def __init__(
        self,
        pool: asyncpg.Pool,
        cipher: Cipher,
        retry_base_s: float,
        allow_private: bool,
        concurrency: int = 32,
    ) -> None:
        self.pool, self.cipher, self.retry_base_s = pool, cipher, retry_base_s
        self.allow_private, self.concurrency = allow_private, concurrency
        self.wake = asyncio.Event()
        self._http: aiohttp.ClientSession | None = None

    def http(self) -> aiohttp.ClientSession:
        """The one HTTP client of deliveries and test sends: unless private addresses are allowed, its resolver
        refuses every non-public address (the SSRF guard at send time)."""
        if self._http is None or self._http.closed:
            resolver = None if self.allow_private else PublicOnlyResolver()
            connector = aiohttp.TCPConnector(limit=self.concurrency, resolver=resolver)
            self._http = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=ATTEMPT_TIMEOUT_S)
            )
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def send_test(self, webhook: asyncpg.Record) -> dict[str, Any]:
        """POST a `webhook.test` event to one webhook now, signed like every delivery, and keep it in the
        delivery log as one finished delivery (never retried). Returns the receiver's answer."""
        event = make_event(
            webhook["agent_id"],
            "webhook.test",
            {
                "webhook_id": webhook["webhook_id"],
                "message": "Test event from MoltGrid: your webhook is reachable.",
            },
        )
        secret = self.cipher.decrypt(webhook["secret"]) if webhook["secret"] else None
        attempt = await post_event(self.http(), webhook["url"], secret, event)
        DELIVERIES.labels(metrics.INSTANCE, "test_delivered" if attempt.ok else "test_failed").inc()
        delivery_id, status = new_id("dlv", 16), "delivered" if attempt.ok else "failed"
        error = (
            attempt.error
            if attempt.status_code is None
            else (None if attempt.ok else f"receiver answered {attempt.status_code}")
        )
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO relay.deliveries (delivery_id, webhook_id, event_id, event_type, body, status, attempts,"
                " last_status_code, last_error, delivered_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, CASE WHEN $6 = 'delivered' THEN now() END)",
                delivery_id,
                webhook["webhook_id"],
                event["id"],
                event["type"],
                event,
                status,
                attempt.status_code,
                error,
            )
            await conn.execute(
                "INSERT INTO relay.delivery_attempts (delivery_id, status_code, latency_ms, error)"
                " VALUES ($1, $2, $3, $4)",
                delivery_id,
                attempt.status_code,
                attempt.latency_ms,
                error,
            )
        return {
            "delivery_id": delivery_id,
            "status": status,
            "error": error,
            "webhook_id": webhook["webhook_id"],
            "event_id": event["id"],
            "status_code": attempt.status_code,
            "latency_ms": attempt.latency_ms,
        }

    async def run(self) -> None:
        self.http()
        try:
            while True:
                sent = await self.deliver_due()
                if not sent:
                    try:
                        await asyncio.wait_for(self.wake.wait(), 0.5)
                    except TimeoutError:
                        pass
                    self.wake.clear()
        finally:
            await self.close()

    async def deliver_due(self) -> int:
        try:
            rows = await self.pool.fetch(CLAIM, self.concurrency, ATTEMPT_TIMEOUT_S + 5)
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:
            log.warning("delivery_claim_failed", error=str(exc))
            await asyncio.sleep(1)
            return 0
        await asyncio.gather(*(self._attempt(r) for r in rows))
        return len(rows)

    async def _attempt(self, row: asyncpg.Record) -> None:
        event, attempt = dict(row["body"]), row["attempts"] + 1
        trace = event.pop(tracing.TRACE_KEY, None)
        if tracing.ENABLED and trace:
            with tracing.span(
                f"deliver {row['event_type']}",
                "CLIENT",
                trace,
                {
                    "http.request.method": "POST",
                    "moltgrid.delivery_id": row["delivery_id"],
                    "moltgrid.attempt": attempt,
                },
            ) as current:
                # the receiver may continue the trace from this attempt's span
                code = await self._send(row, event, attempt, tracing.carrier())
                current.set_attribute("http.response.status_code", code or 0)
            return
        await self._send(row, event, attempt, {})

    async def _send(
        self, row: asyncpg.Record, event: dict[str, Any], attempt: int, trace_headers: dict[str, str]
    ) -> int | None:
        secret = self.cipher.decrypt(row["secret"]) if row["secret"] else None
        sent = await post_event(
            self.http(),
            row["url"],
            secret,
            {**event, "id": row["event_id"], "type": row["event_type"]},
            trace_headers,
        )
        await self._record(row, attempt, sent.status_code, sent.error, sent.latency_ms, sent.retry_after)
        return sent.status_code

    async def _record(
        self,
        row: asyncpg.Record,
        attempt: int,
        code: int | None,
        error: str | None,
        latency: float,
        retry_after: str | None,
    ) -> None:
        ok = code is not None and 200 <= code < 300
        gone = code == 410
        if ok:
            outcome, status, delay = "delivered", "delivered", None
        elif gone or attempt >= MAX_ATTEMPTS:
            outcome, status, delay = ("gone" if gone else "gave_up"), "failed", None
        else:
            outcome, status = "retry", "pending"
            delay = (
                float(retry_after)
                if retry_after and retry_after.isdigit()
                else backoff(attempt, self.retry_base_s)
            )
        DELIVERIES.labels(metrics.INSTANCE, outcome).inc()
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO relay.delivery_attempts (delivery_id, status_code, latency_ms, error)"
                " VALUES ($1, $2, $3, $4)",
                row["delivery_id"],
                code,
                latency,
                error,
            )
            await conn.execute(
                "UPDATE relay.deliveries SET attempts = $2, status = $3, last_status_code = $4, last_error = $5,"
                " delivered_at = CASE WHEN $3 = 'delivered' THEN now() END,"
                " next_attempt_at = now() + make_interval(secs => coalesce($6, 0)) WHERE delivery_id = $1",
                row["delivery_id"],
                attempt,
                status,
                code,
                error,
                delay,
            )
            if gone:
                await conn.execute(
                    "UPDATE relay.webhooks SET active = false, disabled_reason = 'receiver answered 410'"
                    " WHERE webhook_id = $1",
                    row["webhook_id"],
                )


async def delivery_log(pool: asyncpg.Pool, webhook_id: str, limit: int) -> list[dict[str, Any]]:
    from shared.timeutil import iso

    rows = await pool.fetch(
        "SELECT d.delivery_id, d.event_id, d.event_type, d.status, d.attempts, d.last_status_code, d.last_error,"
        " d.created_at, d.delivered_at, d.next_attempt_at,"
        " coalesce((SELECT jsonb_agg(jsonb_build_object('attempted_at', a.attempted_at, 'status_code', a.status_code,"
        "  'latency_ms', a.latency_ms, 'error', a.error) ORDER BY a.id) FROM relay.delivery_attempts a"
        "  WHERE a.delivery_id = d.delivery_id), '[]') AS attempt_log"
        " FROM relay.deliveries d WHERE d.webhook_id = $1 ORDER BY d.created_at DESC LIMIT $2",
        webhook_id,
        limit,
    )
    return [
        {
            **dict(r),
            "created_at": iso(r["created_at"]),
            "delivered_at": iso(r["delivered_at"]),
            "next_attempt_at": iso(r["next_attempt_at"]) if r["status"] == "pending" else None,
        }
        for r in rows
    ]


async def replay(pool: asyncpg.Pool, webhook_id: str, delivery_id: str) -> bool:
    status = await pool.execute(
        "UPDATE relay.deliveries SET status = 'pending', next_attempt_at = now(),"
        " attempts = least(attempts, $3) WHERE delivery_id = $1 AND webhook_id = $2",
        delivery_id,
        webhook_id,
        MAX_ATTEMPTS - 1,
    )
    return status != "UPDATE 0"
