"""The fan-out notices the directory sends after a key rotation or an agent deletion has committed
(`bus.directory.key_revoked`, `bus.directory.agent_deleted`; plain NATS, every gateway gets a copy): the
gateways drop the agent's cached keys and close its live connections.

Each notice is flushed to NATS before the request is answered, so a caller holding the answer knows every
connected gateway has been told. While the directory's connection is reconnecting, nats-py keeps the notice
in its pending buffer and sends it on reconnect; a gateway that was itself disconnected clears its whole key
cache when it reconnects (gateway/auth.py), so it cannot keep a revoked key either way."""

from __future__ import annotations

import orjson
import structlog
from nats.aio.client import Client as NATS

from shared import subjects

log = structlog.get_logger("directory.notices")
FLUSH_TIMEOUT = 2  # seconds


async def notify(nc: NATS, subject: str, agent_id: str) -> None:
    await nc.publish(subject, orjson.dumps({"agent_id": agent_id}))
    try:
        await nc.flush(timeout=FLUSH_TIMEOUT)
    except Exception as exc:  # buffered: sent when the connection is back
        log.warning("notice_flush_failed", subject=subject, agent_id=agent_id, error_type=type(exc).__name__)


async def key_revoked(nc: NATS, agent_id: str) -> None:
    await notify(nc, subjects.KEY_REVOKED, agent_id)


async def agent_deleted(nc: NATS, agent_id: str) -> None:
    await notify(nc, subjects.AGENT_DELETED, agent_id)
