"""Request/reply over NATS: one server-side helper (`serve`) and one client-side helper (`call`).

`serve` subscribes each operation of a service with the service's queue group, so replicas share the
load; it validates input with the operation's pydantic model, runs requests concurrently up to a bound,
always replies with one envelope (never a traceback), and drains in-flight work on shutdown.

Identity headers (agent, admin flag, client address) are believed only when signed: `call` signs them
with the identity key (MOLTGRID_IDENTITY_KEY, which only MoltGrid's own components hold) over the subject,
the request id and a deadline, and `serve` refuses a request that carries them unsigned, signed for another
subject, tampered with or expired. NATS permissions keep other clients off the service subjects; the
signature is what keeps a client that may publish from speaking for an agent.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import hmac
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import nats.errors
import orjson
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from pydantic import BaseModel, ValidationError

from shared import envelope, metrics, subjects, tracing
from shared.db import DB_UNAVAILABLE
from shared.errors import Invalid, ServiceError, Timeout, Unauthorized, Unavailable

REQUEST_ID = "X-Request-ID"
AGENT_ID = "X-Agent-ID"
CLIENT_ADDR = "X-Client-Addr"
ADMIN = "X-Admin"
IDENTITY_EXPIRES = "X-Identity-Expires"  # Unix seconds after which the signature is refused
IDENTITY_SIGNATURE = "X-Identity-Signature"  # hex HMAC-SHA256 (see _digest)
IDENTITY_KEY_ENV = "MOLTGRID_IDENTITY_KEY"
IDENTITY_HEADERS = (AGENT_ID, ADMIN, CLIENT_ADDR)
SIGNED_FOR = 60.0  # seconds a signature stays valid beyond the request's timeout (allows for clock skew)
DEADLINE = "X-Deadline"  # Unix time in ms after which the caller no longer waits for the reply
# Of a replica's request slots (max_inflight), the share one agent may hold at once; its requests beyond it
# wait in the agent's own queue, not in front of other agents' requests.
AGENT_SHARE = 4
AGENT_QUEUE = 1024  # an agent's requests waiting for one of its slots; beyond, refused (rate_limited, 1 s)

SCHEMA_REF = "#/components/schemas/{model}"
OPERATIONS, OPERATION_SECONDS = (
    metrics.Children(metrics.OPERATIONS),
    metrics.Children(metrics.OPERATION_SECONDS),
)
log = structlog.get_logger("bus")


@dataclass(frozen=True, slots=True)
class Ctx:
    """Per-request context carried in NATS headers across the hop."""

    request_id: str = ""
    agent_id: str | None = None  # set only by the gateway, from authentication
    client_addr: str | None = None  # the HTTP client's address, as the gateway saw it
    admin: bool = False  # set only by the gateway, for requests with a valid admin session

    def headers(self) -> dict[str, str]:
        h = {REQUEST_ID: self.request_id} if self.request_id else {}
        if self.agent_id:
            h[AGENT_ID] = self.agent_id
        if self.client_addr:
            h[CLIENT_ADDR] = self.client_addr
        if self.admin:
            h[ADMIN] = "1"
        return h

    def require_agent(self) -> str:
        if not self.agent_id:
            from shared.errors import Unauthorized

            raise Unauthorized("Missing X-API-Key header")
        return self.agent_id

    def agent_or_named(self, named: str | None) -> str:
        """The agent an internal op (per-agent stats) is about: the one named, for an admin (the panel);
        otherwise always the caller, whatever it names."""
        return named if self.admin and named else self.require_agent()

    def require_admin(self) -> None:
        """Admin operations trust only the gateway's admin-session check (defence in depth)."""
        if not self.admin:
            from shared.errors import Forbidden

            raise Forbidden("Admin session required")


def identity_key() -> bytes | None:
    """The key identity headers are signed with; None: this deployment runs without (docs/operations.md)."""
    raw = os.environ.get(IDENTITY_KEY_ENV, "")
    return raw.encode() if raw else None


def _digest(key: bytes, subject: str, headers: Mapping[str, str], expires: str) -> str:
    fields = (subject, headers.get(REQUEST_ID, ""), *(headers.get(h, "") for h in IDENTITY_HEADERS), expires)
    return hmac.new(key, "\n".join(fields).encode(), hashlib.sha256).hexdigest()


