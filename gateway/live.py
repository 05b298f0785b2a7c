"""Live transports (no business logic): the relay WebSocket and the Server-Sent Events stream.

WebSocket: every message to an agent — sent over REST or over a socket, through any gateway — is
published by the relay on `push.<agent_id>`; each gateway subscribes once per agent it holds sockets for
and fans the frame out to them. Frames a client sends are forwarded to `svc.relay.send` like REST calls.
As in the original, the server sends nothing first: the first frame a client reads after sending is that
send's confirmation or error. `?hello=1` asks for a `{"event": "connected", "agent_id"}` frame first.

SSE: `GET /v1/events/stream` follows the agent's events in JetStream (shared.events.tail) from a cursor (`Last-Event-ID` or
`?after=`), so a client that reconnects to any gateway replica resumes without a gap.

Events socket: `GET /v1/events/ws` (1.0's) sends the agent's unacknowledged events oldest first (read through
the relay's `events` operation, as GET /v1/events does), then follows JetStream live from there; the client
acknowledges by id (`svc.relay.events_ack`).

Every connection held here (sockets, streams, long polls) is listed by agent in `Held`: when the directory
announces a key rotation or an agent's deletion, each gateway closes that agent's connections at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from typing import Any

import orjson
import structlog
from aiohttp import WSMsgType, web
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from gateway.forward import MAX_JSON_DEPTH, too_deep
from gateway.held import HELD, MAX_WAIT_S, Closer, cancel_current, long_poll, wait_of
from gateway.http import HTTP_STATUS, error_response, json_response, reply_response
from gateway.state import LIMITER, NC, SETTINGS
from shared import subjects
from shared.bus import Ctx, call
from shared.errors import ServiceError
from shared.event_names import client_name, client_payload
from shared.events import tail
from shared.metrics import INSTANCE, PUSH_SECONDS

log = structlog.get_logger("live")
SSE_HEARTBEAT_S = 15.0
LONG_POLL_S = 25.0  # below the 1.0 SDK's 30 s client timeout
EVENTS_PING_S = 30.0
BACKLOG_PAGE = 200
MAX_SEQUENCE = 2**64 - 2  # JetStream sequences are uint64; the first one read is after + 1
REVOKED_CLOSE = 4001  # the WebSocket close code for a key that is missing, unknown or just revoked


def _close_socket(ws: web.WebSocketResponse) -> Closer:
    async def close() -> None:
        await ws.close(code=REVOKED_CLOSE, message=b"API key revoked")

    return close


class PushHub:
    """The sockets this gateway holds, by agent, and one NATS subscription per agent."""

    def __init__(self, nc: NATS) -> None:
        self.nc = nc
        self.sockets: dict[str, set[web.WebSocketResponse]] = defaultdict(set)
        self.subs: dict[str, Subscription] = {}

    @property
    def count(self) -> int:
        return sum(len(s) for s in self.sockets.values())

    async def add(self, agent_id: str, ws: web.WebSocketResponse) -> None:
        self.sockets[agent_id].add(ws)
        if agent_id not in self.subs:
            self.subs[agent_id] = await self.nc.subscribe(subjects.push(agent_id), cb=self._fan_out(agent_id))
            try:  # the server has the subscription before the handshake completes and the client sends
                await self.nc.flush(timeout=2)
            except Exception:  # NATS away: the subscription is (re)sent when the connection is back
                pass

    async def remove(self, agent_id: str, ws: web.WebSocketResponse) -> None:
        self.sockets[agent_id].discard(ws)
        if not self.sockets[agent_id]:
            del self.sockets[agent_id]
            sub = self.subs.pop(agent_id, None)
            if sub is not None:
                try:
                    await sub.unsubscribe()
                except Exception:  # connection closing
                    pass

    def _fan_out(self, agent_id: str) -> Any:
        async def deliver(msg: Msg) -> None:
            text = msg.data.decode()
            written = 0
            for ws in list(self.sockets.get(agent_id, ())):
                if ws.prepared and not ws.closed:  # a socket mid-handshake has not been promised anything yet
                    try:
                        await ws.send_str(text)
                        written += 1
                    except ConnectionError:
                        pass
            stored_at = (msg.headers or {}).get(subjects.PUSH_STORED_AT)
            if stored_at:  # same clock when relay and gateway share a host; NTP-close otherwise
                PUSH_SECONDS.labels(INSTANCE).observe(max(0.0, time.time() - float(stored_at)))
            if written:
                await self._report_push(msg.data, written)

        return deliver

    async def _report_push(self, data: bytes, sockets: int) -> None:
        """Tell the relay (fire and forget) that a message reached sockets here: a hop of its trace."""
        try:
            frame = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if (
            not isinstance(frame, dict)
            or frame.get("event") != "message.received"
            or "message_id" not in frame
        ):
            return
        try:
            await self.nc.publish(
                subjects.svc("relay", "record_push"),
                orjson.dumps(
                    {
                        "message_id": frame["message_id"],
                        "gateway": INSTANCE,
                        "sockets": sockets,
                        "at": time.time(),
                    }
                ),
            )
        except Exception:  # NATS away: the trace misses this hop, the message itself is unaffected
            log.warning("push_hop_not_reported", message_id=frame["message_id"])


HUB = web.AppKey("push_hub", PushHub)


def _error_frame(message: str, status: int) -> dict[str, Any]:
    return {"event": "error", "error": message, "status": status}


def wants_hello(request: web.Request) -> bool:
    """`?hello=1` (or true/yes/on): the client opts in to a first `connected` frame."""
    return request.query.get("hello", "").strip().lower() in {"1", "true", "yes", "on"}


async def relay_socket(request: web.Request) -> web.StreamResponse:
    ctx: Ctx = request["ctx"]
    agent_id = ctx.require_agent()
    refused = request.app[HELD].refusal(agent_id, ctx.client_addr)
    if refused is not None:
        return refused
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=64 * 1024)
    hub = request.app[HUB]
    # Subscribed (and flushed to the NATS server) BEFORE the handshake completes: once the client sees the
    # socket open, every message sent to it is pushed, though the server sends nothing first.
    await hub.add(agent_id, ws)
    try:
        await ws.prepare(request)
        if wants_hello(request):
            await ws.send_json({"event": "connected", "agent_id": agent_id})
    except BaseException:
        await hub.remove(agent_id, ws)
        raise
    with request.app[HELD].hold(agent_id, _close_socket(ws), ctx.client_addr):
        try:
            await _relay_frames(request, ws, ctx)
        finally:
            await hub.remove(agent_id, ws)
    return ws


async def _relay_frames(request: web.Request, ws: web.WebSocketResponse, ctx: Ctx) -> None:
    """Each text frame a client sends is a relay send; its confirmation or error is the answer frame."""
    timeout = request.app[SETTINGS].request_timeout
    async for frame in ws:
        if frame.type != WSMsgType.TEXT:
            if frame.type == WSMsgType.BINARY:
                await ws.send_json(_error_frame("send JSON text frames", 400))
            continue
        try:
            body = orjson.loads(frame.data)
        except orjson.JSONDecodeError:
            await ws.send_json(_error_frame("invalid JSON", 400))
            continue
        if not isinstance(body, dict):
            await ws.send_json(_error_frame("expected an object {to_agent, channel?, payload}", 422))
            continue
        if too_deep(frame.data, body):
            await ws.send_json(_error_frame(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", 422))
            continue
        refusal = await _spend(request, ctx)
        if refusal is not None:
            await ws.send_json(refusal)
            continue
        reply = await call(request.app[NC], subjects.svc("relay", "send"), body, timeout=timeout, ctx=ctx)
        if reply.ok:
            await ws.send_json({"event": "message.sent", "to_agent": body.get("to_agent"), **reply.data})
        else:
            detail = reply.details if reply.code == "invalid" and reply.details else reply.message
            await ws.send_json(
                {**_error_frame(reply.message, HTTP_STATUS.get(reply.code, 500)), "detail": detail}
            )


async def _spend(request: web.Request, ctx: Ctx) -> dict[str, Any] | None:
    """A frame that sends spends the agent's rate limit as a REST send does: None when it may, else the
    error frame saying why not (and when to retry)."""
    limiter = request.app[LIMITER]
    if not limiter.enabled:
        return None
    try:
        decision = await limiter.check(ctx.require_agent())
    except ServiceError as exc:
        return {**_error_frame(exc.message, 503), "retry_after_seconds": 1}
    if decision.allowed:
        return None
    return {
        **_error_frame(f"Rate limit exceeded ({limiter.limit}/min)", 429),
        "retry_after_seconds": decision.retry_after_s,
    }


def wants_json(request: web.Request) -> bool:
    """A client asking for JSON and not for an event stream (MoltGrid 1.0's SDK sends Accept: application/json)
    gets 1.0's long poll on /v1/events/stream; everyone else (EventSource, curl, */*) gets Server-Sent Events."""
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/event-stream" not in accept


async def event_stream(request: web.Request) -> web.StreamResponse:
    ctx: Ctx = request["ctx"]
    agent_id = ctx.require_agent()
    refused = request.app[HELD].refusal(agent_id, ctx.client_addr)
    if refused is not None:
        return refused
    with request.app[HELD].hold(agent_id, cancel_current(), ctx.client_addr):
        if wants_json(request):
            return await first_unacked_event(request, ctx)
        return await _sse(request, agent_id)


async def agent_event_stream(request: web.Request) -> web.StreamResponse:
    """1.0's `GET /v1/agents/{agent_id}/events`: the same stream, for the agent's own id only."""
    ctx: Ctx = request["ctx"]
    agent_id = ctx.require_agent()
    if request.match_info["agent_id"] != agent_id:
        return error_response("forbidden", "Agents can only subscribe to their own event stream")
    refused = request.app[HELD].refusal(agent_id, ctx.client_addr)
    if refused is not None:
        return refused
    with request.app[HELD].hold(agent_id, cancel_current(), ctx.client_addr):
        return await _sse(request, agent_id)


async def first_unacked_event(request: web.Request, ctx: Ctx) -> web.StreamResponse:
    """1.0's long poll: the first event not yet acknowledged (by cursor or by id), waiting up to 25 s (or
    `?wait=` seconds, additive), or 204."""
    raw_wait = request.query.get("wait", LONG_POLL_S)
    body: dict[str, Any] = {"limit": 1, "wait": raw_wait}
    if request.query.get("after"):
        body["after"] = request.query["after"]
    nc, subject, timeout = (
        request.app[NC],
        subjects.svc("relay", "events"),
        request.app[SETTINGS].request_timeout,
    )
    wait = wait_of(raw_wait, MAX_WAIT_S)
    if wait is None:  # refused by the relay's own validation, in its words
        reply = await call(nc, subject, body, timeout=timeout, ctx=ctx)
    else:
        reply = await long_poll(nc, subject, body, wait, timeout=timeout, ctx=ctx)
    if not reply.ok:
        return reply_response(reply, 200, {"*": "query"})
    if not reply.data["events"]:
        return web.Response(status=204)
    return json_response(reply.data["events"][0])


async def _sse(request: web.Request, agent_id: str) -> web.StreamResponse:
    start = request.headers.get("Last-Event-ID") or request.query.get("after") or "0"
    if not (start.isascii() and start.isdigit()) or int(start) > MAX_SEQUENCE:
        return error_response("bad_request", "Last-Event-ID / after must be a stream sequence number")
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    events = tail(request.app[NC].jetstream(), subjects.agent_events(agent_id), int(start), SSE_HEARTBEAT_S)
    try:
        async with contextlib.aclosing(events):
            async for followed in events:
                if followed is None:
                    await response.write(b": keep-alive\n\n")
                    continue
                await response.write(
                    f"id: {followed.sequence}\nevent: {followed.event.get('type', 'event')}\n"
                    f"data: {followed.raw.decode()}\n\n".encode()
                )
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return response


async def events_socket(request: web.Request) -> web.StreamResponse:
    """1.0's event socket: `connected`, the unacknowledged events oldest first, then live ones; a ping every
    30 s; `{"type": "ack", "event_ids": [...]}` from the client acknowledges."""
    ctx: Ctx = request["ctx"]
    agent_id = ctx.require_agent()
    refused = request.app[HELD].refusal(agent_id, ctx.client_addr)
    if refused is not None:
        return refused
    ws = web.WebSocketResponse(max_msg_size=64 * 1024)
    await ws.prepare(request)
    with request.app[HELD].hold(agent_id, _close_socket(ws), ctx.client_addr):
        await ws.send_json({"type": "connected", "agent_id": agent_id})
        sender = asyncio.ensure_future(_send_events(request, ws, ctx, agent_id))
        try:
            await _read_acks(request, ws, ctx)
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
    return ws


def _event_frame(event_id: Any, event_type: Any, payload: Any, created_at: Any) -> dict[str, Any]:
    return {
        "type": "event",
        "event_id": event_id,
        "event_type": event_type,
        "payload": payload,
        "created_at": created_at,
    }


async def _send_events(request: web.Request, ws: web.WebSocketResponse, ctx: Ctx, agent_id: str) -> None:
    nc = request.app[NC]
    body: dict[str, Any] = {"limit": BACKLOG_PAGE, "wait": 0}
    cursor = 0
    while True:  # the backlog, by the relay's own reading (acknowledged cursor, events acknowledged by id)
        reply = await call(nc, subjects.svc("relay", "events"), body, timeout=LONG_POLL_S, ctx=ctx)
        if not reply.ok:
            await ws.close(code=1011, message=reply.message.encode()[:120])
            return
        for e in reply.data["events"]:
            await ws.send_json(_event_frame(e["event_id"], e["event_type"], e["payload"], e["created_at"]))
        cursor = int(reply.data["cursor"])
        if len(reply.data["events"]) < BACKLOG_PAGE:
            break
        body = {"limit": BACKLOG_PAGE, "wait": 0, "after": cursor}
    events = tail(nc.jetstream(), subjects.agent_events(agent_id), cursor, EVENTS_PING_S)
    try:
        async with contextlib.aclosing(events):
            async for followed in events:
                if ws.closed:
                    break
                if followed is None:
                    await ws.send_json({"type": "ping"})
                    continue
                e = followed.event
                await ws.send_json(
                    _event_frame(e.get("id"), client_name(e), client_payload(e), e.get("time"))
                )
    except ConnectionResetError:
        pass


async def _read_acks(request: web.Request, ws: web.WebSocketResponse, ctx: Ctx) -> None:
    async for frame in ws:
        if frame.type != WSMsgType.TEXT:
            continue
        try:
            body = orjson.loads(frame.data)
        except orjson.JSONDecodeError:
            continue
        if isinstance(body, dict) and body.get("type") == "ack" and isinstance(body.get("event_ids"), list):
            await call(
                request.app[NC],
                subjects.svc("relay", "events_ack"),
                {"event_ids": body["event_ids"]},
                timeout=request.app[SETTINGS].request_timeout,
                ctx=ctx,
            )
