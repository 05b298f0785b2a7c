"""Request models of the directory's operations."""
from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from shared.models import AgentId, Limit, Request, Text

Capability = Annotated[str, StringConstraints(min_length=1, max_length=64), Field()]


class Register(Request):
    name: Annotated[Text, StringConstraints(max_length=64)] | None = None


class Authenticate(Request):
    api_key_hash: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class Empty(Request):
    pass


class UpdateProfile(Request):
    description: Annotated[Text, StringConstraints(max_length=512)] | None = None
    capabilities: Annotated[list[Annotated[Text, StringConstraints(max_length=64)]], Field(max_length=20)] | None = None
    public: bool = False


class Browse(Request):
    capability: Text | None = None
    limit: Limit = 50


class AgentRef(Request):
    agent_id: AgentId
