"""Heartbeat requests."""

from __future__ import annotations

from typing import Any, Literal

from shared.models import Request

MAX_METADATA = 4096  # bytes of JSON, as MoltGrid 1.0 bounds them
Status = Literal["online", "busy", "idle", "offline"]


class Heartbeat(Request):
    status: Status = "online"
    metadata: dict[str, Any] | None = None  # at most MAX_METADATA bytes of JSON (400 beyond, as 1.0)
