"""Event type names as MoltGrid 1.0's clients read them on the event stream and the events socket.

Our events are dotted (`message.received`, `job.completed`) and keep those names on webhooks and NATS
subjects; 1.0's clients dispatch on their own names for the same facts (`relay_message`, `job_completed`,
…; docs/events.md has the table). One mapping, used wherever events are served to 1.0's clients: the relay's
GET /v1/events and the gateway's events socket."""

from __future__ import annotations

from typing import Any

# Our type → 1.0's event_type, where 1.0 names the same fact.
CLIENT_NAMES = {
    "message.received": "relay_message",
    "job.completed": "job_completed",
    "memory.changed": "memory_changed",
    "task.created": "task_created",
    "task.claimed": "task_claimed",
    **{
        f"task.{change}": "task_status_changed"
        for change in (
            "completed",
            "failed",
            "cancelled",
            "rejected",
            "waiting_input",
            "resumed",
            "reopened",
            "lease_expired",
            "released",
        )
    },
}


def client_name(event: dict[str, Any]) -> Any:
    """1.0's event_type for an event: from the table; a publication is named after its channel, as 1.0's
    pub/sub names the events it fans out."""
    kind = event.get("type")
    data = event.get("data")
    if kind == "message.broadcast" and isinstance(data, dict) and isinstance(data.get("channel"), str):
        return data["channel"]
    return CLIENT_NAMES.get(kind, kind) if isinstance(kind, str) else kind


def client_payload(event: dict[str, Any]) -> Any:
    """1.0's payload: the event's data, with 1.0's `from` beside `from_agent` on a relay message."""
    data = event.get("data")
    if event.get("type") == "message.received" and isinstance(data, dict) and "from_agent" in data:
        return {**data, "from": data["from_agent"]}
    return data
