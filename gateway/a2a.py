"""The A2A 1.0 protocol bindings of every hosted agent: JSON-RPC 2.0 at `POST /a2a/{agent_id}` and HTTP+JSON
under the same prefix (`/a2a/{agent_id}/message:send`, `/tasks/{id}`, …), their SSE streams, and the agent
cards. The state lives in the `a2a` service; this module only translates between the bindings and its
operations, maps errors to the specification's codes, and streams from the task's durable event log.

Streams replay: every event of a task's log has a sequence number, sent as the SSE `id`; a client that
reconnects with `Last-Event-ID` (on any gateway, after any restart) gets every event after it. While a
stream is open the gateway waits on the task's NATS notice (`a2a.task.<task_id>`) and re-reads the log, so a
service request slot is never held by a waiting stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from nats.aio.client import Client as NATS

from gateway.http import json_response
from gateway.state import NC
from shared.bus import Ctx, call
from shared.envelope import Reply
from shared.subjects import a2a_task, svc

PROTOCOL_VERSION = "1.0"
BLOCK_S = 30.0  # how long a blocking SendMessage waits for a terminal or interrupted state
HEARTBEAT_S = 15.0
POLL_S = 2.0  # a stream re-reads the log at least this often (a missed notice costs at most this)
TIMEOUT = 5.0
TERMINAL = frozenset(
    {"TASK_STATE_COMPLETED", "TASK_STATE_FAILED", "TASK_STATE_CANCELED", "TASK_STATE_REJECTED"}
)
ENDS_WAIT = TERMINAL | {"TASK_STATE_INPUT_REQUIRED", "TASK_STATE_AUTH_REQUIRED"}

# A2A error (reason) → JSON-RPC code, HTTP status, google.rpc status name (specification §5.4)
ERRORS: dict[str, tuple[int, int, str]] = {
    "TASK_NOT_FOUND": (-32001, 404, "NOT_FOUND"),
    "TASK_NOT_CANCELABLE": (-32002, 400, "FAILED_PRECONDITION"),
    "PUSH_NOTIFICATION_NOT_SUPPORTED": (-32003, 400, "FAILED_PRECONDITION"),
    "UNSUPPORTED_OPERATION": (-32004, 400, "FAILED_PRECONDITION"),
    "CONTENT_TYPE_NOT_SUPPORTED": (-32005, 400, "INVALID_ARGUMENT"),
    "VERSION_NOT_SUPPORTED": (-32009, 400, "FAILED_PRECONDITION"),
    "INVALID_PARAMS": (-32602, 400, "INVALID_ARGUMENT"),
    "INVALID_REQUEST": (-32600, 400, "INVALID_ARGUMENT"),
    "PARSE_ERROR": (-32700, 400, "INVALID_ARGUMENT"),
    "METHOD_NOT_FOUND": (-32601, 404, "NOT_FOUND"),
    "UNAUTHENTICATED": (-32603, 401, "UNAUTHENTICATED"),
    "RATE_LIMITED": (-32603, 429, "RESOURCE_EXHAUSTED"),
    "UNAVAILABLE": (-32603, 503, "UNAVAILABLE"),
    "INTERNAL": (-32603, 500, "INTERNAL"),
}
# MoltGrid error code → A2A reason, where the service did not name one
BY_CODE = {
    "not_found": "TASK_NOT_FOUND",
    "invalid": "INVALID_PARAMS",
    "bad_request": "INVALID_PARAMS",
    "conflict": "UNSUPPORTED_OPERATION",
    "too_large": "INVALID_PARAMS",
    "unauthorized": "UNAUTHENTICATED",
    "forbidden": "UNAUTHENTICATED",
    "rate_limited": "RATE_LIMITED",
    "unavailable": "UNAVAILABLE",
    "timeout": "UNAVAILABLE",
}


class A2AError(Exception):
    def __init__(self, reason: str, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.reason, self.message, self.data = reason, message, data

    @classmethod
    def of(cls, reply: Reply) -> A2AError:
        details = reply.details if isinstance(reply.details, dict) else {}
        reason = details.get("a2a_reason") or BY_CODE.get(reply.code, "INTERNAL")
        data = reply.details if reply.code == "invalid" else None
        return cls(reason, reply.message, data)

    def info(self) -> list[dict[str, Any]]:
        detail: dict[str, Any] = {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": self.reason,
            "domain": "a2a-protocol.org",
        }
        out = [detail]
        if isinstance(self.data, list):
            out.append(
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [
                        {"field": ".".join(str(p) for p in v.get("loc", [])), "description": v.get("msg", "")}
                        for v in self.data
                        if isinstance(v, dict)
                    ],
                }
            )
        return out


def check_version(request: web.Request) -> None:
    """The A2A-Version service parameter (header or query); empty means 0.3, which this server does not
    speak (specification §3.6.2)."""
    given = request.headers.get("A2A-Version") or request.query.get("A2A-Version") or ""
    major_minor = ".".join(given.strip().split(".")[:2])
    if major_minor != PROTOCOL_VERSION:
        raise A2AError(
            "VERSION_NOT_SUPPORTED", f"A2A-Version {given or '(none: 0.3)'} is not supported; use 1.0"
        )


async def op(nc: NATS, name: str, payload: dict[str, Any], ctx: Ctx) -> Any:
    reply = await call(nc, svc("a2a", name), payload, timeout=TIMEOUT, ctx=ctx)
    if not reply.ok:
        raise A2AError.of(reply)
    return reply.data


def base_url(request: web.Request) -> str:
    proto = request.headers.get("X-Forwarded-Proto", request.scheme)
    host = request.headers.get("X-Forwarded-Host", request.host)
    return f"{proto}://{host}"


# ── the operations, binding-independent ──


class Session:
    """One A2A request on one hosted agent's endpoint."""

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.nc: NATS = request.app[NC]
        self.ctx: Ctx = request["ctx"]
        self.agent_id = request.match_info["agent_id"]

    async def call(self, name: str, payload: dict[str, Any]) -> Any:
        return await op(self.nc, name, {"agent_id": self.agent_id, **payload}, self.ctx)

    async def send(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.agent_id == "hub":
            return dict(
                await op(
                    self.nc, "hub_send", {"request": params, "base_url": base_url(self.request)}, self.ctx
                )
            )
        sent = await self.call("send_message", {"request": params})
        task = sent["task"]
        if sent.get("wait") and task["status"]["state"] not in ENDS_WAIT:
            task = await self.wait(task["id"], params)
        return {"task": task}

    async def wait(self, task_id: str, params: dict[str, Any]) -> dict[str, Any]:
        """Blocking send: wait on the task's notices until it ends or is interrupted (bounded)."""
        changed = asyncio.Event()

        async def on_notice(_: Any) -> None:
            changed.set()

        sub = await self.nc.subscribe(a2a_task(task_id), cb=on_notice)
        history = (params.get("configuration") or {}).get("historyLength")
        try:
            deadline = asyncio.get_running_loop().time() + BLOCK_S
            while True:
                task: dict[str, Any] = await self.call(
                    "get_task",
                    {"id": task_id, **({"history_length": history} if history is not None else {})},
                )
                remaining = deadline - asyncio.get_running_loop().time()
                if task["status"]["state"] in ENDS_WAIT or remaining <= 0:
                    return task
                changed.clear()
                try:
                    await asyncio.wait_for(changed.wait(), min(POLL_S, remaining))
                except TimeoutError:
                    pass
        finally:
            await sub.unsubscribe()

    async def stream(
        self,
        response: web.StreamResponse,
        first: dict[str, Any] | None,
        task_id: str,
        after: int,
        frame: Callable[[dict[str, Any]], bytes],
    ) -> None:
        """Write `first` (the Task), then every logged event after `after`, until the task ends or pauses."""
        changed = asyncio.Event()

        async def on_notice(_: Any) -> None:
            changed.set()

        sub = await self.nc.subscribe(a2a_task(task_id), cb=on_notice)
        try:
            if first is not None:
                await response.write(sse(after, frame({"task": first})))
                if first["status"]["state"] in ENDS_WAIT:
                    return
            idle = 0.0
            while True:
                changed.clear()
                try:
                    page = await self.call("task_events", {"id": task_id, "after": after, "limit": 200})
                except A2AError as exc:
                    if exc.reason != "UNAVAILABLE":
                        raise
                    await asyncio.sleep(POLL_S)  # the service is restarting: the log is still there after it
                    continue
                for event in page["events"]:
                    after = event["seq"]
                    await response.write(sse(after, frame(event["body"])))
                    if event["terminal"] or _pauses(event["body"]):
                        return
                if page["events"]:
                    idle = 0.0
                    continue
                if page["state"] in TERMINAL and after >= page["last_seq"]:
                    return
                try:
                    await asyncio.wait_for(changed.wait(), POLL_S)
                except TimeoutError:
                    idle += POLL_S
                    if idle >= HEARTBEAT_S:
                        await response.write(b": keep-alive\n\n")
                        idle = 0.0
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            await sub.unsubscribe()


def _pauses(body: dict[str, Any]) -> bool:
    state = (body.get("statusUpdate") or {}).get("status", {}).get("state")
    return state in ENDS_WAIT


def sse(seq: int, data: bytes) -> bytes:
    return b"id: " + str(seq).encode() + b"\ndata: " + data + b"\n\n"


def resume_from(request: web.Request) -> int | None:
    given = request.headers.get("Last-Event-ID", "")
    return int(given) if given.isdigit() and len(given) < 19 else None


async def open_stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    return response


# ── JSON-RPC 2.0 binding ──

RpcHandler = Callable[[Session, dict[str, Any]], Awaitable[Any]]


async def _push_create(s: Session, p: dict[str, Any]) -> Any:
    return await s.call("create_push_config", {"config": p})


async def _extended_card(s: Session, p: dict[str, Any]) -> Any:
    return await op(s.nc, "agent_card", {"agent_id": s.agent_id, "base_url": base_url(s.request)}, s.ctx)


UNARY: dict[str, RpcHandler] = {
    "SendMessage": lambda s, p: s.send(p),
    "GetTask": lambda s, p: s.call("get_task", p),
    "ListTasks": lambda s, p: s.call("list_tasks", p),
    "CancelTask": lambda s, p: s.call("cancel_task", p),
    "CreateTaskPushNotificationConfig": _push_create,
    "GetTaskPushNotificationConfig": lambda s, p: s.call("get_push_config", p),
    "ListTaskPushNotificationConfigs": lambda s, p: s.call("list_push_configs", p),
    "DeleteTaskPushNotificationConfig": lambda s, p: s.call("delete_push_config", p),
    "GetExtendedAgentCard": _extended_card,
}
STREAMING = frozenset({"SendStreamingMessage", "SubscribeToTask"})


def rpc_error(rpc_id: Any, exc: A2AError) -> web.Response:
    code = ERRORS.get(exc.reason, ERRORS["INTERNAL"])[0]
    return json_response(
        {"jsonrpc": "2.0", "id": rpc_id, "error": {"code": code, "message": exc.message, "data": exc.info()}}
    )


async def jsonrpc(request: web.Request) -> web.StreamResponse:
    """POST /a2a/{agent_id}: one JSON-RPC 2.0 request (batches are not part of A2A)."""
    rpc_id: Any = None
    try:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError as exc:
            raise A2AError("PARSE_ERROR", "Invalid JSON payload") from exc
        if not isinstance(body, dict):
            raise A2AError("INVALID_REQUEST", "Request payload validation error")
        rpc_id = body.get("id")
        method, params = body.get("method"), body.get("params", {})
        if (
            body.get("jsonrpc") != "2.0"
            or not isinstance(method, str)
            or not isinstance(rpc_id, (str, int, type(None)))
        ):
            raise A2AError("INVALID_REQUEST", "Request payload validation error")
        if not isinstance(params, dict):
            raise A2AError("INVALID_PARAMS", "Invalid parameters")
        if method not in UNARY and method not in STREAMING:
            raise A2AError("METHOD_NOT_FOUND", f"Method not found: {method}")
        check_version(request)
        session = Session(request)
        if method in STREAMING:
            return await _rpc_stream(session, method, params, rpc_id)
        result = await UNARY[method](session, params)
        return json_response({"jsonrpc": "2.0", "id": rpc_id, "result": result})
    except A2AError as exc:
        return rpc_error(rpc_id, exc)


async def _rpc_stream(
    session: Session, method: str, params: dict[str, Any], rpc_id: Any
) -> web.StreamResponse:
    def frame(result: dict[str, Any]) -> bytes:
        return orjson.dumps({"jsonrpc": "2.0", "id": rpc_id, "result": result})

    return await _stream(session, method, params, frame)


async def _stream(
    session: Session, method: str, params: dict[str, Any], frame: Callable[[dict[str, Any]], bytes]
) -> web.StreamResponse:
    """SendStreamingMessage / SubscribeToTask: errors before the stream opens are the binding's errors."""
    resume = resume_from(session.request)
    if method == "SendStreamingMessage":
        if session.agent_id == "hub":
            raise A2AError("UNSUPPORTED_OPERATION", "The hub answers with a single message: use SendMessage")
        sent = await session.call("send_message", {"request": params})
        task, first, after = sent["task"], sent["task"], sent.get("last_seq", 0)
    else:
        task_id = str(params.get("id") or "")
        if resume is not None:
            await session.call("get_task", {"id": task_id, "history_length": 0})  # visibility
            task, first, after = {"id": task_id}, None, resume
        else:
            started = await session.call("subscribe_start", {"id": task_id})
            task, first, after = started["task"], started["task"], started["last_seq"]
    response = await open_stream(session.request)
    await session.stream(response, first, task["id"], after, frame)
    return response


# ── HTTP+JSON binding ──


def rest_error(exc: A2AError) -> web.Response:
    _, status, name = ERRORS.get(exc.reason, ERRORS["INTERNAL"])
    return json_response(
        {"error": {"code": status, "status": name, "message": exc.message, "details": exc.info()}}, status
    )


def _json_frame(result: dict[str, Any]) -> bytes:
    return orjson.dumps(result)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.read() or b"{}")
    except orjson.JSONDecodeError as exc:
        raise A2AError("PARSE_ERROR", "Invalid JSON payload") from exc
    if not isinstance(body, dict):
        raise A2AError("INVALID_PARAMS", "The body must be a JSON object")
    return body


