"""python -m gateway — the HTTP edge: auth, rate limit, and forwarding over NATS."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import structlog
from aiohttp import web

from gateway.admin import sweep_sessions
from gateway.app import create_app
from gateway.auth import Authenticator
from gateway.config import GatewaySettings
from gateway.idempotency import Idempotency
from gateway.live import HELD, HUB, Held, PushHub
from gateway.ratelimit import RateLimiter
from gateway.state import AUTH, IDEMPOTENCY, LIMITER, NC, POOL, USAGE
from gateway.usage import Usage
from shared import metrics, tracing
from shared.db import migrate
from shared.logging import configure_logging
from shared.service import connect_nats, open_pool

MIGRATIONS = Path(__file__).parent / "migrations"
log = structlog.get_logger("gateway")


async def run() -> None:
    settings = GatewaySettings()
    configure_logging(settings, service="gateway")
    tracing.setup("gateway")
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with AsyncExitStack() as stack:
        pool = await open_pool(stack, settings)
        await migrate(pool, "gateway", MIGRATIONS)
        nc = await connect_nats(settings, "gateway")
        stack.push_async_callback(nc.drain)
        app = create_app(settings)
        app[NC], app[POOL] = nc, pool
        app[AUTH] = Authenticator(nc, settings.auth_cache_ttl, settings.request_timeout)
        await app[AUTH].start()
        app[LIMITER] = RateLimiter(pool, settings.rate_limit_per_minute)
        app[IDEMPOTENCY] = Idempotency(pool)
        app[HUB] = PushHub(nc)
        app[HELD] = Held()
        app[AUTH].on_revoked(app[HELD].close_agent)
        await metrics.answer_scrapes(nc)  # this replica's own metrics in every GET /metrics
        app[USAGE] = Usage(nc, settings.request_timeout)
        stack.callback(asyncio.create_task(app[USAGE].run()).cancel)
        stack.push_async_callback(app[USAGE].flush)  # runs after the HTTP side stopped (LIFO)
        for task in (_every(600, app[IDEMPOTENCY].sweep), _every(600, lambda: sweep_sessions(pool))):
            stack.callback(asyncio.create_task(task).cancel)
        # bodies are decoded by the decode_body middleware, which answers unknown encodings in JSON
        runner = web.AppRunner(app, access_log=None, handle_signals=False, auto_decompress=False)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        # reuse_port: several gateway replicas may share one port; the kernel spreads connections.
        await web.TCPSite(runner, settings.host, settings.port, reuse_port=True).start()
        log.info("gateway_started", host=settings.host, port=settings.port)
        await stop.wait()
        log.info("gateway_stopping")
        stopping_at = time.monotonic()
    log.info("gateway_stopped", seconds=round(time.monotonic() - stopping_at, 3))
    tracing.shutdown()


async def _every(seconds: float, fn: Callable[[], Awaitable[None]]) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await fn()
        except Exception as exc:
            log.warning("periodic_failed", error=str(exc))


def main() -> None:
    try:
        import uvloop

        uvloop.run(run())
    except ImportError:
        asyncio.run(run())


if __name__ == "__main__":
    main()
