"""Where a message has been: its status, every hop with its time, and dead letters (MoltGrid 1.0's
/v1/messages routes). Hops come from three places, read together: the message row (accepted, stored, read),
hops gateways report (pushed to the recipient's sockets) and the webhook delivery log (every attempt)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import asyncpg

from shared.timeutil import iso

MESSAGE = """
SELECT message_id, from_agent, to_agent, channel, created_at, read_at, coalesce(accepted_at, created_at) AS accepted_at,
       event_id FROM relay.messages WHERE message_id = $1 AND (from_agent = $2 OR to_agent = $2)
"""
ATTEMPTS = """
SELECT d.delivery_id, d.webhook_id, d.status AS delivery_status, a.attempted_at, a.status_code, a.latency_ms, a.error,
       row_number() OVER (PARTITION BY d.delivery_id ORDER BY a.id) AS attempt,
       count(*) OVER (PARTITION BY d.delivery_id) AS attempts
  FROM relay.deliveries d JOIN relay.delivery_attempts a ON a.delivery_id = d.delivery_id
 WHERE d.event_id = $1 ORDER BY a.attempted_at, a.id
"""
DEAD_LETTERS = """
SELECT d.delivery_id, m.message_id, m.to_agent, m.channel, d.attempts, d.last_status_code,
       coalesce((SELECT max(a.attempted_at) FROM relay.delivery_attempts a WHERE a.delivery_id = d.delivery_id),
                d.created_at) AS failed_at
  FROM relay.messages m JOIN relay.deliveries d ON d.event_id = m.event_id
 WHERE m.from_agent = $1 AND d.status = 'failed'
 ORDER BY failed_at DESC, d.delivery_id LIMIT $2
"""
RECORD_HOP = """
INSERT INTO relay.message_hops (hop_id, message_id, hop, status, detail, recorded_at)
SELECT $1, message_id, $3, $4, $5, $6 FROM relay.messages WHERE message_id = $2
ON CONFLICT (hop_id) DO NOTHING
"""


def hop_id(message_id: str, *parts: Any) -> str:
    """A stable id for a hop derived from other records (the same on every read)."""
    digest = hashlib.sha256(":".join(map(str, (message_id, *parts))).encode()).hexdigest()
    return f"hop_{digest[:16]}"


def _hop(
    message_id: str, hop: str, status: str, at: datetime, key: Any = "", **detail: Any
) -> dict[str, Any]:
    return {
        "hop_id": hop_id(message_id, hop, key),
        "hop": hop,
        "status": status,
        "recorded_at": iso(at),
        **({"detail": detail} if detail else {}),
        "_at": at,
    }


def fail_reason(attempts: int, status_code: int | None) -> str:
    """Why a webhook delivery was given up, without the receiver's URL or error text (the sender reads it)."""
    if status_code == 410:
        return "recipient's webhook answered 410 Gone (webhook disabled)"
    last = f"HTTP {status_code}" if status_code is not None else "no answer"
    return f"webhook delivery gave up after {attempts} attempts (last: {last})"


async def message(pool: asyncpg.Pool, message_id: str, viewer: str) -> asyncpg.Record | None:
    """The message, when the viewer sent or received it."""
    return await pool.fetchrow(MESSAGE, message_id, viewer)


