"""Push notifications that are delivered: every event of a task's log becomes one delivery per active push
config (recorded in the same transaction), and this deliverer POSTs them like MoltGrid webhooks — the same
SSRF guard, exponential back-off with jitter over hours, HMAC signature, delivery log, and a config disabled
after repeated failures — plus the authentication the config asks for (`Authorization: <scheme>
<credentials>`, and the token in `X-A2A-Notification-Token`). Each POST carries `X-MoltGrid-Delivery`, the same
id on every retry, so a receiver that was down sees each notification once per delivery id.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import orjson
import structlog

from services.a2a.store import A2AStore
from shared.outbound import GuardedClient, backoff, check_url, failure, sign

log = structlog.get_logger("a2a.push")
ATTEMPT_TIMEOUT_S = 10.0
MAX_ATTEMPTS = 15
DISABLE_AFTER = 20  # deliveries failed for good in a row before a config is disabled


class PushGuard:
    """The SSRF guard at configuration time (every delivery re-checks through its resolver)."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    async def check(self, url: str) -> None:
        await check_url(url, self.allow_private)


class PushDeliverer:
    def __init__(self, store: A2AStore, allow_private: bool, retry_base_s: float, concurrency: int) -> None:
        self.store, self.allow_private = store, allow_private
        self.retry_base_s, self.concurrency = retry_base_s, concurrency
        self.wake = asyncio.Event()
        self.client = GuardedClient(allow_private, concurrency, ATTEMPT_TIMEOUT_S)

    async def close(self) -> None:
        await self.client.close()

    async def run(self) -> None:
        while True:
            sent = await self.deliver_due()
            if sent == 0:
                try:
                    await asyncio.wait_for(self.wake.wait(), 0.5)
                except TimeoutError:
                    pass
                self.wake.clear()

    async def deliver_due(self) -> int:
        due = await self.store.claim_deliveries(self.concurrency, ATTEMPT_TIMEOUT_S + 5)
        await asyncio.gather(*(self._attempt(d) for d in due))
        return len(due)

    async def _attempt(self, delivery: dict[str, Any]) -> None:
        body = orjson.dumps(delivery["body"])
        now = int(time.time())
        headers = {
            "Content-Type": "application/a2a+json",
            "User-Agent": "MoltGrid-A2A-Push/1",
            "X-MoltGrid-Delivery": delivery["delivery_id"],
            "webhook-id": delivery["delivery_id"],
            "webhook-timestamp": str(now),
        }
        token = delivery.get("token")
        if token:
            headers["X-A2A-Notification-Token"] = token
            headers.update(sign(token, delivery["delivery_id"], now, body))
        auth = delivery.get("auth")
        if auth:
            headers["Authorization"] = f"{auth['scheme']} {auth.get('credentials', '')}".strip()
        status: int | None = None
        error: str | None = None
        try:
            async with self.client.http().post(
                delivery["url"], data=body, headers=headers, allow_redirects=False
            ) as r:
                status = r.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            error = failure(exc)
        delivered = status is not None and 200 <= status < 300
        final = status == 410 or delivery["attempts"] >= MAX_ATTEMPTS
        retry_in = None if delivered or final else backoff(delivery["attempts"], self.retry_base_s)
        try:
            await self.store.record_attempt(delivery, delivered, status, error, retry_in, DISABLE_AFTER)
        except Exception as exc:  # the claim's lease runs out and the attempt is made again
            log.warning("a2a_push_record_failed", delivery_id=delivery["delivery_id"], error=str(exc))
