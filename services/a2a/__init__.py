"""A2A 1.0 for every hosted agent: durable tasks with their history and event log, push notifications that are
retried until delivered, and agent cards (schema `a2a`). The protocol bindings (JSON-RPC and HTTP+JSON, SSE
streams) are the gateway's; this service owns the state. See docs/a2a.md."""

from __future__ import annotations

from pathlib import Path

from services.a2a.cards import CardOps, CardSigner
from services.a2a.external import CardFetcher, ExternalOps
from services.a2a.hosted import HostedOps
from services.a2a.hub import HubOps
from services.a2a.peers import Peers
from services.a2a.push import PushDeliverer, PushGuard
from services.a2a.store import A2AStore
from services.a2a.tasks import TaskOps
from shared.config import Settings
from shared.service import Runtime
from shared.spec import Every, Loop, Outbox, Parts, Service


class A2ASettings(Settings):
    public_url: str = (
        "http://localhost:8000"  # the API's address as agents reach it (cards), when a request names none
    )
    a2a_card_signing_key: Path | None = (
        None  # PEM Ed25519 / EC P-256 private key: cards carry a JWS signature
    )
    a2a_push_retry_base_seconds: float = (
        5.0  # first push retry delay; doubles per attempt up to 2 h (15 attempts)
    )
    a2a_push_concurrency: int = 16  # push deliveries in flight per replica
    a2a_card_refresh_seconds: float = 3600.0  # how often outside agents' cards are fetched again
    allow_private_webhooks: bool = False  # operators only: push URLs may reach private/loopback addresses


async def build(rt: Runtime[A2ASettings]) -> Parts:
    s = rt.settings
    store = A2AStore(rt.pool, rt.cipher)
    peers = Peers(rt.nc)
    deliverer = PushDeliverer(
        store, s.allow_private_webhooks, s.a2a_push_retry_base_seconds, s.a2a_push_concurrency
    )

    def committed() -> None:
        rt.kick()
        deliverer.wake.set()

    hosted = HostedOps(store, rt.nc, committed)
    fetcher = CardFetcher(s.allow_private_webhooks)
    external = ExternalOps(store, fetcher, rt.nc, s.public_url, s.a2a_card_refresh_seconds)
    return Parts(
        groups=[
            TaskOps(store, peers, PushGuard(s.allow_private_webhooks), rt.nc, committed),
            hosted,
            CardOps(peers, CardSigner(s.a2a_card_signing_key), s.public_url),
            HubOps(rt.nc, s.public_url),
            external,
        ],
        loops=[
            Loop("push_deliverer", deliverer.run),
            Every("input_timeouts", 5.0, hosted.expire_waits),
            Every("external_cards", min(60.0, s.a2a_card_refresh_seconds), external.refresh),
        ],
        purge=store.purge_agent,
        on_stop=[deliverer.close, fetcher.close],
    )


SERVICE = Service(
    name="a2a",
    build=build,
    settings=A2ASettings,
    migrations=Path(__file__).parent / "migrations",
    encrypted={
        "a2a.tasks": (("task_id",), ("status", "artifacts", "metadata")),
        "a2a.history": (("task_id", "seq"), ("message",)),
        "a2a.events": (("task_id", "seq"), ("body",)),
        "a2a.push_configs": (("task_id", "config_id"), ("token", "auth")),
    },
    outbox=Outbox(poll_interval=0.5),
)
