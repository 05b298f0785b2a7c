"""Request models of the memory service's operations (limits as in the contract)."""
from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from shared.models import AgentId, Limit, Namespace, Request, Text

Key = Annotated[Text, StringConstraints(min_length=1, max_length=256)]
Value = Annotated[Text, StringConstraints(max_length=50_000)]
Ttl = Annotated[int, Field(ge=60, le=2_592_000)]


class Set(Request):
    key: Key
    value: Value
    namespace: Namespace = "default"
    ttl_seconds: Ttl | None = None


class KeyRef(Request):
    key: Key
    namespace: Namespace = "default"


class List(Request):
    namespace: Namespace = "default"
    prefix: Annotated[Text, StringConstraints(max_length=256)] = ""
    limit: Limit = 50


class SharedSet(Request):
    namespace: Namespace
    key: Key
    value: Value
    description: Annotated[Text, StringConstraints(max_length=256)] | None = None
    ttl_seconds: Ttl | None = None


class SharedNamespaces(Request):
    limit: Limit = 200


class SharedList(Request):
    namespace: Namespace
    prefix: Annotated[Text, StringConstraints(max_length=256)] = ""
    limit: Limit = 50


class SharedRef(Request):
    namespace: Namespace
    key: Key
    owner_agent: AgentId | None = None  # additive: pick one owner's entry when several wrote the key


class Empty(Request):
    pass


class AdminReveal(Request):
    agent_id: AgentId
    namespace: Namespace
    key: Key


class StatsRef(Request):
    """svc.memory.agent_stats: the caller's counts (an admin may name any agent)."""

    agent_id: AgentId | None = None
