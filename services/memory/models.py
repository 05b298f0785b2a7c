"""Request models of the memory service's operations (limits as in the contract)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator
from pydantic.json_schema import SkipJsonSchema

from shared.models import INT64_MAX, AgentId, Limit, Namespace, Request, Text

Key = Annotated[Text, StringConstraints(min_length=1, max_length=256)]
Value = Annotated[Text, StringConstraints(max_length=50_000)]
Ttl = Annotated[int, Field(ge=60, le=2_592_000)]
Visibility = Literal["private", "public", "shared"]
SharedAgents = Annotated[list[AgentId], Field(max_length=100)]
Version = Annotated[int, Field(ge=0, le=INT64_MAX)]


class Set(Request):
    key: Key
    value: Value
    namespace: Namespace = "default"
    ttl_seconds: Ttl | None = None
    # MoltGrid 1.0 (additive): who else may read the entry (unchanged when absent; new entries are private)
    visibility: Visibility | None = None
    shared_agents: SharedAgents | None = None
    # compare-and-set: the version the writer last saw (0 = the key must not exist yet); a mismatch is a 409.
    # 1.0's If-Match header carries the same number; the gateway passes it on as if_match.
    expected_version: Version | None = None
    if_match: SkipJsonSchema[Annotated[str, StringConstraints(max_length=64)] | None] = (
        None  # from the header
    )

    @model_validator(mode="after")
    def _if_match_is_a_version(self) -> Set:
        if self.if_match is not None and self.expected_version is None:
            tag = self.if_match.strip().removeprefix("W/").strip('"')
            if not tag.isdigit() or int(tag) > INT64_MAX:
                raise ValueError("If-Match must be a version number")
            self.expected_version = int(tag)
        return self


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
