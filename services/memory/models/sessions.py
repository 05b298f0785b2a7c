"""Request models of sessions (short-term conversation memory; fields and limits as 1.0's /v1/sessions)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from shared.models import Limit, Request, Text, optional_bounded_json

SessionId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Role = Literal["user", "assistant", "system", "agent"]
Content = Annotated[Text, StringConstraints(min_length=1, max_length=1_000_000)]
MaxTokens = Annotated[int, Field(ge=1000, le=1_000_000)]
MAX_METADATA_CHARS = 10_000


class SessionCreate(Request):
    title: Annotated[Text, StringConstraints(max_length=256)] | None = None  # None: "Session YYYY-MM-DD"
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
