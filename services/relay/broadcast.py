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
import secrets
import time
from datetime import datetime
from typing import Any

import orjson
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
ACK_TIMEOUT_S = 10.0


class Template:
    """A JSON document serialised once with named holes, filled per subscriber by joining bytes (10,000
    subscribers would otherwise mean 20,000 documents serialised): the same bytes orjson gives the whole."""

    def __init__(self, doc: dict[str, Any], holes: tuple[str, ...]) -> None:
        """`holes`: the `hole()` values placed in `doc`, in the order they appear in its JSON."""
        self.parts = [envelope.dumps(doc)]
        for marker in holes:
            head, tail = self.parts[-1].split(envelope.dumps(marker)[1:-1], 1)
            self.parts[-1:] = [head, tail]

    def render(self, *values: str) -> bytes:
        out = [self.parts[0]]
        for value, part in zip(values, self.parts[1:], strict=True):
            out.append(orjson.dumps(value)[1:-1])
            out.append(part)
        return b"".join(out)


def hole() -> str:
    """A placeholder no payload can contain (it cannot guess it)."""
    return "\x00" + secrets.token_hex(16)


class Broadcaster:
    def __init__(self, store: PubSubStore, nc: NATS, js: JetStreamContext) -> None:
        self.store, self.nc, self.js = store, nc, js
        self.tasks: set[asyncio.Task[None]] = set()

    def deliver(
        self, publication_id: str, sender: str, channel: str, payload: Any, created: datetime, to: list[str]
    ) -> None:
        """Pushes, then events, in the background: the publish request waits for neither (the publication
        is stored; resend_due covers events a stopped replica did not confirm)."""
        task = asyncio.create_task(self._deliver(publication_id, sender, channel, payload, created, to))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _deliver(
        self, publication_id: str, sender: str, channel: str, payload: Any, created: datetime, to: list[str]
    ) -> None:
        try:
            await self.push(publication_id, sender, channel, payload, created, to)
        except Exception as exc:  # NATS away: pushes are at most once, as every push
            log.warning("broadcast_push_failed", publication_id=publication_id, error=str(exc))
        await self.events(publication_id, sender, channel, created, to)

    async def push(
        self, publication_id: str, sender: str, channel: str, payload: Any, created: datetime, to: list[str]
    ) -> None:
        """Every subscriber's sockets, on whichever gateway holds them."""
        stored_at = {subjects.PUSH_STORED_AT: repr(time.time())}
        m, a = hole(), hole()
        frame = Template(
            {
                "event": BROADCAST,
                "message_id": m,
                "publication_id": publication_id,
                "from_agent": sender,
                "to_agent": a,
                "channel": channel,
                "inbox_channel": inbox_channel(channel),
                "payload": payload,
                "created_at": iso(created),
            },
            (m, a),
        )
        for agent_id in to:
            body = frame.render(copy_ids(publication_id, agent_id)[0], agent_id)
            await self.nc.publish(subjects.push(agent_id), body, headers=stored_at)

    async def events(
        self, publication_id: str, sender: str, channel: str, created: datetime, to: list[str]
    ) -> None:
        """Publish every subscriber's event (acknowledgements awaited together, EVENT_BATCH at a time), then
        mark the publication done. On failure it stays unmarked for resend_due."""
        e, a, m = hole(), hole(), hole()
        event = Template(
            {
                "id": e,
                "type": BROADCAST,
                "agent_id": a,
                "time": iso(created),
                "version": EVENT_VERSION,
                "data": {
                    "message_id": m,
                    "publication_id": publication_id,
                    "from_agent": sender,
                    "channel": channel,
                },
            },
            (e, a, m),
        )
        try:
            for i in range(0, len(to), EVENT_BATCH):
                acks = []
                for agent_id in to[i : i + EVENT_BATCH]:
                    message_id, event_id = copy_ids(publication_id, agent_id)
                    acks.append(
                        await self.js.publish_async(
                            subjects.event(agent_id, BROADCAST),
                            event.render(event_id, agent_id, message_id),
                            wait_stall=5,
                            headers={"Nats-Msg-Id": event_id},
                        )
                    )
                await asyncio.wait_for(asyncio.gather(*acks), ACK_TIMEOUT_S)
            await self.store.events_done(publication_id)
        except Exception as exc:  # NATS or PostgreSQL away: resend_due publishes them again
            log.warning(
                "broadcast_events_deferred",
                publication_id=publication_id,
                error=str(exc) or type(exc).__name__,
            )

    async def resend_due(self) -> None:
        for p in await self.store.events_due(20):
            await self.events(
                p["publication_id"], p["from_agent"], p["channel"], p["created_at"], p["subscribers"]
            )

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