async def hops(pool: asyncpg.Pool, msg: asyncpg.Record, viewer: str) -> list[dict[str, Any]]:
    """Every hop, oldest first. Webhook attempts show their status code and latency to both parties; the
    error text (which may name the recipient's receiver) only to the recipient."""
    mid = msg["message_id"]
    out = [
        _hop(mid, "accepted", "accepted", msg["accepted_at"]),
        _hop(mid, "stored", "stored", msg["created_at"], channel=msg["channel"]),
    ]
    for r in await pool.fetch(
        "SELECT hop_id, hop, status, detail, recorded_at FROM relay.message_hops"
        " WHERE message_id = $1 ORDER BY recorded_at, id",
        mid,
    ):
        out.append(
            {
                "hop_id": r["hop_id"],
                "hop": r["hop"],
                "status": r["status"],
                "recorded_at": iso(r["recorded_at"]),
                **({"detail": r["detail"]} if r["detail"] else {}),
                "_at": r["recorded_at"],
            }
        )
    if msg["event_id"]:
        recipient = viewer == msg["to_agent"]
        for r in await pool.fetch(ATTEMPTS, msg["event_id"]):
            ok = r["status_code"] is not None and 200 <= r["status_code"] < 300
            detail: dict[str, Any] = {
                "attempt": r["attempt"],
                "status_code": r["status_code"],
                "latency_ms": r["latency_ms"],
            }
            if recipient:
                detail.update(webhook_id=r["webhook_id"], error=r["error"])
            out.append(
                _hop(
                    mid,
                    "webhook_attempt",
                    "delivered" if ok else "failed",
                    r["attempted_at"],
                    (r["delivery_id"], r["attempt"]),
                    **detail,
                )
            )
            if r["delivery_status"] == "failed" and r["attempt"] == r["attempts"]:
                out.append(
                    _hop(
                        mid,
                        "dead_lettered",
                        "dead_lettered",
                        r["attempted_at"],
                        r["delivery_id"],
                        reason=fail_reason(r["attempts"], r["status_code"]),
                    )
                )
    if msg["read_at"]:
        out.append(_hop(mid, "read", "read", msg["read_at"]))
    # accepted and stored come first whatever the clocks say; the rest by time (stable: ties keep their order)
    out = out[:2] + sorted(out[2:], key=lambda h: h["_at"])
    for h in out:
        del h["_at"]
    return out


def status(msg: asyncpg.Record, trail: list[dict[str, Any]]) -> dict[str, Any]:
    """1.0's status fields. A stored message is `delivered` (it is in the recipient's inbox, as the send
    reply says), then `read`; pushes and webhook deliveries are dated beside."""
    first = {h["hop"]: h["recorded_at"] for h in reversed(trail)}  # each kind's first time
    webhook = next(
        (h["recorded_at"] for h in trail if h["hop"] == "webhook_attempt" and h["status"] == "delivered"),
        None,
    )
    return {
        "message_id": msg["message_id"],
        "from_agent": msg["from_agent"],
        "to_agent": msg["to_agent"],
        "channel": msg["channel"],
        "status": "read" if msg["read_at"] else "delivered",
        "created_at": iso(msg["created_at"]),
        "status_updated_at": iso(msg["read_at"] or msg["created_at"]),
        "delivered_at": iso(msg["created_at"]),
        "read_at": iso(msg["read_at"]),
        "acted_at": None,
        "pushed_at": first.get("pushed"),
        "webhook_delivered_at": webhook,
        "dead_lettered_at": first.get("dead_lettered"),
    }


async def dead_letters(pool: asyncpg.Pool, sender: str, limit: int) -> list[dict[str, Any]]:
    rows = await pool.fetch(DEAD_LETTERS, sender, limit)
    return [
        {
            "dl_id": r["delivery_id"],
            "message_id": r["message_id"],
            "to_agent": r["to_agent"],
            "channel": r["channel"],
            "fail_reason": fail_reason(r["attempts"], r["last_status_code"]),
            "created_at": iso(r["failed_at"]),
        }
        for r in rows
    ]


async def record_push(pool: asyncpg.Pool, message_id: str, gateway: str, sockets: int, at: datetime) -> None:
    """A gateway wrote the message to `sockets` WebSockets of the recipient (one hop per gateway)."""
    await pool.execute(
        RECORD_HOP,
        hop_id(message_id, "pushed", gateway),
        message_id,
        "pushed",
        "pushed",
        {"gateway": gateway, "sockets": sockets},
        at,
    )
