"""Event type names as MoltGrid 1.0's clients read them on the event stream and the events socket.

Our events are dotted (`message.received`, `job.completed`); 1.0 names them with underscores and calls a
direct message `relay_message`. One mapping, used wherever events are served to 1.0's clients."""

from __future__ import annotations

from typing import Final

# Where 1.0's name is not simply the dotted name with underscores.
RENAMED: Final[dict[str, str]] = {"message.received": "relay_message"}


def public_type(event_type: str) -> str:
    """1.0's name of one of our event types."""
    return RENAMED.get(event_type, event_type.replace(".", "_"))
