"""Request models of private entries: writes (with compare-and-set and visibility), reads, listings,
batches, history, cross-agent reads and the access log (limits as in the contract)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator
from pydantic.json_schema import SkipJsonSchema

from shared.models import INT64_MAX, AgentId, Limit, Namespace, Request, Text

Key = Annotated[Text, StringConstraints(min_length=1, max_length=256)]
Value = Annotated[Text, StringConstraints(max_length=50_000)]
Ttl = Annotated[int, Field(ge=60, le=2_592_000)]
Visibility = Literal["private", "public", "shared"]
SharedAgents = Annotated[list[AgentId], Field(max_length=100)]
Version = Annotated[int, Field(ge=0, le=INT64_MAX)]
HISTORY_KEPT = 50  # versions memory.history keeps per key (migration 0003)


class Set(Request):
    key: Key
    value: Value
    namespace: Namespace = "default"
    ttl_seconds: Ttl | None = None
    # 1.0 (additive): who else may read the entry (unchanged when absent; new entries are private)
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


class VisibilityChange(Request):
    """PATCH /v1/memory/{key}/visibility"""

    key: Key
    namespace: Namespace = "default"
    visibility: Visibility
    shared_agents: SharedAgents = Field(default_factory=list)


class History(Request):
    key: Key
    namespace: Namespace = "default"
    limit: Annotated[int, Field(ge=1, le=HISTORY_KEPT)] = HISTORY_KEPT


class CrossAgentRead(Request):
    """GET /v1/agents/{target_agent_id}/memory/{key}"""

    target_agent_id: AgentId
    key: Key
    namespace: Namespace = "default"


class AccessLog(Request):
    """GET /v1/memory-access-log: who read the caller's entries."""

    namespace: Namespace | None = None
    key: Key | None = None
    reader: AgentId | None = None
    limit: Limit = 100


class Batch(Request):
    """POST /v1/memory/batch. Items are checked one by one (each gets its own error), so they stay raw here."""

    items: Annotated[list[Any], Field(min_length=1, max_length=100)]
