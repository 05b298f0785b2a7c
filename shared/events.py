"""Domain events: a versioned JSON envelope on events.<agent_id>.<type>, kept in the EVENTS JetStream stream.

Services write events into their own `<schema>.outbox` table in the same transaction as the change
(`add_event`), and an `OutboxPublisher` moves them to JetStream with `Nats-Msg-Id` = event id, so an
event is never lost after a commit and never duplicated by a crash between publish and delete.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import asyncpg
import nats.errors
import orjson
import structlog
from nats.js import JetStreamContext
from nats.js.api import (
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError, ServiceUnavailableError

from shared import envelope, subjects, tracing
from shared.db import SCHEMA_RE
from shared.ids import new_id
from shared.retry import until_available
from shared.timeutil import iso, utcnow

EVENT_VERSION = 1
COALESCE_S = 0.02  # an outbox publisher flushes at most this often (see OutboxPublisher._loop)
STREAM_MAX_AGE = timedelta(days=7)
log = structlog.get_logger("events")
T = TypeVar("T")
# JetStream API calls fail like this while a cluster elects a leader (at start, or after losing a node) or while
# the client reconnects to another node: retried, never fatal.
JETSTREAM_UNAVAILABLE = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    ServiceUnavailableError,
    nats.errors.ConnectionReconnectingError,
)


async def jetstream_retry(fn: Callable[[], Awaitable[T]], what: str) -> T:
    """Run a JetStream set-up call (stream, consumer, bucket), retrying while JetStream is unavailable."""
    return await until_available(fn, JETSTREAM_UNAVAILABLE, what)


async def fetch_batch(sub: Any, batch: int, timeout: float, consumer: str) -> list[Any]:
    """The next messages of a pull consumer, or [] when none came within `timeout` or NATS is reconnecting
    (logged, after a pause). A cancellation of the calling task is never swallowed.

    An empty fetch is not a failure: nats-py ends it with `nats.errors.TimeoutError` or, near the deadline,
    with a bare `asyncio.TimeoutError` (whose message is empty); both are the normal idle outcome."""
    try:
        messages: list[Any] = await sub.fetch(batch, timeout=timeout)
        return messages
    except Exception as exc:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError from exc
        if not is_empty_fetch(exc):
            log.warning(
                "consumer_fetch_failed",
                consumer=consumer,
                error_type=type(exc).__name__,
                error=str(exc) or repr(exc),
            )
            await asyncio.sleep(1)
        return []


def is_empty_fetch(exc: BaseException) -> bool:
    """Whether a pull consumer's fetch ended only because no message came in time."""
    return isinstance(exc, (asyncio.TimeoutError, nats.errors.TimeoutError))


def make_event(agent_id: str, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": new_id("evt", 24),
        "type": event_type,
        "agent_id": agent_id,
        "time": iso(utcnow()),
        "version": EVENT_VERSION,
        "data": data,
    }


async def ensure_stream(js: JetStreamContext, replicas: int) -> None:
    """Create or update the EVENTS stream (idempotent; the service runtime calls it at every start)."""
    await jetstream_retry(lambda: _ensure_stream(js, replicas), "ensure EVENTS stream")


async def _ensure_stream(js: JetStreamContext, replicas: int) -> None:
    config = StreamConfig(
        name=subjects.EVENTS_STREAM,
        subjects=[subjects.EVENTS_WILDCARD],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=STREAM_MAX_AGE.total_seconds(),
        duplicate_window=120.0,
        discard=DiscardPolicy.OLD,
        num_replicas=replicas,
    )
    try:
        await js.stream_info(subjects.EVENTS_STREAM)
    except NotFoundError:
        try:
            await js.add_stream(config)
            return
        except Exception:  # another process created it first
            pass
    await js.update_stream(config)


async def follow(
    js: JetStreamContext, subject: str, *, after_seq: int | None = None, since: datetime | None = None
) -> Any:
    """An ordered (gap-free, self-healing) push subscription to EVENTS: after a stream sequence, from a
    time, or only new events. Readers page with `next_msg`; the cursor is `msg.metadata.sequence.stream`."""
    if after_seq is not None:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after_seq + 1)
    elif since is not None:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=since)
    else:
        config = ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
    return await js.subscribe(subject, stream=subjects.EVENTS_STREAM, ordered_consumer=True, config=config)


