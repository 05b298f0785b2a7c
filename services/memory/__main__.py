"""python -m services.memory"""

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
from shared.bus import Op
from shared.config import Settings
from shared.purge import follow_agent_purges
from shared.service import Runtime, main


class MemorySettings(Settings):
    memory_sweep_seconds: float = 30.0  # how often expired entries are deleted (reads never return them)
    # An OpenAI-compatible chat-completions endpoint for session summaries (base URL, e.g. http://host:11434/v1);
    # without one, summaries are extractive.
    chat_url: str | None = None
    chat_model: str | None = None
    chat_api_key: SecretStr | None = None
    chat_timeout: float = 30.0

    memory_embed_timeout: float = 25.0  # seconds to wait for the embedder (its first call loads the model)


async def build(rt: Runtime) -> dict[str, Op]:
    settings: MemorySettings = rt.settings  # type: ignore[assignment]
    store = MemoryStore(rt.pool, rt.cipher)
    versioned = VersionedStore(rt.pool, rt.cipher)
    sessions_store = SessionStore(rt.pool, rt.cipher)
    summarizer = Summarizer(
        settings.chat_url,
        settings.chat_model,
        settings.chat_api_key.get_secret_value() if settings.chat_api_key else None,
        settings.chat_timeout,
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

    rt.every(rt.settings.memory_sweep_seconds, store.sweep_expired, name="sweep_expired")
    rt.every(3600.0, versioned.sweep_access_log, name="sweep_access_log")
    rt.background(lambda: follow_agent_purges(rt.js, "memory", purge), name="agent_purges")
    return {
        **MemoryHandlers(store).ops(),
        **MemoryAdmin(store).ops(),
        **VersionedHandlers(versioned).ops(),
        **sessions.ops(),
        **TieredHandlers(sessions, sessions_store, versioned).ops(),
        **VectorHandlers(vectors, rt.nc, rt.settings.memory_embed_timeout).ops(),
    }


if __name__ == "__main__":
    main("memory", build, migrations=Path(__file__).parent / "migrations", settings_cls=MemorySettings)