def _query(request: web.Request) -> dict[str, Any]:
    return {k: v for k, v in request.query.items() if k != "A2A-Version"}


async def rest(request: web.Request) -> web.StreamResponse:
    """Every HTTP+JSON operation under /a2a/{agent_id}/…, dispatched on method and path."""
    try:
        check_version(request)
        session = Session(request)
        tail = request.match_info["tail"]
        method = request.method
        if tail == "message:send" and method == "POST":
            return json_response(await session.send(await _body(request)))
        if tail == "message:stream" and method == "POST":
            return await _stream(session, "SendStreamingMessage", await _body(request), _json_frame)
        if tail == "extendedAgentCard" and method == "GET":
            return json_response(await _extended_card(session, {}))
        if tail == "tasks" and method == "GET":
            return json_response(await session.call("list_tasks", _query(request)))
        parts = tail.split("/")
        if parts[0] != "tasks" or len(parts) < 2:
            raise A2AError("METHOD_NOT_FOUND", f"No A2A operation at {method} /{tail}")
        task_id, _, verb = parts[1].partition(":")
        if len(parts) == 2:
            if verb == "cancel" and method == "POST":
                return json_response(
                    await session.call("cancel_task", {"id": task_id, **await _body(request)})
                )
            if verb == "subscribe" and method in ("POST", "GET"):
                return await _stream(session, "SubscribeToTask", {"id": task_id}, _json_frame)
            if not verb and method == "GET":
                return json_response(await session.call("get_task", {"id": task_id, **_query(request)}))
        elif parts[2] == "pushNotificationConfigs":
            if len(parts) == 3 and method == "POST":
                config = {**await _body(request), "taskId": task_id}
                return json_response(await _push_create(session, config))
            if len(parts) == 3 and method == "GET":
                return json_response(await session.call("list_push_configs", {"task_id": task_id}))
            if len(parts) == 4 and method == "GET":
                return json_response(
                    await session.call("get_push_config", {"task_id": task_id, "id": parts[3]})
                )
            if len(parts) == 4 and method == "DELETE":
                return json_response(
                    await session.call("delete_push_config", {"task_id": task_id, "id": parts[3]})
                )
        raise A2AError("METHOD_NOT_FOUND", f"No A2A operation at {method} /{tail}")
    except A2AError as exc:
        return rest_error(exc)


# ── agent cards ──


async def agent_card(request: web.Request) -> web.Response:
    """GET /a2a/{agent_id}/.well-known/agent-card.json (public; a private agent is found only by itself)."""
    try:
        card = await op(
            request.app[NC],
            "agent_card",
            {"agent_id": request.match_info["agent_id"], "base_url": base_url(request)},
            request["ctx"],
        )
    except A2AError as exc:
        return rest_error(exc)
    return json_response(card, headers={"Cache-Control": "public, max-age=60"})


async def hub_card(request: web.Request) -> web.Response:
    """GET /.well-known/agent-card.json: the hub's own card."""
    try:
        card = await op(request.app[NC], "hub_card", {"base_url": base_url(request)}, request["ctx"])
    except A2AError as exc:
        return rest_error(exc)
    return json_response(card, headers={"Cache-Control": "public, max-age=300"})
