"""python -m services.relay — messages, webhooks (with their delivery dispatcher) and the event stream."""

from __future__ import annotations

from pathlib import Path

from services.relay.handlers import RelayHandlers
from services.relay.pubsub import PubSubHandlers
from services.relay.pubsub_store import PubSubStore
from services.relay.store import RelayStore
from services.relay.webhooks import Deliverer, EventRouter
from shared.bus import Op
from shared.config import Settings
from shared.events import OutboxPublisher, ensure_stream
from shared.purge import follow_agent_purges
from shared.service import Runtime, main


class RelaySettings(Settings):
    allow_private_webhooks: bool = False  # operators only: let webhooks reach private/loopback addresses
    webhook_retry_base_seconds: float = 5.0  # first retry delay; doubles per attempt up to 2 h (15 attempts)
    webhook_concurrency: int = 32  # deliveries in flight per relay replica


async def build(rt: Runtime) -> dict[str, Op]:
    s: RelaySettings = rt.settings
    store = RelayStore(rt.pool, rt.cipher)
    await ensure_stream(rt.js)
    # larger batches: a pub/sub publication puts one event per subscriber in the outbox at once
    publisher = OutboxPublisher(rt.pool, rt.js, "relay", poll_interval=0.5, batch=1000)
    publisher.start()
    rt.on_stop(publisher.stop)
    deliverer = Deliverer(
        rt.pool, rt.cipher, s.webhook_retry_base_seconds, s.allow_private_webhooks, s.webhook_concurrency
    )
    router = EventRouter(rt.pool, rt.js, deliverer.wake.set)
    await router.subscribe()
    rt.background(router.run, name="webhook_router")
    rt.background(deliverer.run, name="webhook_deliverer")
    rt.background(lambda: follow_agent_purges(rt.js, "relay", store.purge_agent), name="agent_purges")
    pubsub = PubSubHandlers(PubSubStore(rt.pool, rt.cipher), rt.nc, publisher.kick)
    return {
        **RelayHandlers(store, rt.nc, rt.js, publisher.kick, s.allow_private_webhooks, deliverer).ops(),
        **pubsub.ops(),
    }


if __name__ == "__main__":
    main("relay", build, migrations=Path(__file__).parent / "migrations", settings_cls=RelaySettings)
