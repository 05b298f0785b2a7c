"""Delivering a stored publication to its subscribers without a row per subscriber: a push frame on
`push.<agent_id>` for each subscriber's sockets (core NATS, any gateway), and each subscriber's
`message.broadcast` event published straight to the EVENTS stream (the event stream and the webhook router
read it there), in concurrent batches.

The events do not go through the outbox: their ids are derived from the publication and the subscriber
(stores.pubsub.copy_ids) and published with `Nats-Msg-Id` = event id, so publishing them again is harmless
(the stream drops a duplicate). The publication row is marked `events_done` once every event is confirmed;
a relay replica that stops on the way leaves it unmarked, and `resend_due` (every relay replica, every few
seconds) publishes its events again.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from services.relay.channels import inbox_channel
from services.relay.stores.pubsub import BROADCAST, PubSubStore, copy_ids
from shared import envelope, subjects
from shared.events import EVENT_VERSION
from shared.timeutil import iso

log = structlog.get_logger("broadcast")
EVENT_BATCH = 1000  # events awaiting their stream acknowledgement at once


class Broadcaster:
    def __init__(self, store: PubSubStore, nc: NATS, js: JetStreamContext) -> None:
        self.store, self.nc, self.js = store, nc, js
        self.tasks: set[asyncio.Task[None]] = set()

    async def push(
        self, publication_id: str, sender: str, channel: str, payload: Any, created: datetime, to: list[str]
    ) -> None:
        """Every subscriber's sockets, on whichever gateway holds them."""
        stored_at = {subjects.PUSH_STORED_AT: repr(time.time())}
        at, box = iso(created), inbox_channel(channel)
        for agent_id in to:
            frame = {
                "event": BROADCAST,
                "message_id": copy_ids(publication_id, agent_id)[0],
                "publication_id": publication_id,
                "from_agent": sender,
                "to_agent": agent_id,
                "channel": channel,
                "inbox_channel": box,
                "payload": payload,
                "created_at": at,
            }
            await self.nc.publish(subjects.push(agent_id), envelope.dumps(frame), headers=stored_at)

    def events_later(
        self, publication_id: str, sender: str, channel: str, created: datetime, to: list[str]
    ) -> None:
        """Publish the events in the background (the publish request does not wait for the stream)."""
        task = asyncio.create_task(self.events(publication_id, sender, channel, created, to))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def events(
        self, publication_id: str, sender: str, channel: str, created: datetime, to: list[str]
    ) -> None:
        try:
            at = iso(created) or ""
            for i in range(0, len(to), EVENT_BATCH):
                await asyncio.gather(
                    *(self._event(publication_id, sender, channel, at, a) for a in to[i : i + EVENT_BATCH])
                )
            await self.store.events_done(publication_id)
        except Exception as exc:  # NATS or PostgreSQL away: resend_due publishes them again
            log.warning("broadcast_events_deferred", publication_id=publication_id, error=str(exc))

    async def _event(self, publication_id: str, sender: str, channel: str, at: str, agent_id: str) -> None:
        message_id, event_id = copy_ids(publication_id, agent_id)
        event = {
            "id": event_id,
            "type": BROADCAST,
            "agent_id": agent_id,
            "time": at,
            "version": EVENT_VERSION,
            "data": {
                "message_id": message_id,
                "publication_id": publication_id,
                "from_agent": sender,
                "channel": channel,
            },
        }
        await self.js.publish(
            subjects.event(agent_id, BROADCAST),
            envelope.dumps(event),
            timeout=5,
            headers={"Nats-Msg-Id": event_id},
        )

    async def resend_due(self) -> None:
        for p in await self.store.events_due(20):
            await self.events(
                p["publication_id"], p["from_agent"], p["channel"], p["created_at"], p["subscribers"]
            )

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
