"""Webhook delivery that survives faults.

1. `EventRouter` consumes the EVENTS stream with one durable JetStream consumer shared by every relay
   replica, records one delivery per (webhook, event) in Postgres, then acks — so no event is lost while
   the relay is down, and a redelivered event creates no second delivery (unique (webhook_id, event_id)).
2. `Deliverer` claims due deliveries with FOR UPDATE SKIP LOCKED (a claim also pushes next_attempt_at past
   the attempt's timeout, so another replica never sends the same attempt), POSTs them concurrently with a
   timeout, and schedules retries with exponential backoff and jitter over hours. 410 disables the webhook;
   Retry-After is honoured. Claims are fair between agents (turns, and a cap on one agent's deliveries in
   flight across replicas), and a slot is refilled as soon as its attempt ends: one agent's slow or dead
   receivers never delay another agent's deliveries.
3. Both (and test sends) POST through the guarded client of shared/outbound.py.
The SQL of deliveries is the WebhookStore's.
"""

from __future__ import annotations

import asyncio
import time
from asyncio import FIRST_COMPLETED
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import orjson
import structlog
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.relay.stores.webhooks import WebhookStore
from shared import metrics, subjects, tracing
from shared.db import DB_UNAVAILABLE
from shared.events import fetch_batch, jetstream_retry, make_event
from shared.outbound import GuardedClient, backoff, failure, sign

log = structlog.get_logger("webhooks")
DELIVERIES = metrics.counter(
    "moltgrid_webhook_deliveries", "Webhook delivery attempts by outcome", ("outcome",)
)
MAX_ATTEMPTS = 15
ATTEMPT_TIMEOUT_S = 10.0


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
        error = failure(exc)
    return Attempt(code, error, round((time.perf_counter() - started) * 1000, 2), retry_after)


class EventRouter:
    DURABLE = "webhook-router"

    def __init__(self, store: WebhookStore, js: JetStreamContext, on_recorded: Callable[[], None]) -> None:
        self.store, self.js, self.on_recorded = store, js, on_recorded
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
                    recorded = await self.store.record(events)
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
                if recorded:
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
    """Sends due deliveries continuously: up to `concurrency` in flight in this replica, at most `per_agent`
    of one agent's across all replicas (the claim's cap), agents taking turns; a slot is claimed again as
    soon as an attempt ends, so one agent's slow receivers hold only their own share."""

    def __init__(
        self,
        store: WebhookStore,
        client: GuardedClient,
        retry_base_s: float,
        concurrency: int = 32,
        per_agent: int = 8,
    ) -> None:
        self.store, self.client, self.retry_base_s = store, client, retry_base_s
        self.concurrency, self.per_agent = concurrency, per_agent
        self.wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()

    async def send_test(self, webhook: dict[str, Any]) -> dict[str, Any]:
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
        attempt = await post_event(self.client.http(), webhook["url"], webhook["secret"], event)
        DELIVERIES.labels(metrics.INSTANCE, "test_delivered" if attempt.ok else "test_failed").inc()
        status = "delivered" if attempt.ok else "failed"
        error = (
            attempt.error
            if attempt.status_code is None
            else (None if attempt.ok else f"receiver answered {attempt.status_code}")
        )
        delivery_id = await self.store.record_test(
            webhook["webhook_id"], event, status, attempt.status_code, error, attempt.latency_ms
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
        self.client.http()
        try:
            while True:
                claimed = await self.deliver_due()
                if claimed and len(self._in_flight) < self.concurrency:
                    continue  # there may be more due right now
                self.wake.clear()
                waker = asyncio.create_task(self.wake.wait())
                try:  # until new deliveries are recorded, a slot frees up, or the next poll
                    await asyncio.wait({waker, *self._in_flight}, timeout=0.5, return_when=FIRST_COMPLETED)
                finally:
                    waker.cancel()
        finally:
            for task in list(self._in_flight):
                task.cancel()
            await self.client.close()

    async def deliver_due(self) -> int:
        """Claim as many due deliveries as there are free slots and start sending them; returns how many."""
        free = self.concurrency - len(self._in_flight)
        if free <= 0:
            return 0
        try:
            rows = await self.store.claim(free, self.client.timeout_s + 5, self.per_agent)
        except (asyncpg.PostgresError, *DB_UNAVAILABLE) as exc:
            log.warning("delivery_claim_failed", error=str(exc))
            await asyncio.sleep(1)
            return 0
        for row in rows:
            task = asyncio.create_task(self._guarded(row))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        return len(rows)

    async def _guarded(self, row: dict[str, Any]) -> None:
        """One attempt; a failure to record it (PostgreSQL restarting) is logged, and the claim's hold lapses
        so the attempt is made again."""
        try:
            await self._attempt(row)
        except (asyncpg.PostgresError, *DB_UNAVAILABLE) as exc:
            log.warning("delivery_record_failed", delivery_id=row["delivery_id"], error=str(exc))

    async def _attempt(self, row: dict[str, Any]) -> None:
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
        self, row: dict[str, Any], event: dict[str, Any], attempt: int, trace_headers: dict[str, str]
    ) -> int | None:
        sent = await post_event(
            self.client.http(),
            row["url"],
            row["secret"],
            {**event, "id": row["event_id"], "type": row["event_type"]},
            trace_headers,
        )
        await self._record(row, attempt, sent)
        return sent.status_code

    async def _record(self, row: dict[str, Any], attempt: int, sent: Attempt) -> None:
        code = sent.status_code
        gone = code == 410
        delay: float | None = None
        if sent.ok:
            outcome, status = "delivered", "delivered"
        elif gone or attempt >= MAX_ATTEMPTS:
            outcome, status = ("gone" if gone else "gave_up"), "failed"
        else:
            outcome, status = "retry", "pending"
            retry_after = sent.retry_after
            delay = (
                float(retry_after)
                if retry_after and retry_after.isdigit()
                else backoff(attempt, self.retry_base_s)
            )
        DELIVERIES.labels(metrics.INSTANCE, outcome).inc()
        await self.store.record_attempt(
            row["delivery_id"],
            row["webhook_id"],
            attempt,
            status,
            code,
            sent.error,
            sent.latency_ms,
            delay,
            disable="receiver answered 410" if gone else None,
        )
