"""Request models of MoltGrid 1.0's memory operations: visibility, history, batches, sessions, tiered memory
(limits as in 1.0's contract)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import Field, StringConstraints, model_validator

from services.memory.models import Key, SharedAgents, Visibility
from shared.models import AgentId, Limit, Namespace, Request, Text, bounded_json, optional_bounded_json

SessionId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Role = Literal["user", "assistant", "system", "agent"]
Content = Annotated[Text, StringConstraints(min_length=1, max_length=1_000_000)]
MaxTokens = Annotated[int, Field(ge=1000, le=1_000_000)]
MAX_METADATA_CHARS = 10_000
MAX_NOTE_CHARS = 50_000  # a persisted event becomes a memory entry, bounded like any value
HISTORY_KEPT = 50  # versions memory.history keeps per key (migration 0003)


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


class SessionCreate(Request):
    title: Annotated[Text, StringConstraints(max_length=256)] | None = None
    metadata: Annotated[Any, optional_bounded_json(MAX_METADATA_CHARS, "metadata")] = None  # any JSON value
    max_tokens: MaxTokens = 128_000


class SessionList(Request):
    limit: Limit = 100


class SessionRef(Request):
    session_id: SessionId


class SessionAppend(Request):
    session_id: SessionId
    role: Role
    content: Content


class StoreEvent(Request):
    """POST /v1/tiered/store_event: an event into a session (tier 1), optionally also a note (tier 2)."""

    session_id: SessionId
    data: Annotated[
        Any, bounded_json(1_000_000, "data")
    ]  # any JSON value but null; an object or array: its JSON
    role: Role = "user"
    persist: bool = False
    note_key: Key | None = None
    namespace: Namespace = "default"  # additive: the note's namespace

    @property
    def content(self) -> str:
        return self.data if isinstance(self.data, str) else orjson.dumps(self.data).decode()

    @model_validator(mode="after")
    def _note(self) -> StoreEvent:
        if not self.content:
            raise ValueError("data must not be empty")
        if self.persist and not self.note_key:
            raise ValueError("note_key is required when persist is true")
        if self.persist and len(self.content) > MAX_NOTE_CHARS:
            raise ValueError(f"data to persist must be at most {MAX_NOTE_CHARS} characters")
        return self


Tier = Literal["short", "mid", "long"]


class Recall(Request):
    """POST /v1/tiered/recall: keyword and recency search over sessions, notes and long-term summaries."""

    query: Annotated[Text, StringConstraints(max_length=10_000)]
    k: Annotated[int, Field(ge=1, le=50)] = 5
    namespace: Namespace = "default"
    tiers: Annotated[list[Tier], Field(min_length=1, max_length=3)] = Field(
        default_factory=lambda: ["short", "mid", "long"]
    )
    min_similarity: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    session_id: SessionId | None = None  # additive: search one session's messages only


class TieredSummarize(Request):
    session_id: SessionId
    namespace: Namespace = "default"  # where the summary is promoted
