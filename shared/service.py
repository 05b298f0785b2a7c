"""The one shape of every service process: settings → logging → Postgres (migrated) → NATS → serve ops.
A service without tables (the embedder) passes database=False and opens no pool at all.

Shutdown (SIGINT/SIGTERM) runs in reverse: stop intake and answer in-flight requests, stop background
loops, drain and close NATS, then close the pool.
"""

from __future__ import annotations

import asyncio
import runpy
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import nats
import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from shared import tracing
from shared.bus import Op, serve
from shared.config import Settings
from shared.crypto import Cipher
from shared.db import create_pool, migrate
from shared.logging import configure_logging
from shared.retry import until_available

S = TypeVar("S", bound=Settings)
log = structlog.get_logger("service")


async def connect_nats(settings: Settings, name: str) -> NATS:
    """Connect, retrying until NATS is reachable; later outages are handled by reconnects."""
    return await until_available(
        lambda: nats.connect(
            settings.nats_servers,
            name=name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            connect_timeout=2,
            ping_interval=10,
            max_outstanding_pings=3,
            drain_timeout=5,
        ),
        (Exception,),
        "nats connect",
    )


async def open_pool(stack: AsyncExitStack, settings: Settings, **kw: Any) -> asyncpg.Pool:
    return await until_available(
        lambda: stack.enter_async_context(create_pool(settings, **kw)),
        (OSError, asyncpg.PostgresError, asyncio.TimeoutError),
        "postgres connect",
    )


@dataclass
class Runtime:
    """What a service's `build` function gets: its settings and connections."""

    name: str
    settings: Any
    nc: NATS
    js: JetStreamContext
    db: asyncpg.Pool | None  # None for a service started with database=False
    cipher: Cipher
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def pool(self) -> asyncpg.Pool:
        if self.db is None:
            raise RuntimeError(f"{self.name} runs without a database (database=False)")
        return self.db

    def every(self, seconds: float, fn: Callable[[], Awaitable[Any]], name: str) -> None:
        """Run fn periodically until shutdown; failures are logged and retried next period."""

        async def loop() -> None:
            while True:
                await asyncio.sleep(seconds)
                try:
                    await fn()
                except Exception as exc:
                    log.warning("periodic_failed", task=name, error=str(exc))

        self._tasks.append(asyncio.create_task(loop(), name=name))

    def background(self, fn: Callable[[], Awaitable[None]], name: str) -> None:
        """Run a long-lived loop until shutdown. A loop that fails (PostgreSQL restarting under it, say) is
        logged and started again after a backoff, so no consumer silently stops for the process's lifetime."""

        async def supervised() -> None:
            delay = 0.2
            while True:
                started = time.monotonic()
                try:
                    await fn()
                    return
                except Exception as exc:
                    log.warning("background_failed", task=name, error=str(exc) or type(exc).__name__)
                if time.monotonic() - started > 30:  # it ran a good while: a fresh failure, not a crash loop
                    delay = 0.2
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

        self._tasks.append(asyncio.create_task(supervised(), name=name))

    def on_stop(self, fn: Callable[[], Awaitable[None]]) -> None:
        self._closers.append(fn)

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:  # bounded: a loop that swallows its cancellation must not block shutdown
            _, stuck = await asyncio.wait(self._tasks, timeout=3)
            for task in stuck:
                log.warning("background_task_ignored_cancel", task=task.get_name())
        for fn in reversed(self._closers):
            try:
                await asyncio.wait_for(fn(), 10)
            except Exception as exc:
                log.warning("stop_hook_failed", error=str(exc) or type(exc).__name__)


Build = Callable[[Runtime], Awaitable[Mapping[str, Op]]]


@dataclass(frozen=True)
class ServiceSpec:
    """What `main` is given by a service's __main__.py: enough to run it alone or beside others."""

    name: str
    build: Build
    migrations: Path | None
    settings_cls: type[Settings] = Settings
    schema: str | None = None
    database: bool = True


async def run_service(
    name: str,
    build: Build,
    *,
    migrations: Path | None,
    settings_cls: type[Settings] = Settings,
    schema: str | None = None,
    database: bool = True,
    stop: asyncio.Event | None = None,
    instance: str | None = None,
) -> None:
    """Run one service until SIGINT/SIGTERM, or until `stop` is set when a host runs several in one process
    (the host then owns the signals; `instance` names this service's replica, e.g. memory-0). `database=False`:
    a service that stores nothing (the embedder) opens no pool."""
    settings = settings_cls()
    configure_logging(settings, service=name)
    tracing.setup(name)
    loop = asyncio.get_running_loop()
    if stop is None:
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGUSR1, dump_tasks)
    async with AsyncExitStack() as stack:
        pool = await open_pool(stack, settings) if database else None  # closed last
        if pool is not None and migrations is not None:
            await migrate(pool, schema or name, migrations)
        nc = await connect_nats(settings, name)
        stack.push_async_callback(nc.drain)
        rt = Runtime(name, settings, nc, nc.jetstream(), pool, Cipher.from_settings(settings))
        ops = await build(rt)
        stack.push_async_callback(rt.aclose)
        served = await serve(nc, name, ops, settings.max_inflight, instance=instance)
        stack.push_async_callback(served.stop)  # runs first: finish in-flight replies
        log.info("service_started", ops=sorted(ops))
        await stop.wait()
        log.info("service_stopping")
        stopping_at = time.monotonic()
    log.info("service_stopped", seconds=round(time.monotonic() - stopping_at, 3))
    tracing.shutdown()


def dump_tasks() -> None:
    """SIGUSR1: log where every asyncio task is waiting (for diagnosing a stuck process)."""
    import io

    for task in asyncio.all_tasks():
        out = io.StringIO()
        task.print_stack(limit=8, file=out)
        log.warning("task_stack", task=task.get_name(), stack=out.getvalue())


_collected: list[ServiceSpec] | None = None  # set while load_spec imports a service's __main__


def main(
    name: str,
    build: Build,
    *,
    migrations: Path | None,
    settings_cls: type[Settings] = Settings,
    schema: str | None = None,
    database: bool = True,
) -> None:
    """Entry point used by each `python -m services.<name>` (or, under load_spec, only recorded)."""
    if _collected is not None:
        _collected.append(ServiceSpec(name, build, migrations, settings_cls, schema, database))
        return
    run_loop(
        run_service(
            name, build, migrations=migrations, settings_cls=settings_cls, schema=schema, database=database
        )
    )


def run_loop(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def load_spec(service: str) -> ServiceSpec:
    """Run services/<service>/__main__.py as `python -m` would, except that its call to `main` is recorded
    instead of served: the shared-process host (shared.runtime.host) runs several services this way, with
    exactly the build, migrations and settings each runs with alone."""
    global _collected
    _collected = []
    try:
        runpy.run_module(f"services.{service}", run_name="__main__", alter_sys=True)
        found = _collected
    finally:
        _collected = None
    if len(found) != 1:
        raise RuntimeError(f"services/{service}/__main__.py called shared.service.main {len(found)} times")
    return found[0]
