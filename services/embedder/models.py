"""Request models of the embedder's operations."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from shared.models import Request, Text

MAX_TEXTS = 64  # per request: 64 vectors of 384 floats stay well under NATS' 1 MB message limit
EmbedText = Annotated[Text, StringConstraints(max_length=10_000)]


class Embed(Request):
    texts: Annotated[list[EmbedText], Field(min_length=1, max_length=MAX_TEXTS)]


class Empty(Request):
    pass
