"""Memory: key-value memory, versioned and shared entries, sessions, tiered recall and vector memory (schema `memory`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from services.memory.admin import MemoryAdmin
from services.memory.handlers import MemoryHandlers
from services.memory.sessions import SessionHandlers
from services.memory.sessions_store import SessionStore
from services.memory.store import MemoryStore
from services.memory.summarizer import Summarizer
from services.memory.tiered import TieredHandlers
from services.memory.vector_store import VectorStore
from services.memory.vectors import VectorHandlers
from services.memory.versioned import VersionedStore
from services.memory.versioned_handlers import VersionedHandlers
from shared.config import Settings
from shared.service import Runtime
from shared.spec import Every, Parts, Service


class MemorySettings(Settings):
    memory_sweep_seconds: float = 30.0  # how often expired entries are deleted (reads never return them)
    # An OpenAI-compatible chat-completions endpoint for session summaries (base URL, e.g. http://host:11434/v1);
    # without one, summaries are extractive.
    chat_url: str | None = None
    chat_model: str | None = None
    chat_api_key: SecretStr | None = None
    chat_timeout: float = 30.0

    memory_embed_timeout: float = 25.0  # seconds to wait for the embedder (its first call loads the model)


async def build(rt: Runtime[MemorySettings]) -> Parts:
    s = rt.settings
    store = MemoryStore(rt.pool, rt.cipher)
    versioned = VersionedStore(rt.pool, rt.cipher)
    sessions_store = SessionStore(rt.pool, rt.cipher)
    summarizer = Summarizer(
        s.chat_url,
        s.chat_model,
        s.chat_api_key.get_secret_value() if s.chat_api_key else None,
        s.chat_timeout,
    )
    sessions = SessionHandlers(sessions_store, summarizer)
    vectors = VectorStore(rt.pool, rt.cipher)

    async def purge(agent_id: str) -> int:
        return (
            await store.delete_agent(agent_id)
            + await versioned.delete_agent(agent_id)
            + await sessions_store.delete_agent(agent_id)
            + await vectors.delete_agent(agent_id)
        )

    return Parts(
        groups=[
            MemoryHandlers(store).ops(),
            MemoryAdmin(store).ops(),
            VersionedHandlers(versioned).ops(),
            sessions.ops(),
            TieredHandlers(sessions, sessions_store, versioned).ops(),
            VectorHandlers(vectors, rt.nc, s.memory_embed_timeout).ops(),
        ],
        loops=[
            Every("sweep_expired", s.memory_sweep_seconds, store.sweep_expired),
            Every("sweep_access_log", 3600.0, versioned.sweep_access_log),
        ],
        purge=purge,
    )


SERVICE = Service(
    name="memory",
    build=build,
    settings=MemorySettings,
    migrations=Path(__file__).parent / "migrations",
    encrypted={
        "memory.entries": (("agent_id", "namespace", "key"), ("value",)),
        "memory.shared_entries": (("namespace", "key", "owner_agent"), ("value",)),
        # MoltGrid 1.0 memory (migrations 0003, 0004)
        "memory.history": (("agent_id", "namespace", "key", "version"), ("value",)),
        "memory.sessions": (("session_id",), ("title", "metadata")),
        "memory.session_messages": (("session_id", "seq"), ("content",)),
        "memory.long_term": (("agent_id", "namespace", "key"), ("text", "metadata")),
        "memory.vectors": (("agent_id", "namespace", "key"), ("text", "metadata")),
    },
)
