"""Cascading agent deletion: the directory publishes one durable command on JetStream, and every service
deletes what the agent owns in its own schema. A durable consumer per service means a service that was
down when the agent was deleted purges as soon as it is back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import orjson
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from shared import subjects, tracing
from shared.events import fetch_batch, jetstream_retry

log = structlog.get_logger("purge")
Purge = Callable[[str], Awaitable[int]]


async def ensure_admin_stream(js: JetStreamContext, replicas: int) -> None:
    """Create the ADMIN stream if missing (idempotent; the service runtime calls it at every start)."""
    await jetstream_retry(lambda: _ensure_admin_stream(js, replicas), "ensure ADMIN stream")


async def _ensure_admin_stream(js: JetStreamContext, replicas: int) -> None:
    config = StreamConfig(
        name=subjects.ADMIN_STREAM,
        subjects=[subjects.ADMIN_WILDCARD],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=timedelta(days=30).total_seconds(),
        duplicate_window=120.0,
        num_replicas=replicas,
    )
    try:
        await js.stream_info(subjects.ADMIN_STREAM)
    except NotFoundError:
        try:
            await js.add_stream(config)
        except Exception:  # created concurrently by another process
            pass


async def request_agent_purge(js: JetStreamContext, agent_id: str) -> None:
    """Publish the durable purge command (deduplicated per agent for two minutes); an admin request, so a
    JetStream outage fails it rather than retrying. The stream exists: every service's runtime ensures it."""
    headers = {"Nats-Msg-Id": f"purge-{agent_id}"}
    if tracing.ENABLED:
        tracing.inject(headers)  # each service's purge continues the admin request's trace
    await js.publish(subjects.AGENT_PURGE, orjson.dumps({"agent_id": agent_id}), timeout=5, headers=headers)


async def follow_admin_subject(
    js: JetStreamContext,
    subject: str,
    durable: str,
    batch: int,
    handle: Callable[[str, Msg], Awaitable[None]],
    logger: Any,
    failed: str,
) -> None:
    """Hand the agent of every message on an ADMIN `subject` to `handle` forever, through one durable consumer
    (shared by the service's replicas, so a service that was down catches up when it is back). A message whose
    handling raises is logged as `failed` and redelivered a little later; `handle` must be idempotent."""
    sub = await jetstream_retry(
        lambda: js.pull_subscribe(
            subject,
            durable=durable,
            stream=subjects.ADMIN_STREAM,
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=60, max_deliver=-1),
        ),
        f"consumer {durable}",
    )
    try:
        while True:
            for msg in await fetch_batch(sub, batch, 5, durable):
                agent_id = orjson.loads(msg.data)["agent_id"]
                try:
                    await handle(agent_id, msg)
                except Exception as exc:
                    logger.warning(
                        failed, agent_id=agent_id, error_type=type(exc).__name__, error=str(exc) or repr(exc)
                    )
                    await msg.nak(delay=5)
                    continue
                await msg.ack()
    finally:
        # A pull subscription nobody reads any more would hold up the connection's drain at shutdown.
        try:
            await sub.unsubscribe()
        except Exception:
            pass


async def follow_agent_purges(js: JetStreamContext, service: str, purge: Purge) -> None:
    """Consume purge commands forever (one durable consumer per service, shared by its replicas)."""

    async def handle(agent_id: str, msg: Msg) -> None:
        if tracing.ENABLED:
            with tracing.span(
                f"purge {service}",
                "CONSUMER",
                msg.headers or {},
                {"messaging.system": "nats", "moltgrid.agent_id": agent_id},
            ):
                removed = await purge(agent_id)
        else:
            removed = await purge(agent_id)
        log.info("agent_purged", agent_id=agent_id, rows=removed)

    await follow_admin_subject(js, subjects.AGENT_PURGE, f"purge-{service}", 10, handle, log, "purge_failed")
