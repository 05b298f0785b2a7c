"""Memory: key-value memory, versioned and shared entries, sessions, tiered recall and vector memory (schema `memory`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from services.memory.conversation import Conversations
from services.memory.db import Db
from services.memory.handlers.admin import AdminHandlers
from services.memory.handlers.entries import EntryHandlers
from services.memory.handlers.sessions import SessionHandlers
from services.memory.handlers.shared import SharedHandlers
from services.memory.handlers.tiered import TieredHandlers
from services.memory.handlers.vectors import VectorHandlers
from services.memory.stores.entries import EntryStore, Quota
from services.memory.stores.sessions import SessionStore
from services.memory.stores.shared import SharedStore
from services.memory.stores.vectors import VectorStore
from services.memory.summarizer import Summarizer
from shared.config import Settings
from shared.service import Runtime
from shared.spec import Every, Outbox, Parts, Service


class MemorySettings(Settings):
    memory_sweep_seconds: float = 30.0  # how often expired entries are deleted (reads never return them)
    # An OpenAI-compatible chat-completions endpoint for session summaries (base URL, e.g. http://host:11434/v1);
    # without one, summaries are extractive.
    chat_url: str | None = None
    chat_model: str | None = None
    chat_api_key: SecretStr | None = None
    chat_timeout: float = 30.0

    memory_embed_timeout: float = 25.0  # seconds to wait for the embedder (its first call loads the model)

    # Quotas per agent on live private entries (0 = unbounded); a write beyond them answers 429 quota_exceeded.
    memory_max_entries: int = 10_000
    memory_max_bytes: int = 10 * 1024 * 1024


async def build(rt: Runtime[MemorySettings]) -> Parts:
    s = rt.settings
    db = Db(rt.pool)
    entries = EntryStore(db, rt.cipher, Quota(s.memory_max_entries, s.memory_max_bytes))
    shared = SharedStore(db, rt.cipher)
    sessions = SessionStore(db, rt.cipher)
    vectors = VectorStore(db, rt.cipher)
    summarizer = Summarizer(
        s.chat_url,
        s.chat_model,
        s.chat_api_key.get_secret_value() if s.chat_api_key else None,
        s.chat_timeout,
    )
    conversations = Conversations(sessions, summarizer)

    async def purge(agent_id: str) -> int:
        return (
            await entries.delete_agent(agent_id)
            + await shared.delete_agent(agent_id)
            + await sessions.delete_agent(agent_id)
            + await vectors.delete_agent(agent_id)
        )

    async def sweep_expired() -> int:
        return await entries.sweep_expired() + await shared.sweep_expired()

    return Parts(
        groups=[
            EntryHandlers(entries, rt.kick),
            SharedHandlers(shared),
            SessionHandlers(sessions, conversations),
            TieredHandlers(conversations, sessions, entries, vectors, rt.cipher, rt.kick),
            VectorHandlers(vectors, rt.nc, s.memory_embed_timeout),
            AdminHandlers(entries, shared),
        ],
        loops=[
            Every("sweep_expired", s.memory_sweep_seconds, sweep_expired),
            Every("sweep_access_log", 3600.0, entries.sweep_access_log),
        ],
        purge=purge,
    )


SERVICE = Service(
    name="memory",
    build=build,
    settings=MemorySettings,
    migrations=Path(__file__).parent / "migrations",
    outbox=Outbox(),  # memory.changed events (stores/entries.py)
    encrypted={
        "memory.entries": (("agent_id", "namespace", "key"), ("value",)),
        "memory.shared_entries": (("namespace", "key", "owner_agent"), ("value",)),
        "memory.history": (("agent_id", "namespace", "key", "version"), ("value",)),
        "memory.sessions": (("session_id",), ("title", "metadata")),
        "memory.session_messages": (("session_id", "seq"), ("content",)),
        "memory.long_term": (("agent_id", "namespace", "key"), ("text", "metadata")),
        "memory.vectors": (("agent_id", "namespace", "key"), ("text", "metadata")),
    },
)