@dataclass(frozen=True, slots=True)
class Followed:
    """One event read from EVENTS: its stream sequence (the cursor), its bytes as published, and parsed."""

    sequence: int
    raw: bytes
    event: dict[str, Any]


async def tail(
    js: JetStreamContext, subject: str, after_seq: int, idle: float
) -> AsyncGenerator[Followed | None, None]:
    """Every event on `subject` after stream sequence `after_seq`, oldest first, then live ones as they come;
    None each time `idle` seconds pass without one (a reader's cue for a keep-alive). Use it inside
    `contextlib.aclosing` so the subscription ends with the reader."""
    sub = await follow(js, subject, after_seq=after_seq)
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=idle)
            except (TimeoutError, nats.errors.TimeoutError):
                yield None
                continue
            yield Followed(msg.metadata.sequence.stream, msg.data, orjson.loads(msg.data))
    finally:
        with contextlib.suppress(Exception):  # the connection may be closing
            await sub.unsubscribe()


async def add_event(
    conn: asyncpg.Connection, schema: str, agent_id: str, event_type: str, data: dict[str, Any]
) -> dict[str, Any]:
    """Record an event in the caller's transaction; the OutboxPublisher publishes it after commit."""
    assert SCHEMA_RE.fullmatch(schema)
    event = make_event(agent_id, event_type, data)
    await conn.execute(
        f"INSERT INTO {schema}.outbox (event_id, subject, body) VALUES ($1, $2, $3)",
        event["id"],
        subjects.event(agent_id, event_type),
        outbox_body(event),
    )
    return event


def outbox_body(event: dict[str, Any]) -> dict[str, Any]:
    """What an outbox row stores for `event`: with tracing on, the request's trace context rides along, and the
    OutboxPublisher moves it into the published message's headers."""
    return {**event, tracing.TRACE_KEY: tracing.carrier()} if tracing.ENABLED else event


class OutboxPublisher:
    """Publishes a service's outbox rows to JetStream; safe with many replicas (SKIP LOCKED)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        js: JetStreamContext,
        schema: str,
        poll_interval: float = 1.0,
        batch: int = 200,
    ) -> None:
        assert SCHEMA_RE.fullmatch(schema)
        self._pool, self._js, self._schema, self._poll = pool, js, schema, poll_interval
        self._batch = batch  # events published concurrently per transaction
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def kick(self) -> None:
        """Publish soon (call after committing a transaction that added events)."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            await asyncio.wait_for(self.flush(), 5)
        except Exception:
            pass  # left in the outbox; the next start publishes it

    async def _loop(self) -> None:
        last = 0.0
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self._poll)
            except TimeoutError:
                pass
            # Under load, kicks come faster than flushes are worth: each flush is a transaction (and a WAL
            # flush) plus a JetStream round trip per event. Flushing at most every COALESCE_S batches them;
            # an idle service still publishes at once.
            wait = last + COALESCE_S - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            last = time.monotonic()
            self._wake.clear()
            try:
                await self.flush()
            except Exception as exc:  # NATS or Postgres away: retry on the next tick
                log.warning("outbox_publish_failed", schema=self._schema, error=str(exc))

    async def _publish(self, row: asyncpg.Record) -> None:
        body = row["body"]
        headers = {"Nats-Msg-Id": row["event_id"]}
        if isinstance(body, dict) and tracing.TRACE_KEY in body:  # never part of the published event
            body = dict(body)
            headers.update(body.pop(tracing.TRACE_KEY) or {})
        await self._js.publish(row["subject"], envelope.dumps(body), timeout=5, headers=headers)

    async def flush(self, batch: int | None = None) -> int:
        batch = batch or self._batch
        sent = 0
        while True:
            async with self._pool.acquire() as conn, conn.transaction():
                rows = await conn.fetch(
                    f"SELECT id, event_id, subject, body FROM {self._schema}.outbox ORDER BY id "
                    f"LIMIT {batch} FOR UPDATE SKIP LOCKED"
                )
                if not rows:
                    return sent
                await asyncio.gather(*(self._publish(r) for r in rows))
                await conn.execute(
                    f"DELETE FROM {self._schema}.outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows]
                )
                sent += len(rows)
            if len(rows) < batch:  # drained; rows committed since were kicked and start the next flush
                return sent
