"""The runtime every service (and the gateway) runs in: settings → logging → Postgres (migrated) → NATS →
outbox → build → serve (operations over NATS, and an HTTP app when the build has one). It wires what a service's declaration (shared.spec.Service) asks for, so no service wires purges,
rotation, outbox publishing or loops by hand. A service without migrations (the embedder) opens no pool.

Shutdown (SIGINT/SIGTERM) runs in reverse: stop intake and answer in-flight requests, stop background
loops, drain and close NATS, then close the pool.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import asyncpg
import nats
import structlog
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from shared import metrics, tracing
from shared.bus import Ctx, Op, serve
from shared.config import Settings, inbox_prefix
from shared.crypto import Cipher
from shared.db import create_pool, migrate
from shared.events import OutboxPublisher, ensure_stream
from shared.logging import configure_logging
from shared.models import AgentId, Request
from shared.ops import OpGroup, merge_ops
from shared.purge import ensure_admin_stream, follow_agent_purges
from shared.registrations import follow_registrations
from shared.retry import until_available
from shared.rotation import rotation_ops
from shared.spec import Every, Http, Loop, Service

S = TypeVar("S", bound=Settings)
log = structlog.get_logger("service")


async def connect_nats(settings: Settings, name: str) -> NATS:
    """Connect, retrying until NATS is reachable; later outages are handled by reconnects. The credentials
    are the URL's (nats://user:password@host:port)."""
    return await until_available(
        lambda: nats.connect(
            settings.nats_servers,
            name=name,
            inbox_prefix=inbox_prefix(settings.nats_servers),
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


async def open_pool(
    stack: AsyncExitStack, settings: Settings, service: str | None = None, **kw: Any
) -> asyncpg.Pool:
    """The service's pool, with its own database role: MOLTGRID_<SERVICE>_DATABASE_URL when set (a shared
    host runs several services, each with its role), else MOLTGRID_DATABASE_URL."""
    own = os.environ.get(f"MOLTGRID_{service.upper()}_DATABASE_URL") if service else None
    if own:
        settings = settings.model_copy(update={"database_url": own})
    return await until_available(
        lambda: stack.enter_async_context(create_pool(settings, **kw)),
        (OSError, asyncpg.PostgresError, asyncio.TimeoutError),
        "postgres connect",
    )


@dataclass
class Runtime(Generic[S]):
    """What a service's `build` gets: its settings and connections, and its outbox publisher when the spec
    declares one."""

    name: str
    settings: S
    nc: NATS
    js: JetStreamContext
    db: asyncpg.Pool | None  # None for a service without migrations (the embedder)
    cipher: Cipher
    outbox: OutboxPublisher | None = None
    http: Http | None = None  # set by `wire` from the build's Parts
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def pool(self) -> asyncpg.Pool:
        if self.db is None:
            raise RuntimeError(f"{self.name} runs without a database (its spec has no migrations)")
        return self.db

    def kick(self) -> None:
        """Publish outbox events now (call after committing a transaction that added some)."""
        if self.outbox is not None:
            self.outbox.kick()

    def start(self, duty: Every | Loop) -> None:
        """Run a declared loop until shutdown."""
        runner = _periodic(duty) if isinstance(duty, Every) else _supervised(duty)
        self._tasks.append(asyncio.create_task(runner, name=duty.name))

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


async def _periodic(duty: Every) -> None:
    while True:
        await asyncio.sleep(duty.seconds)
        try:
            await duty.run()
        except Exception as exc:
            log.warning("periodic_failed", task=duty.name, error=str(exc))


async def _supervised(duty: Loop) -> None:
    """A loop that fails is logged and started again after a back-off, so no consumer silently stops for
    the process's lifetime."""
    delay = 0.2
    while True:
        started = time.monotonic()
        try:
            await duty.run()
            return
        except Exception as exc:
            log.warning("background_failed", task=duty.name, error=str(exc) or type(exc).__name__)
        if time.monotonic() - started > 30:  # it ran a good while: a fresh failure, not a crash loop
            delay = 0.2
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)


class AgentRef(Request):
    agent_id: AgentId


async def wire(spec: Service[Any], rt: Runtime[Any]) -> dict[str, Op]:
    """Build the service and add what its declaration asks for: key rotation, agent purge (an admin-only
    operation and the durable purge command), the registration follower, and its loops."""
    parts = await spec.build(rt)
    groups = [group.ops() if isinstance(group, OpGroup) else dict(group) for group in parts.groups]
    if spec.encrypted:
        groups.append(rotation_ops(rt.pool, rt.cipher, spec.encrypted))
    purge = parts.purge
    if purge is not None:

        async def purge_agent(req: AgentRef, ctx: Ctx) -> dict[str, Any]:
            return {"agent_id": req.agent_id, "deleted": await purge(req.agent_id)}

        groups.append({"purge_agent": Op(purge_agent, AgentRef, admin=True)})
        rt.start(Loop("agent_purges", lambda: follow_agent_purges(rt.js, spec.name, purge)))
    on_registered = parts.on_registered
    if on_registered is not None:
        rt.start(Loop("registrations", lambda: follow_registrations(rt.js, spec.name, on_registered)))
    for duty in parts.loops:
        rt.start(duty)
    for fn in parts.on_stop:
        rt.on_stop(fn)
    rt.http = parts.http
    return merge_ops(*groups)


async def run_service(
    spec: Service[Any], *, stop: asyncio.Event | None = None, instance: str | None = None
) -> None:
    """Run one service until SIGINT/SIGTERM, or until `stop` is set when a host runs several in one process
    (the host then owns the signals; `instance` names this service's replica, e.g. memory-0)."""
    settings = spec.settings()
    configure_logging(settings, service=spec.name)
    tracing.setup(spec.name)
    loop = asyncio.get_running_loop()
    if stop is None:
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGUSR1, dump_tasks)
    async with AsyncExitStack() as stack:
        pool = (
            await open_pool(stack, settings, spec.name) if spec.migrations is not None else None
        )  # closed last
        if pool is not None and spec.migrations is not None:
            await migrate(pool, spec.schema_name, spec.migrations)
        nc = await connect_nats(settings, spec.name)
        stack.push_async_callback(nc.drain)
        rt: Runtime[Any] = Runtime(
            spec.name, settings, nc, nc.jetstream(), pool, Cipher.from_settings(settings)
        )
        stack.push_async_callback(rt.aclose)
        await ensure_stream(
            rt.js, settings.jetstream_replicas
        )  # EVENTS and ADMIN exist before anything uses them
        await ensure_admin_stream(rt.js, settings.jetstream_replicas)
        if spec.outbox is not None:
            rt.outbox = OutboxPublisher(
                rt.pool, rt.js, spec.schema_name, spec.outbox.poll_interval, spec.outbox.batch
            )
            rt.outbox.start()
            rt.on_stop(rt.outbox.stop)
        ops = await wire(spec, rt)
        if ops:
            ready = (lambda: pool.fetchval("SELECT 1")) if pool is not None else None
            served = await serve(nc, spec.name, ops, settings.max_inflight, instance=instance, ready=ready)
            stack.push_async_callback(served.stop)  # runs first: finish in-flight replies
        else:  # no operations (the gateway): still one of the processes GET /metrics merges
            await metrics.answer_scrapes(nc)
        if rt.http is not None:
            await _serve_http(stack, rt.http)
        log.info("service_started", ops=sorted(ops))
        await stop.wait()
        log.info("service_stopping")
        stopping_at = time.monotonic()
    log.info("service_stopped", seconds=round(time.monotonic() - stopping_at, 3))
    tracing.shutdown()


async def _serve_http(stack: AsyncExitStack, http: Http) -> None:
    """Serve `http.app` until shutdown; its cleanup is pushed last, so it runs first."""
    from aiohttp import web

    runner = web.AppRunner(http.app, handle_signals=False, **dict(http.options))
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    await web.TCPSite(runner, http.host, http.port, reuse_port=http.reuse_port).start()
    log.info("http_started", host=http.host, port=http.port)


def dump_tasks() -> None:
    """SIGUSR1: log where every asyncio task is waiting (for diagnosing a stuck process)."""
    import io

    for task in asyncio.all_tasks():
        out = io.StringIO()
        task.print_stack(limit=8, file=out)
        log.warning("task_stack", task=task.get_name(), stack=out.getvalue())


def run_loop(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def load_spec(service: str) -> Service[Any]:
    """The declaration `services/<service>/__init__.py` exports as SERVICE."""
    spec = getattr(importlib.import_module(f"services.{service}"), "SERVICE", None)
    if not isinstance(spec, Service):
        raise RuntimeError(f"services/{service}/__init__.py declares no SERVICE = Service(...)")
    return spec
