"""Request models of vector memory (fields, limits and defaults as MoltGrid 1.0's /v1/vector routes)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, StringConstraints

from shared.models import Namespace, Request, Text, optional_bounded_json

VectorKey = Annotated[Text, StringConstraints(min_length=1, max_length=256)]
METADATA_LIMIT = 10_000  # characters of serialised JSON
FILTER_FIELDS = 20


class VectorUpsert(Request):
    key: VectorKey
    text: Annotated[Text, StringConstraints(min_length=1, max_length=10_000)]
    namespace: Namespace = "default"
    # any JSON (1.0 takes objects only; values here stay any JSON), or null
    metadata: Annotated[Any, optional_bounded_json(METADATA_LIMIT, "metadata")] = None
    importance: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5


class VectorSearch(Request):
    query: Annotated[Text, StringConstraints(max_length=10_000)]
    namespace: Namespace = "default"
    # 1.0's clients also send top_k and min_score; the first name present wins (limit, min_similarity)
    limit: Annotated[int, Field(ge=1, le=100, validation_alias=AliasChoices("limit", "top_k"))] = 5
    min_similarity: Annotated[
        float, Field(ge=0.0, le=1.0, validation_alias=AliasChoices("min_similarity", "min_score"))
    ] = 0.0
    scoring: Literal["cosine", "composite"] = "cosine"
    # Additive: only entries whose metadata (an object) has every one of these fields with an equal value.
    metadata_filter: Annotated[dict[str, Any], Field(max_length=FILTER_FIELDS)] | None = None


class VectorKeyRef(Request):
    key: VectorKey
    namespace: Namespace = "default"


class VectorList(Request):
    namespace: Namespace = "default"
    limit: Annotated[int, Field(ge=1, le=1000)] = 100
