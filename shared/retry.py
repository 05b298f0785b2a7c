"""Retrying start-up calls until the server they need is there (NATS, PostgreSQL, a JetStream leader)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

T = TypeVar("T")
log = structlog.get_logger("retry")


async def until_available(
    fn: Callable[[], Awaitable[T]],
    retry_on: tuple[type[BaseException], ...],
    what: str,
    first_delay: float = 0.2,
    max_delay: float = 3.0,
) -> T:
    """Call fn until it stops raising one of `retry_on`, with exponential backoff; log each failure."""
    delay = first_delay
    while True:
        try:
            return await fn()
        except retry_on as exc:
            log.warning("retrying", what=what, error=str(exc) or type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)
