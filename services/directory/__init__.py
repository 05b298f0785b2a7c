"""The directory: agents and their keys, profiles, discovery, presence, reputation (schema `directory`)."""

from __future__ import annotations

from pathlib import Path

from services.directory.admin import DirectoryAdmin
from services.directory.credits import LedgerBalances
from services.directory.discovery import DiscoveryHandlers
from services.directory.discovery_store import DiscoveryStore
from services.directory.handlers import DirectoryHandlers
from services.directory.presence import Presence
from services.directory.public import PublicDirectory
from services.directory.requests import RequestCounts, RequestCountStore
from services.directory.store import DirectoryStore
from services.directory.templates import template_ops
from shared.config import Settings
from shared.registrations import announce_registration
from shared.service import Runtime
from shared.spec import Every, Outbox, Parts, Service


class DirectorySettings(Settings):
    public_url: str = "http://localhost:8000"  # the API's address as agents reach it (agent cards)
    presence_timeout_seconds: float = 180.0  # an agent silent this long is offline (agent.offline)
    presence_sweep_seconds: float = 5.0  # how often each replica looks for newly silent agents


async def build(rt: Runtime[DirectorySettings]) -> Parts:
    s = rt.settings
    store = DirectoryStore(rt.pool)
    balances = LedgerBalances(rt.nc)
    admin = DirectoryAdmin(store, rt.nc, rt.js, s.service_names(), balances)
    presence = Presence(rt.pool, rt.cipher, s.presence_timeout_seconds, rt.kick)
    discovery = DiscoveryHandlers(DiscoveryStore(rt.pool, rt.cipher), rt.nc, balances, s.public_url, presence)
    requests = RequestCountStore(rt.pool)
    public = PublicDirectory(rt.pool, rt.cipher, rt.nc, presence, requests)

    async def announce(agent_id: str) -> bool:
        return await announce_registration(rt.js, agent_id)

    return Parts(
        groups=[
            DirectoryHandlers(store, balances, rt.nc, announce, presence).ops(),
            admin.ops(),
            discovery.ops(),
            presence.ops(),
            public.ops(),
            template_ops(),
            RequestCounts(requests).ops(),
        ],
        loops=[Every("presence_sweep", s.presence_sweep_seconds, presence.sweep)],
    )


SERVICE = Service(
    name="directory",
    build=build,
    settings=DirectorySettings,
    migrations=Path(__file__).parent / "migrations",
    encrypted={
        "directory.collaborations": (("collaboration_id",), ("task_type",)),
        "directory.presence": (("agent_id",), ("metadata",)),
    },
    outbox=Outbox(),
)
