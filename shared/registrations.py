"""Agent registrations as a durable fact: the directory announces each new agent on the ADMIN JetStream
stream (through its outbox, in the transaction that creates the agent, with `Nats-Msg-Id`
`registered-<agent>`), and services that keep something per agent from its first moment (the marketplace's
starting grant) follow it with one durable consumer per service, shared by its replicas, so a service that
was down when the agent registered catches up when it is back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from nats.js import JetStreamContext

from shared import subjects
from shared.purge import follow_admin_subject

log = structlog.get_logger("registrations")
OnRegistered = Callable[[str], Awaitable[None]]


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
