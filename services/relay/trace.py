"""Where a message has been: its status, every hop with its time, and dead letters (the /v1/messages
routes). Hops come from three places, read together by the message store: the message row (accepted,
stored, read), hops gateways report (pushed to the recipient's sockets) and the webhook delivery log (every
attempt). This module only shapes them."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from shared.timeutil import iso

Row = Mapping[str, Any]


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


def hops(msg: Row, reported: Sequence[Row], attempts: Sequence[Row], viewer: str) -> list[dict[str, Any]]:
    """Every hop, oldest first. Webhook attempts show their status code and latency to both parties; the
    error text (which may name the recipient's receiver) only to the recipient."""
    mid = msg["message_id"]
    out = [
        _hop(mid, "accepted", "accepted", msg["accepted_at"]),
        _hop(mid, "stored", "stored", msg["created_at"], channel=msg["channel"]),
    ]
    for r in reported:
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
    recipient = viewer == msg["to_agent"]
    for r in attempts:
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


def status(msg: Row, trail: list[dict[str, Any]]) -> dict[str, Any]:
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


def dead_letter(r: Row) -> dict[str, Any]:
    return {
        "dl_id": r["delivery_id"],
        "message_id": r["message_id"],
        "to_agent": r["to_agent"],
        "channel": r["channel"],
        "fail_reason": fail_reason(r["attempts"], r["last_status_code"]),
        "created_at": iso(r["failed_at"]),
    }
