"""Helpers several test modules share: polling until a condition holds, a loopback HTTP server to stand in for
an outside endpoint, and a local webhook receiver."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, Self

import orjson
from aiohttp import web

from shared.runtime.embedded import free_port


async def until(
    what: str, check: Callable[[], Awaitable[Any]], timeout: float = 20.0, every: float = 0.1
) -> Any:
    """Poll an async check until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(every)


ERROR_FIELDS = {"detail", "error", "message", "request_id", "retry_after_seconds", "timestamp"}
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00")


def seed_view(status: int, body: Any, headers: Any) -> Any:
    """An error body seen as the seed's `{"detail": …}`, after checking MoltGrid 1.0's fields beside it: a stable
    `error` code, `message` (the detail, or "Validation failed" beside FastAPI's 422 list), the request's id (the
    X-Request-ID header, except on an idempotent replay, which repeats the first answer) and
    `retry_after_seconds` (the Retry-After header on 429/503, null otherwise) and an ISO 8601 `timestamp`. Other bodies pass unchanged.
    Without `headers` (a raw socket read) the id and the wait are only checked for their types."""
    if status < 400 or not isinstance(body, dict) or "detail" not in body:
        return body
    assert set(body) == ERROR_FIELDS, body
    assert isinstance(body["timestamp"], str) and ISO_UTC.fullmatch(body["timestamp"]), body
    detail = body["detail"]
    assert isinstance(body["error"], str) and body["error"].isidentifier(), body
    if isinstance(detail, list):
        assert (
            status == 422 and body["error"] == "validation_error" and body["message"] == "Validation failed"
        ), body
    else:
        assert body["message"] == detail, body
    assert isinstance(body["request_id"], str) and body["request_id"], body
    if headers is not None and headers.get("Idempotent-Replayed") != "true":
        assert body["request_id"] == headers.get("X-Request-ID"), (body, dict(headers))
    if status in (429, 503):
        wait = body["retry_after_seconds"]
        if (
            headers is not None and "Retry-After" not in headers
        ):  # a quota (429) that waiting does not restore
            assert status == 429 and wait is None, (body, dict(headers))
        else:
            assert isinstance(wait, int) and wait >= 0, body
            assert headers is None or wait == int(headers["Retry-After"]), (body, dict(headers))
    else:
        assert body["retry_after_seconds"] is None, body
    return {"detail": detail}


class LoopbackServer:
    """An aiohttp server on 127.0.0.1 (a free port) answering POSTs to one path with `handler`: the common part
    of the stand-ins tests run for outside endpoints (webhooks, a chat model, an embedder, an OTLP collector).
    Start and stop it with `start()`/`stop()` or `async with`."""

    def __init__(self, path: str, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> None:
        self.port = free_port()
        self.path, self.handler = path, handler
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(self.path, self.handler)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()
            self.runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()


class Receiver(LoopbackServer):
    """An aiohttp server on 127.0.0.1 recording webhook deliveries, answering with a scripted status.

    `received` keeps every accepted delivery as (headers, raw body); `events` keeps one body per
    `webhook-id`, the receiver-side deduplication the Standard Webhooks scheme is for."""

    def __init__(self) -> None:
        super().__init__("/hook", self.handle)
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.events: dict[str, dict[str, Any]] = {}
        self.status = 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def deliveries(self) -> int:
        return len(self.received)

    async def handle(self, request: web.Request) -> web.Response:
        if self.status != 200:
            return web.Response(status=self.status)
        body = await request.read()
        self.received.append((dict(request.headers), body))
        self.events[request.headers.get("webhook-id", f"#{len(self.received)}")] = orjson.loads(body)
        return web.Response(status=200)

    def delivered(self, event_type: str, id_field: str) -> set[str]:
        """The `id_field` of every distinct event of `event_type` received."""
        return {e["data"][id_field] for e in self.events.values() if e["type"] == event_type}

    async def wait_for(self, n: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < n:
            assert time.monotonic() < deadline, f"got {len(self.received)} of {n} deliveries"
            await asyncio.sleep(0.1)
