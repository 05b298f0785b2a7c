"""python -m services.memory"""
from __future__ import annotations

from pathlib import Path

from shared.bus import Op
from shared.service import Runtime, main
from services.memory.handlers import MemoryHandlers
from services.memory.store import MemoryStore

SWEEP_INTERVAL_S = 30.0


async def build(rt: Runtime) -> dict[str, Op]:
    store = MemoryStore(rt.pool, rt.cipher)
    rt.every(SWEEP_INTERVAL_S, store.sweep_expired, name="sweep_expired")
    return MemoryHandlers(store).ops()


if __name__ == "__main__":
    main("memory", build, migrations=Path(__file__).parent / "migrations")
