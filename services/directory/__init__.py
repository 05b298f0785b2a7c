"""The directory: agents and their keys, profiles, finding agents, reputation, presence, the public
directory and templates (schema `directory`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from services.directory.handlers.admin import AdminOps
from services.directory.handlers.agents import AgentOps
from services.directory.handlers.presence import PresenceOps
from services.directory.handlers.profiles import ProfileOps
from services.directory.handlers.public import PublicOps
from services.directory.handlers.reputation import ReputationOps
from services.directory.handlers.requests import RequestCountOps
from services.directory.handlers.search import SearchOps
from services.directory.handlers.stats import StatsOps
from services.directory.handlers.templates import TemplateOps
from services.directory.peers import Peers
from services.directory.store.agents import AgentStore
from services.directory.store.presence import PresenceStore
from services.directory.store.profiles import ProfileStore
from services.directory.store.reputation import ReputationStore
from services.directory.store.requests import RequestCountStore
from shared.config import Settings
from shared.service import Runtime
from shared.spec import Every, Outbox, Parts, Service


class DirectorySettings(Settings):
    public_url: str = "http://localhost:8000"  # the API's address as agents reach it (agent cards)
    presence_timeout_seconds: float = 180.0  # an agent silent this long is offline (agent.offline)
    presence_sweep_seconds: float = 5.0  # how often each replica looks for newly silent agents
    # registrations per client network (IPv4 address, IPv6 /64) per hour (0 = unlimited); beyond: 429
    registrations_per_network_per_hour: int = 10
    # when set, POST /v1/register needs it in the X-Invite-Key header (403 otherwise)
    registration_invite_key: SecretStr | None = None
    # ratings between agents registered from the same network count toward reputation (off: they are kept but
    # not counted; see docs/marketplace.md "Sybils")
    same_network_counts: bool = False


async def build(rt: Runtime[DirectorySettings]) -> Parts:
    s = rt.settings
    agents = AgentStore(rt.pool)
    profiles = ProfileStore(rt.pool)
    reputation = ReputationStore(rt.pool, rt.cipher, s.same_network_counts)
    presence = PresenceStore(rt.pool, rt.cipher, s.presence_timeout_seconds)
    peers = Peers(rt.nc)
    heartbeats = PresenceOps(presence, rt.kick)
    requests = RequestCountStore(rt.pool)
    return Parts(
        groups=[
            AgentOps(
                agents,
                rt.nc,
                rt.kick,
                s.registrations_per_network_per_hour,
                s.registration_invite_key.get_secret_value() if s.registration_invite_key else None,
            ),
            ProfileOps(agents, profiles, presence, peers, rt.nc),
            SearchOps(profiles, presence, peers, s.public_url),
            ReputationOps(reputation),
            StatsOps(reputation, peers, requests, rt.nc),
            heartbeats,
            PublicOps(profiles, reputation, presence, peers, requests),
            RequestCountOps(requests),
            TemplateOps(),
            AdminOps(agents, reputation, peers, rt.nc, rt.js, s.service_names()),
        ],
        loops=[Every("presence_sweep", s.presence_sweep_seconds, heartbeats.sweep)],
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
