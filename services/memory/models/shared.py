"""Request models of shared memory (public read; rows keyed by owner, namespace and key)."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from services.memory.models.entries import Key, Ttl, Value
from shared.models import AgentId, Limit, Namespace, Request, Text


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
