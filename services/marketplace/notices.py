"""The loop that delivers review ratings to the directory (reputation), from the notices the review wrote
(services.marketplace.notice_store); the directory keeps each rating_id under a unique
constraint, so a notice delivered twice (crash after recording, two replicas) counts once."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from nats.aio.client import Client as NATS

from services.marketplace.notice_store import RatingNoticeStore
from shared.bus import call
from shared.subjects import svc

log = structlog.get_logger("marketplace.notices")


class RatingNotices:
    def __init__(self, store: RatingNoticeStore, nc: NATS) -> None:
        self.store, self.nc = store, nc
        self._wake = asyncio.Event()

    def kick(self) -> None:
        """Deliver soon (call after committing a review that wrote a notice)."""
        self._wake.set()

    async def run(self, poll: float) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), poll)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.deliver()
            except Exception as exc:  # Postgres away: retry on the next pass
                log.warning("rating_notices_failed", error=str(exc))

    async def deliver(self) -> int:
        return await self.store.deliver(self._send)

    async def _send(self, notice: dict[str, Any]) -> bool:
        reply = await call(self.nc, svc("directory", "record_rating"), notice, timeout=2.0)
        if not reply.ok and reply.code != "not_found":  # directory away: keep it for the next pass
            log.warning("rating_notice_failed", rating_id=notice["rating_id"], code=reply.code)
            return False
        return True
