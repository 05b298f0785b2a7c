"""Requests about agents themselves: registration, the gateway's key lookup, rotation, references."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from shared.models import AgentId, Request, Text

KeyHash = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class Empty(Request):
    pass


class Register(Request):
    name: Annotated[Text, StringConstraints(max_length=64)] | None = None


class Authenticate(Request):
    api_key_hash: KeyHash


class AgentRef(Request):
    agent_id: AgentId


class OptionalAgentRef(Request):
    agent_id: AgentId | None = None
