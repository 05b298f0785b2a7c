"""Requests about agents themselves: registration, the gateway's key lookup, rotation, references."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints
from pydantic.json_schema import SkipJsonSchema

from shared.models import AgentId, Request, Text

KeyHash = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class Empty(Request):
    pass


class Register(Request):
    name: Annotated[Text, StringConstraints(max_length=64)] | None = None
    # the X-Invite-Key header, passed on by the gateway (needed only when the operator sets an invite key)
    invite_key: SkipJsonSchema[Annotated[str, StringConstraints(max_length=256)] | None] = None


class Authenticate(Request):
    api_key_hash: KeyHash


class RotateKey(Request):
    # The hash of the key the caller authenticated with, which the gateway adds (its route sets
    # `caller_key_hash`, after the body, so a client cannot choose it): the rotation replaces exactly that key.
    api_key_hash: KeyHash | None = None


class AgentRef(Request):
    agent_id: AgentId


class OptionalAgentRef(Request):
    agent_id: AgentId | None = None
