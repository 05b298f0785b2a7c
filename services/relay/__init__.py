"""Messaging: direct messages, pub/sub, webhooks with their delivery dispatcher, and the event stream (schema `relay`)."""

from __future__ import annotations

from pathlib import Path

from services.relay.agents import KnownAgents
from services.relay.broadcast import Broadcaster
from services.relay.delivery import Deliverer, EventRouter
from services.relay.handlers.admin import StatsHandlers
from services.relay.handlers.events import EventHandlers
from services.relay.handlers.messages import MessageHandlers
from services.relay.handlers.pubsub import PubSubHandlers
from services.relay.handlers.webhooks import DeliveryHandlers, WebhookHandlers
from services.relay.stores.events import EventAckStore
from services.relay.stores.messages import MessageStore, UnreadQuota
from services.relay.stores.pubsub import PubSubStore
from services.relay.stores.webhooks import WebhookStore
from shared.config import Settings
from shared.outbound import GuardedClient
from shared.service import Runtime
from shared.spec import Every, Loop, Outbox, Parts, Service


class RelaySettings(Settings):
    allow_private_webhooks: bool = False  # operators only: let webhooks reach private/loopback addresses
    webhook_retry_base_seconds: float = 5.0  # first retry delay; doubles per attempt up to 2 h (15 attempts)
    webhook_concurrency: int = 32  # deliveries in flight per relay replica
    webhook_agent_concurrency: int = 8  # one agent's deliveries in flight at once, across all relay replicas
    webhook_timeout_seconds: float = 10.0  # one delivery attempt, connection to the receiver's answer
    webhook_max_per_agent: int = 50  # webhooks one agent may hold (0 = unbounded); beyond: 429 quota_exceeded
    # unread messages one inbox holds, and of them from one sender (0 = unbounded); beyond: 429 quota_exceeded
    inbox_max_unread: int = 10_000
    inbox_max_unread_per_sender: int = 1_000
    event_acks_max_per_agent: int = (
        10_000  # event ids acknowledged one by one kept per agent (oldest dropped)
    )
    # a publication's stored bytes: payload x matching subscribers (0 = unbounded); beyond: 413
    pubsub_max_fanout_bytes: int = 50 * 1024 * 1024


async def build(rt: Runtime[RelaySettings]) -> Parts:
    s = rt.settings
    pubsub = PubSubStore(rt.pool, rt.cipher, s.pubsub_max_fanout_bytes)
    acks = EventAckStore(rt.pool, s.event_acks_max_per_agent)
    messages = MessageStore(
        rt.pool, rt.cipher, UnreadQuota(s.inbox_max_unread, s.inbox_max_unread_per_sender), pubsub.catch_up
    )
    webhooks = WebhookStore(rt.pool, rt.cipher, s.webhook_max_per_agent)
    broadcaster = Broadcaster(pubsub, rt.nc, rt.js)
    client = GuardedClient(s.allow_private_webhooks, s.webhook_concurrency, s.webhook_timeout_seconds)
    deliverer = Deliverer(
        webhooks, client, s.webhook_retry_base_seconds, s.webhook_concurrency, s.webhook_agent_concurrency
    )
    router = EventRouter(webhooks, rt.js, deliverer.wake.set)
    await router.subscribe()

    async def purge(agent_id: str) -> int:
        """Everything the agent owns in the relay, in one transaction."""
        async with rt.pool.acquire() as conn, conn.transaction():
            return (
                await messages.purge_agent(conn, agent_id)
                + await webhooks.purge_agent(conn, agent_id)
                + await acks.purge_agent(conn, agent_id)
                + await pubsub.purge_agent(conn, agent_id)
            )

    agents = KnownAgents(rt.nc, purge)  # a deletion notice also removes what arrived after the purge
    await agents.start()
    return Parts(
        groups=[
            MessageHandlers(messages, agents, rt.nc, rt.kick),
            WebhookHandlers(webhooks, deliverer, s.allow_private_webhooks, rt.kick),
            DeliveryHandlers(webhooks, rt.kick),
            EventHandlers(acks, rt.js),
            PubSubHandlers(pubsub, agents, rt.nc, broadcaster),
            StatsHandlers(messages, webhooks),
        ],
        loops=[
            Loop("webhook_router", router.run),
            Loop("webhook_deliverer", deliverer.run),
            Every("broadcast_resend", 5.0, broadcaster.resend_due),
        ],
        purge=purge,
        on_stop=[agents.stop, broadcaster.stop],
    )


SERVICE = Service(
    name="relay",
    build=build,
    settings=RelaySettings,
    migrations=Path(__file__).parent / "migrations",
    outbox=Outbox(poll_interval=0.5, batch=1000),
    encrypted={
        "relay.messages": (("message_id",), ("payload",)),
        "relay.publications": (("publication_id",), ("payload",)),
        "relay.webhooks": (("webhook_id",), ("secret",)),
    },
)
