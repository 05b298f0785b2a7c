"""Request models of tiered memory (1.0's /v1/tiered routes): events into sessions, recall, promotion."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import Field, StringConstraints, model_validator

from services.memory.models.entries import Key
from services.memory.models.sessions import Role, SessionId
from shared.models import Namespace, Request, Text, bounded_json

MAX_NOTE_CHARS = 50_000  # a persisted event becomes a memory entry, bounded like any value
Tier = Literal["short", "mid", "long"]
TIERS: tuple[Tier, ...] = ("short", "mid", "long")


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


class Recall(Request):
    """POST /v1/tiered/recall: keyword and recency search over sessions, notes and long-term summaries."""

    query: Annotated[Text, StringConstraints(max_length=10_000)]
    k: Annotated[int, Field(ge=1, le=50)] = 5
    namespace: Namespace = "default"
    tiers: Annotated[list[Tier], Field(min_length=1, max_length=3)] = Field(
        default_factory=lambda: list(TIERS)
    )
    min_similarity: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    session_id: SessionId | None = None  # additive: search one session's messages only


class TieredSummarize(Request):
    session_id: SessionId
    namespace: Namespace = "default"  # where the summary is promoted
