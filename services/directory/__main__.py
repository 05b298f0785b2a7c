"""python -m services.directory"""
from __future__ import annotations

from pathlib import Path

from shared.bus import Op
from shared.config import Settings
from shared.purge import ensure_admin_stream
from shared.registrations import announce_registration
from shared.rotation import rotation_ops
from shared.service import Runtime, main
from services.directory.admin import DirectoryAdmin
from services.directory.credits import LedgerBalances
from services.directory.discovery import DiscoveryHandlers
from services.directory.discovery_store import DiscoveryStore
from services.directory.handlers import DirectoryHandlers
from services.directory.store import DirectoryStore
from services.directory.templates import template_ops

ENCRYPTED = {"directory.collaborations": (("collaboration_id",), ("task_type",))}


class DirectorySettings(Settings):
    public_url: str = "http://localhost:8000"  # the API's address as agents reach it (agent cards)


async def build(rt: Runtime) -> dict[str, Op]:
    store = DirectoryStore(rt.pool)
    balances = LedgerBalances(rt.nc)
    admin = DirectoryAdmin(store, rt.nc, rt.js, rt.settings.service_names(), balances)
    discovery = DiscoveryHandlers(DiscoveryStore(rt.pool, rt.cipher), rt.nc, balances, rt.settings.public_url)
    await ensure_admin_stream(rt.js)

    async def announce(agent_id: str) -> bool:
        return await announce_registration(rt.js, agent_id)

    return {**DirectoryHandlers(store, balances, rt.nc, announce).ops(), **admin.ops(), **discovery.ops(),
            **template_ops(), **rotation_ops(rt.pool, rt.cipher, ENCRYPTED)}


if __name__ == "__main__":
    main("directory", build, migrations=Path(__file__).parent / "migrations", settings_cls=DirectorySettings)
