"""Idempotency-Key on POST: the first response is stored for 24 h per (agent, key) and replayed for a
retry with the same request; the same key with a different request is refused with 422.

The first request claims the key with an INSERT (so two concurrent retries cannot both run); a 5xx
outcome releases it again, so a retry after an outage runs the operation rather than replaying the outage.
A 504 is different: the operation may still be running. Its key stays claimed ("outcome unknown": a retry
answers 409) while the gateway keeps listening for the late reply (gateway/forward.py LATE_GRACE_S); that
reply is stored as the key's outcome and replayed to retries. Only when no reply comes, or the service says
it dropped the request unstarted (its deadline had passed), is the key released. Never a second execution
of a request whose first attempt ran.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable

import asyncpg
import structlog
from aiohttp import web

from gateway.http import error_response, read_within

HEADER = "Idempotency-Key"
TTL = "24 hours"
MAX_KEY_LENGTH = 255
log = structlog.get_logger("idempotency")
LATE = "late_response"  # request key: set here; the forwarder leaves a 504's late outcome in it

CLAIM = f"""
WITH stale AS (DELETE FROM gateway.idempotency_keys
               WHERE agent_id = $1 AND key = $2 AND created_at < now() - interval '{TTL}')
INSERT INTO gateway.idempotency_keys (agent_id, key, request_hash) VALUES ($1, $2, $3)
ON CONFLICT (agent_id, key) DO NOTHING RETURNING true
"""
EXISTING = "SELECT request_hash, status, body, content_type FROM gateway.idempotency_keys WHERE agent_id = $1 AND key = $2"
STORE = "UPDATE gateway.idempotency_keys SET status = $3, body = $4, content_type = $5 WHERE agent_id = $1 AND key = $2"
RELEASE = "DELETE FROM gateway.idempotency_keys WHERE agent_id = $1 AND key = $2"
SWEEP = f"DELETE FROM gateway.idempotency_keys WHERE created_at < now() - interval '{TTL}'"


async def request_hash(request: web.Request) -> str:
    h = hashlib.sha256()
    for part in (request.method, request.path, request.query_string):
        h.update(part.encode() + b"\0")
    h.update(await read_within(request))
    return h.hexdigest()


class Idempotency:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._settling: set[asyncio.Future[None]] = set()  # 504s whose late outcome is awaited

    async def handle(
        self,
        request: web.Request,
        agent_id: str,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        key = request.headers[HEADER]
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():  # undecodable bytes → surrogates
            return error_response("bad_request", f"{HEADER} must be 1-{MAX_KEY_LENGTH} printable characters")
        digest = await request_hash(request)
        if not await self._pool.fetchval(CLAIM, agent_id, key, digest):
            return await self._replay(agent_id, key, digest)
        request[LATE] = None  # asks the forwarder to keep listening past a 504
        try:
            response = await handler(request)
        except BaseException:
            await self._pool.execute(RELEASE, agent_id, key)
            raise
        late = request.get(LATE)
        if response.status == 504 and isinstance(late, asyncio.Future):
            settle = asyncio.ensure_future(self._settle(agent_id, key, late))
            self._settling.add(settle)
            settle.add_done_callback(self._settling.discard)
        else:
            await self._record(agent_id, key, response)
        return response

    async def _record(self, agent_id: str, key: str, response: web.StreamResponse | None) -> None:
        if response is None or response.status >= 500 or not isinstance(response, web.Response):
            await self._pool.execute(RELEASE, agent_id, key)
        else:
            await self._pool.execute(
                STORE, agent_id, key, response.status, response.body, response.content_type
            )

    async def _settle(self, agent_id: str, key: str, late: asyncio.Future[web.Response | None]) -> None:
        """The outcome of a request answered 504, once its late reply came (or did not)."""
        try:
            await self._record(agent_id, key, await late)
        except Exception:  # database away: the claim stays "unknown" until its TTL; never a second run
            log.exception("idempotency_outcome_not_recorded", key=key)

    async def _replay(self, agent_id: str, key: str, digest: str) -> web.StreamResponse:
        row = await self._pool.fetchrow(EXISTING, agent_id, key)
        if row is None:  # released between our INSERT and SELECT: the client may simply retry
            return error_response("conflict", "A request with this Idempotency-Key just failed; retry it")
        if row["request_hash"] != digest:
            return error_response("invalid", f"{HEADER} was already used with a different request")
        if row["status"] is None:  # running, or answered 504 and its outcome not known yet
            return error_response(
                "conflict", f"A request with this {HEADER} is still being processed; retry in a few seconds"
            )
        return web.Response(
            status=row["status"],
            body=row["body"],
            content_type=row["content_type"],
            headers={"Idempotent-Replayed": "true"},
        )

    async def sweep(self) -> None:
        await self._pool.execute(SWEEP)
