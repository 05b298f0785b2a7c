"""python -m services.directory"""
from __future__ import annotations

from pathlib import Path

from shared.bus import Op
from shared.service import Runtime, main
from services.directory.admin import DirectoryAdmin
from services.directory.handlers import DirectoryHandlers
from services.directory.store import DirectoryStore


async def build(rt: Runtime) -> dict[str, Op]:
    store = DirectoryStore(rt.pool)
    admin = DirectoryAdmin(store, rt.nc, rt.js, rt.settings.service_names())
    return {**DirectoryHandlers(store).ops(), **admin.ops()}


if __name__ == "__main__":
    main("directory", build, migrations=Path(__file__).parent / "migrations")
