"""python -m services.memory"""
from __future__ import annotations

from pathlib import Path

from shared.bus import Op
from shared.config import Settings
from shared.service import Runtime, main
from shared.purge import follow_agent_purges
from services.memory.admin import MemoryAdmin
from services.memory.handlers import MemoryHandlers
from services.memory.store import MemoryStore
from services.memory.vector_store import VectorStore
from services.memory.vectors import VectorHandlers



class MemorySettings(Settings):
    memory_sweep_seconds: float = 30.0  # how often expired entries are deleted (reads never return them)
    memory_embed_timeout: float = 25.0  # seconds to wait for the embedder (its first call loads the model)


async def build(rt: Runtime) -> dict[str, Op]:
    store = MemoryStore(rt.pool, rt.cipher)
    rt.every(rt.settings.memory_sweep_seconds, store.sweep_expired, name="sweep_expired")
    vectors = VectorStore(rt.pool, rt.cipher)

    async def purge(agent_id: str) -> int:
        return await store.delete_agent(agent_id) + await vectors.delete_agent(agent_id)

    rt.background(lambda: follow_agent_purges(rt.js, "memory", purge), name="agent_purges")
    return {**MemoryHandlers(store).ops(), **MemoryAdmin(store).ops(),
            **VectorHandlers(vectors, rt.nc, rt.settings.memory_embed_timeout).ops()}


if __name__ == "__main__":
    main("memory", build, migrations=Path(__file__).parent / "migrations", settings_cls=MemorySettings)
