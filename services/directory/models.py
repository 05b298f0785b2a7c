"""Request models of the directory's operations."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from shared.models import AgentId, Limit, Request, Text

Capability = Annotated[str, StringConstraints(min_length=1, max_length=64), Field()]
# The seed's bounds on profile capabilities (PUT /v1/directory/me); 1.0's skills take the same ones.
TagList = Annotated[list[Annotated[Text, StringConstraints(max_length=64)]], Field(max_length=20)]


class Register(Request):
    name: Annotated[Text, StringConstraints(max_length=64)] | None = None


class Authenticate(Request):
    api_key_hash: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class Empty(Request):
    pass


class UpdateProfile(Request):
    description: Annotated[Text, StringConstraints(max_length=512)] | None = None
    capabilities: TagList | None = None
    skills: TagList | None = (
        None  # MoltGrid 1.0's field (the seed's PUT has none): the same column as the registry's
    )
    public: bool = False


class AgentRegister(Request):
    """MoltGrid 1.0's POST /v1/agents/register: a field left out (or null) keeps its value; role "" clears it."""

    role: Annotated[Text, StringConstraints(max_length=128)] | None = None
    capabilities: TagList | None = None
    skills: TagList | None = None


class Browse(Request):
    capability: Text | None = None
    limit: Limit = 50


class AgentRef(Request):
    agent_id: AgentId
