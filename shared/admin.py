"""Request models and helpers shared by the services' admin operations (behind the admin session)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from shared.models import INT64_MAX, AgentId, Request


class AdminPage(Request):
    limit: Annotated[int, Field(ge=1, le=500)] = 100
    offset: Annotated[int, Field(ge=0, le=INT64_MAX)] = 0
    agent_id: AgentId | None = None
    status: str | None = None
    namespace: str | None = None


def masked(value: str | None) -> str | None:
    """Stored secrets and encrypted values are never listed in clear."""
    if value is None:
        return None
    return f"•••• ({len(value.encode())} bytes)"


def page(items: list[dict[str, Any]], total: int, req: AdminPage) -> dict[str, Any]:
    return {"items": items, "count": len(items), "total": total, "limit": req.limit, "offset": req.offset}
