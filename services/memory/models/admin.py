"""Request models of the operator's views and the counts other services ask for."""

from __future__ import annotations

from services.memory.models.entries import Key
from shared.models import AgentId, Namespace, Request


class Empty(Request):
    pass


class AdminReveal(Request):
    agent_id: AgentId
    namespace: Namespace
    key: Key


class StatsRef(Request):
    """svc.memory.agent_stats: the caller's counts (an admin may name any agent)."""

    agent_id: AgentId | None = None
