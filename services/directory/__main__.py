"""python -m services.directory"""

from __future__ import annotations

from pathlib import Path

from services.directory.admin import DirectoryAdmin
from services.directory.credits import LedgerBalances
from services.directory.discovery import DiscoveryHandlers
from services.directory.discovery_store import DiscoveryStore
from services.directory.handlers import DirectoryHandlers
from services.directory.presence import Presence
from services.directory.public import PublicDirectory
from services.directory.store import DirectoryStore
from services.directory.templates import template_ops
from shared.bus import Op
from shared.config import Settings
from shared.events import OutboxPublisher, ensure_stream
from shared.purge import ensure_admin_stream
from shared.registrations import announce_registration
from shared.rotation import rotation_ops
from shared.service import Runtime, main

ENCRYPTED = {
    "directory.collaborations": (("collaboration_id",), ("task_type",)),
    "directory.presence": (("agent_id",), ("metadata",)),
}


class DirectorySettings(Settings):
    public_url: str = "http://localhost:8000"  # the API's address as agents reach it (agent cards)
    presence_timeout_seconds: float = 180.0  # an agent silent this long is offline (agent.offline)
    presence_sweep_seconds: float = 5.0  # how often each replica looks for newly silent agents


async def build(rt: Runtime) -> dict[str, Op]:
    s: DirectorySettings = rt.settings
    store = DirectoryStore(rt.pool)
    balances = LedgerBalances(rt.nc)
    admin = DirectoryAdmin(store, rt.nc, rt.js, s.service_names(), balances)
    await ensure_stream(rt.js)
    publisher = OutboxPublisher(rt.pool, rt.js, "directory", poll_interval=1.0)
    publisher.start()
    rt.on_stop(publisher.stop)
    presence = Presence(rt.pool, rt.cipher, s.presence_timeout_seconds, publisher.kick)
    rt.every(s.presence_sweep_seconds, presence.sweep, name="presence_sweep")
    discovery = DiscoveryHandlers(DiscoveryStore(rt.pool, rt.cipher), rt.nc, balances, s.public_url, presence)
    public = PublicDirectory(rt.pool, rt.cipher, rt.nc, presence)
    await ensure_admin_stream(rt.js)

    async def announce(agent_id: str) -> bool:
        return await announce_registration(rt.js, agent_id)

    return {
        **DirectoryHandlers(store, balances, rt.nc, announce, presence).ops(),
        **admin.ops(),
        **discovery.ops(),
        **presence.ops(),
        **public.ops(),
        **template_ops(),
        **rotation_ops(rt.pool, rt.cipher, ENCRYPTED),
    }


if __name__ == "__main__":
    main("directory", build, migrations=Path(__file__).parent / "migrations", settings_cls=DirectorySettings)