def sign(subject: str, headers: dict[str, str], timeout: float, key: bytes | None = None) -> dict[str, str]:
    """The headers with the identity signature added (when they carry an identity and we hold the key)."""
    key = key or identity_key()
    if key is None or not any(headers.get(h) for h in IDENTITY_HEADERS):
        return headers
    expires = str(int(time.time() + timeout + SIGNED_FOR))
    return {**headers, IDENTITY_EXPIRES: expires, IDENTITY_SIGNATURE: _digest(key, subject, headers, expires)}


def identity_verified(subject: str, headers: Mapping[str, str]) -> bool:
    """True for a request without identity headers, or with them signed by a holder of the key (for this
    subject, not expired); always True where no key is configured."""
    if not any(headers.get(h) for h in IDENTITY_HEADERS):
        return True
    key = identity_key()
    if key is None:
        return True
    signature, expires = headers.get(IDENTITY_SIGNATURE, ""), headers.get(IDENTITY_EXPIRES, "")
    try:
        if not signature or float(expires) < time.time():
            return False
    except ValueError:
        return False
    return hmac.compare_digest(signature, _digest(key, subject, headers, expires))


Handler = Callable[[Any, Ctx], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Op:
    """One NATS operation: its handler, the pydantic model its request must satisfy, and whether only an
    admin session may call it."""

    fn: Handler
    model: type[BaseModel] | None = None
    admin: bool = False


@dataclass
class Served:
    """Handle of a running service subscription set."""

    stop: Callable[[], Awaitable[None]]


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic errors in FastAPI's shape (loc relative to the request object), JSON-safe."""
    out = []
    for err in exc.errors(include_url=False):
        item: dict[str, Any] = {
            "type": err["type"],
            "loc": list(err["loc"]),
            "msg": err["msg"],
            "input": err.get("input"),
        }
        if err.get("ctx"):
            item["ctx"] = {
                k: v if isinstance(v, (int, float, str, bool, type(None))) else str(v)
                for k, v in err["ctx"].items()
            }
        out.append(item)
    return out


async def _run_traced(service: str, name: str, op: Op, msg: Msg) -> None:
    """`_run` inside a SERVER span that continues the caller's trace (its `traceparent` NATS header)."""
    with tracing.span(
        f"{service}.{name}",
        "SERVER",
        msg.headers or {},
        {
            "messaging.system": "nats",
            "messaging.destination.name": msg.subject,
            "messaging.operation.type": "process",
        },
    ):
        await _run(service, name, op, msg)


def deadline_header(timeout: float) -> dict[str, str]:
    """The header telling the service when the caller stops waiting (`call` sets it from its timeout)."""
    return {DEADLINE: str(int((time.time() + timeout) * 1000))}


def expired(headers: Mapping[str, str]) -> bool:
    """Whether the caller's deadline has passed: nobody awaits the reply, so the work is not started."""
    raw = headers.get(DEADLINE, "")
    return raw.isdigit() and int(raw) < time.time() * 1000


class AgentSlots:
    """Fair request slots: at most `per_agent` requests of one agent run at once on this replica; its further
    requests wait in a queue of their own (up to AGENT_QUEUE, then are refused), so they are queued neither
    behind nor ahead of other agents' requests. Requests of no agent (service to service) are not counted."""

    def __init__(self, max_inflight: int) -> None:
        self.per_agent = max(1, max_inflight // AGENT_SHARE)
        self.held: dict[str, int] = {}
        self.waiting: dict[str, collections.deque[Callable[[], Awaitable[None]]]] = {}

    def take(self, agent: str) -> bool:
        """Take one of the agent's slots; False when it holds its whole share."""
        if not agent:
            return True
        if self.held.get(agent, 0) >= self.per_agent:
            return False
        self.held[agent] = self.held.get(agent, 0) + 1
        return True

    def wait(self, agent: str, start: Callable[[], Awaitable[None]]) -> bool:
        """Queue `start` for the agent's next free slot; False when its queue is full (refuse the request)."""
        queue = self.waiting.setdefault(agent, collections.deque())
        if len(queue) >= AGENT_QUEUE:
            return False
        queue.append(start)
        return True

    def give(self, agent: str) -> Callable[[], Awaitable[None]] | None:
        """Give back a slot of the agent: the next request waiting for it (which inherits the slot), if any."""
        if not agent:
            return None
        queue = self.waiting.get(agent)
        if queue:
            following = queue.popleft()
            if not queue:
                del self.waiting[agent]
            return following
        left = self.held.get(agent, 1) - 1
        if left > 0:
            self.held[agent] = left
        else:
            self.held.pop(agent, None)
        return None


# The reply to a request dropped for its passed deadline: `not_started` tells a caller still listening (the
# gateway, for an Idempotency-Key) that nothing was done, so a retry may run the operation.
NOT_STARTED = envelope.fail(Timeout.code, "Deadline passed before the work started", {"not_started": True})
BUSY = envelope.fail(
    "rate_limited",
    "Too many of your requests in flight on this service; retry shortly",
    {"retry_after_seconds": 1},
)


async def _run(service: str, name: str, op: Op, msg: Msg) -> None:
    headers = msg.headers or {}
    if expired(headers):  # the gateway answered 504 already: doing the work now would only surprise
        OPERATIONS(metrics.INSTANCE, service, name, "expired").inc()
        if msg.reply:
            with contextlib.suppress(Exception):
                await msg.respond(NOT_STARTED)
        return
    ctx = Ctx(
        headers.get(REQUEST_ID, ""),
        headers.get(AGENT_ID) or None,
        headers.get(CLIENT_ADDR) or None,
        headers.get(ADMIN) == "1",
    )
    structlog.contextvars.bind_contextvars(
        request_id=ctx.request_id, agent_id=ctx.agent_id, subject=msg.subject
    )
    started = time.perf_counter()
    outcome = "ok"
    try:
        if not identity_verified(msg.subject, headers):
            log.warning("identity_refused")
            raise Unauthorized("Identity headers without a valid signature")
        if op.admin:
            ctx.require_admin()
        raw = orjson.loads(msg.data) if msg.data else {}
        req = op.model.model_validate(raw) if op.model is not None else raw
        reply = envelope.ok(await op.fn(req, ctx))
    except ValidationError as exc:
        reply, outcome = envelope.fail_from(Invalid(details=validation_details(exc))), Invalid.code
    except orjson.JSONDecodeError:
        reply, outcome = envelope.fail_from(Invalid("request body is not valid JSON", [])), Invalid.code
    except ServiceError as exc:
        reply, outcome = envelope.fail_from(exc), exc.code
    except DB_UNAVAILABLE as exc:
        log.warning("database_unavailable", error=str(exc))
        reply, outcome = (
            envelope.fail_from(Unavailable("Database unavailable, retry shortly")),
            Unavailable.code,
        )
    except Exception:
        log.exception("op_crashed")
        reply, outcome = envelope.fail("internal", "internal error"), "internal"
    OPERATIONS(metrics.INSTANCE, service, name, outcome).inc()
    OPERATION_SECONDS(metrics.INSTANCE, service, name).observe(time.perf_counter() - started)
    if msg.reply:
        try:
            await msg.respond(reply)
        except Exception:  # connection lost while replying; the caller times out and may retry
            log.warning("reply_failed")


async def serve(
    nc: NATS,
    service: str,
    ops: Mapping[str, Op],
    max_inflight: int = 128,
    instance: str | None = None,
    ready: Callable[[], Awaitable[Any]] | None = None,
) -> Served:
    """Subscribe every op as svc.<service>.<op> in queue group <service>; returns a stop handle.
    `instance` names the replica (default: the process's MOLTGRID_INSTANCE; a shared-process host gives each
    service its own, e.g. memory-0). `ready` (e.g. a database round trip) must succeed within 1 s for
    `svc.<service>.health` to answer ok, so /v1/health reports a service whose database is away; the
    replica's own liveness subject (container probes) answers regardless."""
    sem = asyncio.Semaphore(max_inflight)
    slots = AgentSlots(max_inflight)
    inflight: set[asyncio.Task[None]] = set()
    waiting: set[asyncio.Future[None]] = set()  # requests of agents over their share, waiting for a slot
    instance = instance or metrics.INSTANCE
    started_at = time.time()
    all_ops = dict(ops)
    served = Served(stop=lambda: asyncio.sleep(0))

    async def alive(_: Any, __: Ctx) -> dict[str, Any]:
        return {
            "service": service,
            "status": "ok",
            "instance": instance,
            "uptime_s": round(time.time() - started_at, 1),
            "inflight": len(inflight),
        }

    async def health(req: Any, ctx: Ctx) -> dict[str, Any]:
        if ready is not None:
            try:
                await asyncio.wait_for(ready(), 1.0)
            except Exception as exc:
                raise Unavailable("Database unavailable") from exc
        return await alive(req, ctx)

    async def describe(_: Any, __: Ctx) -> dict[str, Any]:
        """Each operation's request JSON schema, for the gateway's generated OpenAPI document."""
        return {
            name: (op.model.model_json_schema(ref_template=SCHEMA_REF) if op.model is not None else None)
            for name, op in all_ops.items()
        }

    all_ops.setdefault("health", Op(health))
    all_ops.setdefault("describe", Op(describe))

    run = _run_traced if tracing.ENABLED else _run

    def launch(name: str, op: Op, msg: Msg, agent: str) -> None:  # holding a slot of sem and the agent's
        task = asyncio.create_task(run(service, name, op, msg))
        inflight.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            inflight.discard(finished)
            sem.release()
            hand_over(agent)

        task.add_done_callback(done)

    def hand_over(agent: str) -> None:
        following = slots.give(agent)
        if following is not None:
            waiter = asyncio.ensure_future(following())
            waiting.add(waiter)
            waiter.add_done_callback(waiting.discard)

    def make_cb(name: str, op: Op) -> Callable[[Msg], Awaitable[None]]:
        async def dispatch(msg: Msg) -> None:
            agent = (msg.headers or {}).get(AGENT_ID, "")
            if not slots.take(agent):  # the agent holds its share: this one waits in the agent's own queue

                async def later() -> None:
                    await sem.acquire()
                    launch(name, op, msg, agent)

                if not slots.wait(agent, later) and msg.reply:
                    with contextlib.suppress(Exception):
                        await msg.respond(BUSY)
                return
            await sem.acquire()  # backpressure: further messages wait in the subscription's queue
            launch(name, op, msg, agent)

        return dispatch

    await metrics.answer_scrapes(nc)
    await nc.subscribe(subjects.instance_health(service, instance), cb=make_cb("health", Op(alive)))
    subs = [
        await nc.subscribe(
            subjects.svc(service, name), queue=service, cb=make_cb(name, op), pending_msgs_limit=65536
        )
        for name, op in all_ops.items()
    ]

    async def stop() -> None:
        for sub in subs:
            try:
                await sub.drain()  # type: ignore[no-untyped-call]  # nats-py leaves drain unannotated
            except Exception:  # connection already closed
                pass
        while inflight or waiting:
            await asyncio.gather(*inflight, *waiting, return_exceptions=True)

    served.stop = stop
    return served


async def call(
    nc: NATS, subject: str, payload: Any, *, timeout: float, ctx: Ctx | None = None
) -> envelope.Reply:
    """Send one request and return its envelope; no responders → unavailable, no reply → timeout."""
    headers = {**(sign(subject, ctx.headers(), timeout) if ctx else {}), **deadline_header(timeout)}
    if not tracing.ENABLED:
        return await _request(nc, subject, payload, timeout, headers)
    headers = dict(headers or {})
    with tracing.span(
        subject,
        "CLIENT",
        attributes={
            "messaging.system": "nats",
            "messaging.destination.name": subject,
            "messaging.operation.type": "send",
        },
    ) as current:
        tracing.inject(headers)  # the service's span continues this trace
        reply = await _request(nc, subject, payload, timeout, headers)
        if not reply.ok:
            current.set_attribute("moltgrid.error_code", reply.code)
            if reply.code in ("internal", "unavailable", "timeout"):
                tracing.fail(current, reply.message)
        return reply


async def _request(
    nc: NATS, subject: str, payload: Any, timeout: float, headers: dict[str, str] | None
) -> envelope.Reply:
    try:
        msg = await nc.request(subject, envelope.dumps(payload), timeout=timeout, headers=headers)
    except nats.errors.NoRespondersError:
        return envelope.Reply(False, code=Unavailable.code, message="Service unavailable")
    except nats.errors.TimeoutError:
        return envelope.Reply(False, code=Timeout.code, message="Upstream service timed out")
    except (
        nats.errors.ConnectionClosedError,
        nats.errors.ConnectionReconnectingError,
        nats.errors.StaleConnectionError,
        nats.errors.OutboundBufferLimitError,
    ):
        return envelope.Reply(False, code=Unavailable.code, message="Message bus unavailable")
    return envelope.decode(msg.data)
