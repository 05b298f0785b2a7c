"""All SQL of long-term memory: vector memory (`memory.vectors`, pgvector) and the session summaries tiered
memory promotes (`memory.long_term`). Text and metadata are encrypted at rest when keys are configured; the
embedding cannot be (the index compares it). Every statement is scoped to one agent."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from services.memory.db import Db, affected
from services.memory.stores import RECALL_SCAN
from shared.crypto import Cipher
from shared.timeutil import iso, utcnow

DIMENSIONS = 384
SCAN_LIMIT = 2000  # candidates one search reads at most while applying a metadata filter
RECENCY_HALF_LIFE_HOURS = 168.0  # composite scoring: an entry untouched for a week counts half as recent


def vector_literal(vector: Sequence[float]) -> str:
    """pgvector's text form, '[x1,x2,…]' (passed as text and cast, so no client-side codec is needed)."""
    if len(vector) != DIMENSIONS or not all(math.isfinite(x) for x in vector):
        raise ValueError(f"expected {DIMENSIONS} finite floats")
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


def matches(metadata: Any, wanted: dict[str, Any] | None) -> bool:
    """Every field of the filter present in the metadata object with an equal JSON value."""
    if not wanted:
        return True
    return isinstance(metadata, dict) and all(k in metadata and metadata[k] == v for k, v in wanted.items())


def recency(updated_at: datetime, now: datetime) -> float:
    hours = max((now - updated_at).total_seconds() / 3600.0, 0.0)
    return float(0.5 ** (hours / RECENCY_HALF_LIFE_HOURS))


async def _each(records: list[asyncpg.Record]) -> AsyncIterator[asyncpg.Record]:
    for record in records:
        yield record


