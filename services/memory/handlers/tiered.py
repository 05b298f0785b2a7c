"""Tiered memory operations (1.0's /v1/tiered routes) over the memory service's own stores:

- tier "short": session messages (1.0's tier 1, the session buffer);
- tier "mid": private key-value entries of one namespace (1.0's tier 2, notes);
- tier "long": session summaries promoted by /v1/tiered/summarize (1.0's tier 3; 1.0 kept them in its vector
  store, here they live in memory.long_term so recall needs no embedder).

Recall ranks by keyword overlap (the share of the query's content words an item contains), newest first among
equals, over the newest RECALL_SCAN items of each tier.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson

from services.memory.conversation import Conversations, describe, keep_newest_prefix
from services.memory.models import tiered as v
from services.memory.stores.entries import EntryStore, Write
from services.memory.stores.sessions import SessionStore
from services.memory.stores.vectors import VectorStore
from services.memory.summarizer import words
from shared.bus import Ctx
from shared.crypto import Cipher
from shared.errors import BadRequest
from shared.ops import OpGroup, op

SUMMARY_TOKENS = 1000  # length of a promoted session summary


def keyword_score(query_words: set[str], text: str) -> float:
    """Share of the query's content words found in `text` (0 when the query has none)."""
    if not query_words:
        return 0.0
    return round(len(query_words & set(words(text))) / len(query_words), 4)


def long_term_key(session_id: str) -> str:
    return f"session:{session_id}"


class TieredHandlers(OpGroup):
    prefix = "tiered_"

    def __init__(
        self,
        conversations: Conversations,
        sessions: SessionStore,
        entries: EntryStore,
        long_term: VectorStore,
        cipher: Cipher,
        kick: Callable[[], None],
    ) -> None:
        self.conversations, self.sessions, self.entries = conversations, sessions, entries
        self.long_term, self.cipher, self.kick = long_term, cipher, kick  # kick: publish a note's event now

    def reveal(self, item: dict[str, Any]) -> dict[str, Any]:
        """A recall candidate with its text (and stored metadata) decrypted: slow enough (~0.1 ms with Fernet)
        that recall does it off the event loop."""
        metadata = item["metadata"]
        if item.get("metadata_stored") and metadata is not None:
            metadata = orjson.loads(self.cipher.decrypt(metadata))
        return {**item, "text": self.cipher.decrypt(item["text"]), "metadata": metadata}

    @op()
    async def store_event(self, req: v.StoreEvent, ctx: Ctx) -> dict[str, Any]:
        agent_id = ctx.require_agent()
        appended = await self.conversations.append_message(agent_id, req.session_id, req.role, req.content)
        note: dict[str, Any] = {}
        if req.persist:
            assert req.note_key is not None  # the model requires it with persist
            written = await self.entries.write(agent_id, Write(req.namespace, req.note_key, req.content))
            self.kick()
            note = {"note_namespace": req.namespace, "note_version": written["version"]}
        return {
            "status": "stored",
            "session_id": req.session_id,
            **appended,
            "persisted": req.persist,
            "note_key": req.note_key if req.persist else None,
            **note,
        }

    @op()
    async def recall(self, req: v.Recall, ctx: Ctx) -> dict[str, Any]:
        agent_id = ctx.require_agent()
        query = set(words(req.query))
        candidates: list[tuple[str, dict[str, Any]]] = []
        if "short" in req.tiers:
            candidates += [
                ("short", i) for i in await self.sessions.recent_messages(agent_id, req.session_id)
            ]
        if "mid" in req.tiers:
            candidates += [("mid", i) for i in await self.entries.recent(agent_id, req.namespace)]
        if "long" in req.tiers:
            candidates += [
                ("long", i) for i in await self.long_term.recent_long_term(agent_id, req.namespace)
            ]
        results = await asyncio.to_thread(self.rank, query, candidates, req.k, req.min_similarity)
        return {"results": results, "count": len(results), "query": req.query}

    def rank(
        self, query: set[str], candidates: list[tuple[str, dict[str, Any]]], k: int, min_similarity: float
    ) -> list[dict[str, Any]]:
        """Decrypt and score every candidate; the best `k`, newest first among equal scores."""
        scored = []
        for tier, stored in candidates:
            item = self.reveal(stored)
            score = keyword_score(query, item["text"])
            if not query or (score > 0 and score >= min_similarity):  # with words to match, match one
                scored.append((score, tier, item))
        scored.sort(key=lambda s: (s[0], s[2]["at"]), reverse=True)
        return [
            {
                "tier": tier,
                "key": item["key"],
                "text": item["text"],
                "score": score,
                "metadata": item["metadata"],
            }
            for score, tier, item in scored[:k]
        ]

    @op()
    async def summarize(self, req: v.TieredSummarize, ctx: Ctx) -> dict[str, Any]:
        """Fold all but the newest messages (as /v1/sessions/{id}/summarize does), then summarize the whole
        session and promote that summary to the long-term tier."""
        agent_id = ctx.require_agent()
        folded = await self.conversations.fold(
            agent_id, req.session_id, lambda msgs, _: keep_newest_prefix(msgs)
        )
        snap = await self.sessions.snapshot(agent_id, req.session_id)
        if snap is None or not snap.messages:
            raise BadRequest("Session has no messages to summarize")
        summary = await self.conversations.summarize_messages(snap.messages, SUMMARY_TOKENS)
        key = long_term_key(req.session_id)
        await self.long_term.promote(
            agent_id,
            req.namespace,
            key,
            summary.text,
            {"session_id": req.session_id, "summarizer": summary.summarizer},
        )
        return {
            "status": "summarized",
            "session_id": req.session_id,
            "original_message_count": folded.original_message_count,
            "new_message_count": folded.message_count,
            "token_count": folded.token_count,
            "summary_text": summary.text,
            "promoted": True,
            "vector_key": key,
            "vector_namespace": req.namespace,
            **describe(summary),
        }
