"""Quotas on stored things, attacked: an agent fills its quota, its next write is refused in the contract's error
shape (429 quota_exceeded, retry_after_seconds null: waiting does not free a slot) while a victim's writes still
succeed; two concurrent writes at the last slot, sent to different gateways, leave exactly one stored.

This module runs its own stack with small quotas (the session stack keeps the defaults)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.passwords import hash_password
from tests.conftest import ADMIN_PASSWORD, TEST_ENCRYPTION_KEY, Api
from tests.stack import Stack, selected_components

ENTRIES, BYTES, WEBHOOKS, SCHEDULES = 4, 2000, 3, 3


@pytest.fixture(scope="module")
async def stack(infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    db = await infra.create_database()
    services = ",".join(c for c in selected_components() if c != "gateway")
    s = Stack(
        infra,
        db,
        tmp_path_factory.mktemp("quota-logs"),
        env={
            "MOLTGRID_REQUEST_TIMEOUT": "5",
            "MOLTGRID_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEY,
            "MOLTGRID_SERVICES": services,
            "MOLTGRID_LOG_FORMAT": "json",
            "MOLTGRID_ADMIN_PASSWORD_HASH": hash_password(ADMIN_PASSWORD),
            "MOLTGRID_ALLOW_PRIVATE_WEBHOOKS": "true",
            "MOLTGRID_MEMORY_MAX_ENTRIES": str(ENTRIES),
            "MOLTGRID_MEMORY_MAX_BYTES": str(BYTES),
            "MOLTGRID_WEBHOOK_MAX_PER_AGENT": str(WEBHOOKS),
            "MOLTGRID_SCHEDULER_MAX_PER_AGENT": str(SCHEDULES),
        },
    )
    s.start({"memory": 2}, gateways=2)
    try:
        await s.wait_ready()
        yield s
    finally:
        s.stop()


async def refused(agent: Api, path: str, body: dict[str, Any], quota: str) -> None:
    """The write is refused in the contract's shape (the seed's detail, 1.0's fields beside it)."""
    status, whole, headers = await agent.request("POST", path, json=body, envelope=True)
    assert "Retry-After" not in headers
    assert_quota_refusal(status, whole, quota)


def assert_quota_refusal(status: int, body: Any, quota: str) -> None:
    assert status == 429, body
    assert body["error"] == "quota_exceeded" and body["retry_after_seconds"] is None, body
    assert isinstance(body["detail"], str) and body["message"] == body["detail"] and body["request_id"]
    assert quota.split("_")[0] in body["detail"].lower()


async def at_last_slot(agent: Api, stack: Stack, path: str, bodies: list[dict[str, Any]]) -> list[int]:
    """Two writes at once, one through each gateway: their statuses."""
    first, second = agent.on(stack.url(0)), agent.on(stack.url(1))
    results = await asyncio.gather(first.post(path, bodies[0]), second.post(path, bodies[1]))
    return sorted(status for status, _ in results)


async def test_memory_entries_quota(register, stack):
    attacker, victim = await register("attacker"), await register("victim")
    for i in range(ENTRIES - 1):
        assert (await attacker.post("/v1/memory", {"key": f"k{i}", "value": "x"}))[0] == 200
    assert await at_last_slot(
        attacker, stack, "/v1/memory", [{"key": "a", "value": "x"}, {"key": "b", "value": "x"}]
    ) == [200, 429]
    await refused(attacker, "/v1/memory", {"key": "more", "value": "x"}, "memory_entries")
    # an overwrite of an existing entry does not grow the count: still allowed
    assert (await attacker.post("/v1/memory", {"key": "k0", "value": "y"}))[0] == 200
    # a deleted entry frees its slot
    assert (await attacker.delete("/v1/memory/k0"))[0] == 200
    assert (await attacker.post("/v1/memory", {"key": "more", "value": "x"}))[0] == 200
    # the victim is untouched
    for i in range(ENTRIES):
        assert (await victim.post("/v1/memory", {"key": f"v{i}", "value": "x"}))[0] == 200
    assert (await victim.get("/v1/memory/v0"))[1]["value"] == "x"


async def test_memory_bytes_quota(register):
    attacker, victim = await register("attacker"), await register("victim")
    assert (await attacker.post("/v1/memory", {"key": "big", "value": "x" * (BYTES - 10)}))[0] == 200
    await refused(attacker, "/v1/memory", {"key": "more", "value": "x" * 20}, "memory_bytes")
    assert (await attacker.get("/v1/memory/more"))[0] == 404  # refused writes leave nothing behind
    # shrinking the big entry makes room again
    assert (await attacker.post("/v1/memory", {"key": "big", "value": "x"}))[0] == 200
    assert (await attacker.post("/v1/memory", {"key": "more", "value": "x" * 20}))[0] == 200
    assert (await victim.post("/v1/memory", {"key": "big", "value": "x" * (BYTES - 10)}))[0] == 200


async def test_webhooks_quota(register, stack):
    attacker, victim = await register("attacker"), await register("victim")

    def hook(n: int) -> dict[str, Any]:
        return {"url": f"http://127.0.0.1:9/h{n}", "event_types": ["message.received"]}

    for i in range(WEBHOOKS - 1):
        assert (await attacker.post("/v1/webhooks", hook(i)))[0] == 200
    assert await at_last_slot(attacker, stack, "/v1/webhooks", [hook(10), hook(11)]) == [200, 429]
    await refused(attacker, "/v1/webhooks", hook(12), "webhooks")
    assert (await attacker.get("/v1/webhooks"))[1]["count"] == WEBHOOKS
    for i in range(WEBHOOKS):
        assert (await victim.post("/v1/webhooks", hook(i)))[0] == 200


async def test_schedules_quota(register, stack):
    attacker, victim = await register("attacker"), await register("victim")
    body = {"cron_expr": "*/5 * * * *", "payload": "x"}
    for _ in range(SCHEDULES - 1):
        assert (await attacker.post("/v1/schedules", body))[0] == 200
    assert await at_last_slot(attacker, stack, "/v1/schedules", [body, body]) == [200, 429]
    await refused(attacker, "/v1/schedules", body, "schedules")
    assert (await attacker.get("/v1/schedules"))[1]["count"] == SCHEDULES
    for _ in range(SCHEDULES):
        assert (await victim.post("/v1/schedules", body))[0] == 200
