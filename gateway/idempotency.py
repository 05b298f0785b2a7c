"""Idempotency-Key on POST: the first response is stored for 24 h per (agent, key) and replayed for a
retry with the same request; the same key with a different request is refused with 422.

The first request claims the key with an INSERT (so two concurrent retries cannot both run); a 5xx
outcome releases it again, so a retry after an outage runs the operation rather than replaying the outage.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

import asyncpg
from aiohttp import web

from gateway.http import error_response

HEADER = "Idempotency-Key"
TTL = "24 hours"
MAX_KEY_LENGTH = 255

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
    h.update(await request.read())
    return h.hexdigest()


class Idempotency:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

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
        try:
            response = await handler(request)
        except BaseException:
            await self._pool.execute(RELEASE, agent_id, key)
            raise
        if response.status >= 500 or not isinstance(response, web.Response):
            await self._pool.execute(RELEASE, agent_id, key)
        else:
            await self._pool.execute(
                STORE, agent_id, key, response.status, response.body, response.content_type
            )
        return response

    async def _replay(self, agent_id: str, key: str, digest: str) -> web.StreamResponse:
        row = await self._pool.fetchrow(EXISTING, agent_id, key)
        if row is None:  # released between our INSERT and SELECT: the client may simply retry
            return error_response("conflict", "A request with this Idempotency-Key just failed; retry it")
        if row["request_hash"] != digest:
            return error_response("invalid", f"{HEADER} was already used with a different request")
        if row["status"] is None:
            return error_response("conflict", f"A request with this {HEADER} is still being processed")
        return web.Response(
            status=row["status"],
            body=row["body"],
            content_type=row["content_type"],
            headers={"Idempotent-Replayed": "true"},
        )

    async def sweep(self) -> None:
        await self._pool.execute(SWEEP)
