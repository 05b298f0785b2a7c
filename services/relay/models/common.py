"""Requests shared by several groups: the empty request, and per-agent stats."""

from __future__ import annotations

from shared.models import AgentId, Request


class AgentRef(Request):
    agent_id: AgentId | None = None


class Empty(Request):
    pass
