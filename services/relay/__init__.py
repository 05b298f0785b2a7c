"""Messaging: direct messages, pub/sub, webhooks with their delivery dispatcher, and the event stream (schema `relay`)."""

from __future__ import annotations

from pathlib import Path

from services.relay.handlers import RelayHandlers
from services.relay.pubsub import PubSubHandlers
from services.relay.pubsub_store import PubSubStore
from services.relay.store import RelayStore
from services.relay.webhooks import Deliverer, EventRouter
from shared.config import Settings
from shared.service import Runtime
from shared.spec import Loop, Outbox, Parts, Service


class RelaySettings(Settings):
    allow_private_webhooks: bool = False  # operators only: let webhooks reach private/loopback addresses
    webhook_retry_base_seconds: float = 5.0  # first retry delay; doubles per attempt up to 2 h (15 attempts)
    webhook_concurrency: int = 32  # deliveries in flight per relay replica


async def build(rt: Runtime[RelaySettings]) -> Parts:
    s = rt.settings
    store = RelayStore(rt.pool, rt.cipher)
    deliverer = Deliverer(
        rt.pool, rt.cipher, s.webhook_retry_base_seconds, s.allow_private_webhooks, s.webhook_concurrency
    )
    router = EventRouter(rt.pool, rt.js, deliverer.wake.set)
    await router.subscribe()
    pubsub = PubSubHandlers(PubSubStore(rt.pool, rt.cipher), rt.nc, rt.kick)
    relay = RelayHandlers(store, rt.nc, rt.js, rt.kick, s.allow_private_webhooks, deliverer)
    return Parts(
        groups=[relay.ops(), pubsub.ops()],
        loops=[Loop("webhook_router", router.run), Loop("webhook_deliverer", deliverer.run)],
        purge=store.purge_agent,
    )


SERVICE = Service(
    name="relay",
    build=build,
    settings=RelaySettings,
    migrations=Path(__file__).parent / "migrations",
    # larger batches: a pub/sub publication puts one event per subscriber in the outbox at once
    outbox=Outbox(poll_interval=0.5, batch=1000),
    encrypted={
        "relay.messages": (("message_id",), ("payload",)),
        "relay.webhooks": (("webhook_id",), ("secret",)),
    },
)