class VectorStore:
    def __init__(self, db: Db, cipher: Cipher) -> None:
        self._db, self._cipher = db, cipher

    def _metadata_out(self, stored: str | None) -> Any:
        return None if stored is None else orjson.loads(self._cipher.decrypt(stored))

    async def upsert(
        self,
        agent_id: str,
        namespace: str,
        key: str,
        text: str,
        metadata: Any,
        importance: float,
        embedding: Sequence[float],
    ) -> None:
        meta = None if metadata is None else self._cipher.encrypt(orjson.dumps(metadata).decode())
        await self._db.execute(
            "INSERT INTO memory.vectors (agent_id, namespace, key, text, metadata, importance, embedding)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7::text::vector)"
            " ON CONFLICT (agent_id, namespace, key) DO UPDATE SET text = EXCLUDED.text,"
            " metadata = EXCLUDED.metadata, importance = EXCLUDED.importance, embedding = EXCLUDED.embedding,"
            " updated_at = now()",
            agent_id,
            namespace,
            key,
            self._cipher.encrypt(text),
            meta,
            importance,
            vector_literal(embedding),
        )

    async def get(self, agent_id: str, namespace: str, key: str) -> dict[str, Any] | None:
        r = await self._db.fetchrow(
            "SELECT text, metadata, importance, created_at, updated_at FROM memory.vectors"
            " WHERE agent_id = $1 AND namespace = $2 AND key = $3",
            agent_id,
            namespace,
            key,
        )
        if r is None:
            return None
        return {
            "key": key,
            "text": self._cipher.decrypt(r["text"]),
            "metadata": self._metadata_out(r["metadata"]),
            "namespace": namespace,
            "importance": round(float(r["importance"]), 6),
            "created_at": iso(r["created_at"]),
            "updated_at": iso(r["updated_at"]),
        }

    async def keys(self, agent_id: str, namespace: str, limit: int) -> list[dict[str, Any]]:
        rows = await self._db.fetch(
            "SELECT key, created_at FROM memory.vectors WHERE agent_id = $1 AND namespace = $2"
            " ORDER BY created_at DESC, key LIMIT $3",
            agent_id,
            namespace,
            limit,
        )
        return [{"key": r["key"], "created_at": iso(r["created_at"])} for r in rows]

    async def delete(self, agent_id: str, namespace: str, key: str) -> bool:
        status = await self._db.execute(
            "DELETE FROM memory.vectors WHERE agent_id = $1 AND namespace = $2 AND key = $3",
            agent_id,
            namespace,
            key,
        )
        return affected(status) > 0

    async def search(
        self,
        agent_id: str,
        namespace: str,
        embedding: Sequence[float],
        *,
        limit: int,
        min_similarity: float,
        composite: bool,
        metadata_filter: dict[str, Any] | None,
    ) -> list[dict[str, Any]]:
        """Nearest entries by cosine similarity, best first.

        The HNSW index is read with pgvector's iterative scan (≥ 0.8) in strict order, so rows of other agents
        or namespaces (and rows failing the metadata filter, checked here after decryption, at most SCAN_LIMIT
        of them) do not cut the answer short, and the first row below min_similarity ends the scan.
        Composite scoring re-ranks the nearest candidates (4× the limit, at least 40) by
        0.4·recency + 0.2·importance + 0.4·cosine, as 1.0 defines it.
        """
        wanted = max(limit * 4, 40) if composite else limit
        query = (
            "SELECT key, text, metadata, importance, updated_at,"
            " 1 - (embedding <=> $3::text::vector) AS similarity"
            " FROM memory.vectors WHERE agent_id = $1 AND namespace = $2"
            " ORDER BY embedding <=> $3::text::vector LIMIT $4"
        )
        args = (agent_id, namespace, vector_literal(embedding), SCAN_LIMIT if metadata_filter else wanted)
        async with self._db.connection() as conn:
            # One round trip. Session-level on purpose (no transaction needed): only HNSW scans read these, and
            # every search sets them first on whichever pooled connection it gets.
            await conn.execute(
                f"SET hnsw.ef_search = {min(max(40, wanted), 1000)}; SET hnsw.iterative_scan = strict_order"
            )
            if metadata_filter:  # read in chunks until enough rows match (a cursor lives in a transaction)
                async with conn.transaction():
                    rows = conn.cursor(query, *args, prefetch=min(wanted * 2, 200))
                    found = await self._collect(
                        rows.__aiter__(), wanted, min_similarity, composite, metadata_filter
                    )
            else:  # the first `wanted` rows are all there is to read
                found = await self._collect(
                    _each(await conn.fetch(query, *args)), wanted, min_similarity, composite, None
                )
        if composite:
            found.sort(key=lambda item: item["score"], reverse=True)
        return found[:limit]

    async def _collect(
        self,
        rows: AsyncIterator[asyncpg.Record],
        wanted: int,
        min_similarity: float,
        composite: bool,
        metadata_filter: dict[str, Any] | None,
    ) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        now = utcnow()
        async for r in rows:
            similarity = max(min(float(r["similarity"]), 1.0), -1.0)
            if similarity < min_similarity:
                break  # rows come nearest first: none further on can reach the threshold
            metadata = self._metadata_out(r["metadata"])
            if not matches(metadata, metadata_filter):
                continue
            score = (
                0.4 * recency(r["updated_at"], now) + 0.2 * float(r["importance"]) + 0.4 * similarity
                if composite
                else similarity
            )
            found.append(
                {
                    "key": r["key"],
                    "text": self._cipher.decrypt(r["text"]),
                    "score": round(score, 6),
                    "similarity": round(similarity, 6),
                    "metadata": metadata,
                }
            )
            if len(found) >= wanted:
                break
        return found

    # ── long-term notes: session summaries promoted by tiered memory ────────
    async def promote(self, agent_id: str, namespace: str, key: str, text: str, metadata: Any) -> None:
        await self._db.execute(
            "INSERT INTO memory.long_term (agent_id, namespace, key, text, metadata) VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (agent_id, namespace, key) DO UPDATE SET text = EXCLUDED.text,"
            " metadata = EXCLUDED.metadata, updated_at = now()",
            agent_id,
            namespace,
            key,
            self._cipher.encrypt(text),
            None if metadata is None else self._cipher.encrypt(orjson.dumps(metadata).decode()),
        )

    async def recent_long_term(self, agent_id: str, namespace: str) -> list[dict[str, Any]]:
        """Tiered recall's long tier: the newest promoted summaries of a namespace, still encrypted."""
        rows = await self._db.fetch(
            "SELECT key, text, metadata, updated_at FROM memory.long_term WHERE agent_id = $1 AND namespace = $2"
            " ORDER BY updated_at DESC LIMIT $3",
            agent_id,
            namespace,
            RECALL_SCAN,
        )
        return [
            {
                "key": r["key"],
                "text": r["text"],
                "at": r["updated_at"],
                "metadata": r["metadata"],
                "metadata_stored": True,
            }
            for r in rows
        ]

    # ── housekeeping ────────────────────────────────────────────────────────
    async def delete_agent(self, agent_id: str) -> int:
        async with self._db.transaction() as conn:
            a = await conn.execute("DELETE FROM memory.vectors WHERE agent_id = $1", agent_id)
            b = await conn.execute("DELETE FROM memory.long_term WHERE agent_id = $1", agent_id)
        return affected(a) + affected(b)
