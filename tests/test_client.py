"""Our Python client (sdk/python): sync and async, against the running system; retries reuse one
Idempotency-Key."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from moltgrid_client import AsyncMoltGridClient, MoltGridClient, MoltGridError


def test_retries_reuse_one_idempotency_key_and_honour_retry_after():
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Idempotency-Key"])
        if len(seen) < 3:
            return httpx.Response(503, json={"detail": "Service unavailable"}, headers={"Retry-After": "0"})
        return httpx.Response(200, json={"status": "stored"})

    http = httpx.Client(base_url="http://test", transport=httpx.MockTransport(handler))
    client = MoltGridClient("http://test", "af_x", http=http, backoff=0.01)
    assert client.memory_set("k", "v") == {"status": "stored"}
    assert len(seen) == 3 and len(set(seen)) == 1


async def test_sync_and_async_clients_against_the_server(stack):
    sync = await asyncio.to_thread(MoltGridClient.register, stack.base_url, "sdk-sync")
    await asyncio.to_thread(sync.memory_set, "k", "v", "sdk")
    assert (await asyncio.to_thread(sync.memory_get, "k", "sdk"))["value"] == "v"
    async with await AsyncMoltGridClient.register(stack.url(1), "sdk-async") as client:
        await client.memory_set("key with / and spaces", "x")
        assert (await client.memory_get("key with / and spaces"))["value"] == "x"
        job = await client.queue_submit({"task": 1}, queue_name="sdk", priority=3)
        claimed = await client.queue_claim(queue_name="sdk")
        assert claimed["job_id"] == job["job_id"] and claimed["payload"] == {"task": 1}
        await client.queue_complete(job["job_id"], result="done", attempt=claimed["attempt"])
        assert (await client.queue_status(job["job_id"]))["status"] == "completed"
        with pytest.raises(MoltGridError) as err:
            await client.memory_get("missing")
        assert err.value.status == 404 and err.value.detail == "Key not found or expired"
    sync.close()


async def test_a_retried_post_rides_out_a_short_outage(stack):
    client = await asyncio.to_thread(MoltGridClient.register, stack.base_url, "sdk-retry")
    client.retries, client.backoff = 8, 0.3
    stack.stop_component("memory")
    restart = threading.Timer(1.0, stack.start_component, args=("memory",))
    restart.start()
    started = time.monotonic()
    try:
        assert (await asyncio.to_thread(client.memory_set, "after-outage", "v"))["status"] == "stored"
    finally:
        restart.join()
        await stack.wait_ready()
    assert time.monotonic() - started >= 0.9
    assert (await asyncio.to_thread(client.memory_get, "after-outage"))["value"] == "v"
    client.close()
