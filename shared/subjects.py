"""Every NATS subject name is built here (docs/subjects.md lists them)."""

from __future__ import annotations

import re

SERVICES = (
    "directory",
    "memory",
    "queue",
    "relay",
    "scheduler",
    "marketplace",
    "coordination",
    "sla",
    "embedder",
    "a2a",
)

EVENTS_STREAM = "EVENTS"
EVENTS_WILDCARD = "events.>"

# Operator commands every service must act on, kept in JetStream so a service that is down catches up.
ADMIN_STREAM = "ADMIN"
ADMIN_WILDCARD = "admin.>"
AGENT_PURGE = "admin.agent_purge"  # data: {"agent_id"}; every service deletes what the agent owns
AGENT_REGISTERED = "admin.agent_registered"  # data: {"agent_id"}; the marketplace records the starting grant

# Fan-out notices (plain NATS, every subscriber gets a copy, no queue group).
AGENT_DELETED = "bus.directory.agent_deleted"  # data: {"agent_id"}; gateways drop cached keys
KEY_REVOKED = "bus.directory.key_revoked"  # data: {"agent_id"}

_TOKEN = re.compile(r"^[A-Za-z0-9_\-]+$")


def _check_token(token: str) -> str:
    if not _TOKEN.match(token):
        raise ValueError(f"not a valid subject token: {token!r}")
    return token


def svc(service: str, op: str) -> str:
    """Request/reply subject of one operation: svc.<service>.<op>."""
    return f"svc.{_check_token(service)}.{_check_token(op)}"


def instance_health(service: str, instance: str) -> str:
    """Liveness of one replica (no queue group): what container probes ask."""
    token = re.sub(r"[^A-Za-z0-9_\-]", "_", instance)
    return f"svc.{_check_token(service)}.health.{token}"


def event(agent_id: str, kind: str) -> str:
    """Published fact for one agent: events.<agent_id>.<kind> (kind may be dotted, e.g. job.completed)."""
    for part in kind.split("."):
        _check_token(part)
    return f"events.{_check_token(agent_id)}.{kind}"


def agent_events(agent_id: str) -> str:
    """Every event of one agent (a subscription filter)."""
    return f"events.{_check_token(agent_id)}.>"


def push(agent_id: str) -> str:
    """Live push to an agent's WebSocket connections, on whichever gateway holds them."""
    return f"push.{_check_token(agent_id)}"


# Header of a push message: when the relay committed it (Unix seconds), so gateways can measure push delay.
PUSH_STORED_AT = "MoltGrid-Stored-At"


def a2a_task(task_id: str) -> str:
    """Plain NATS notice that an A2A task's event log grew (no payload): streams and blocking sends waiting on
    the task, on any gateway, re-read the durable log."""
    return f"a2a.task.{_check_token(task_id)}"


def pubsub(channel: str) -> str:
    """A pub/sub channel's publications (plain NATS): pubsub.<channel>, e.g. pubsub.news.tech. Outside
    subscribers may use NATS wildcards with the same meaning as subscription patterns (pubsub.news.*)."""
    for part in channel.split("."):
        _check_token(part)
    return f"pubsub.{channel}"
