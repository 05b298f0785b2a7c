"""Agent registrations as a durable fact: the directory announces each new agent on the ADMIN JetStream
stream, and services that keep something per agent from its first moment (the marketplace's starting grant)
follow it with one durable consumer per service, shared by its replicas, so a service that was down when
the agent registered catches up when it is back."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import orjson
import structlog
from nats.js import JetStreamContext

from shared import subjects
from shared.purge import follow_admin_subject

log = structlog.get_logger("registrations")
OnRegistered = Callable[[str], Awaitable[None]]
PUBLISH_TIMEOUT = 0.5  # seconds a registration waits for JetStream's acknowledgement before retrying later
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # background retries while JetStream is unavailable
_retrying: set[asyncio.Task[None]] = set()


async def _publish(js: JetStreamContext, agent_id: str) -> None:
    await js.publish(
        subjects.AGENT_REGISTERED,
        orjson.dumps({"agent_id": agent_id}),
        timeout=PUBLISH_TIMEOUT,
        headers={"Nats-Msg-Id": f"registered-{agent_id}"},
    )


async def announce_registration(js: JetStreamContext, agent_id: str) -> bool:
    """Publish the registration (deduplicated per agent, so a retry is harmless). The registration never waits
    long for it: when JetStream does not acknowledge at once (a leader election, a reconnect), the publish is
    retried in the background. Followers must still cope with an agent they never heard of (the process may
    stop before a retry succeeds): the marketplace also opens accounts at first use."""
    try:
        await _publish(js, agent_id)
        return True
    except Exception as exc:
        log.info("registration_announce_retrying", agent_id=agent_id, error_type=type(exc).__name__)
        task = asyncio.create_task(_retry(js, agent_id), name=f"announce-{agent_id}")
        _retrying.add(task)
        task.add_done_callback(_retrying.discard)
        return False


async def _retry(js: JetStreamContext, agent_id: str) -> None:
    error: Exception | None = None
    for delay in RETRY_DELAYS:
        await asyncio.sleep(delay)
        try:
            await _publish(js, agent_id)
            return
        except Exception as exc:
            error = exc
    log.warning(
        "registration_not_announced",
        agent_id=agent_id,
        error_type=type(error).__name__,
        error=str(error) or repr(error),
    )


async def follow_registrations(js: JetStreamContext, service: str, on_registered: OnRegistered) -> None:
    """Handle every registration forever; `on_registered` must be idempotent (a message may come twice)."""
    await follow_admin_subject(
        js,
        subjects.AGENT_REGISTERED,
        f"registrations-{service}",
        50,
        lambda agent_id, _msg: on_registered(agent_id),
        log,
        "registration_failed",
    )
