"""Text utilities (pure functions, exact outputs) and GET /v1/stats (scatter-gather over the owners)."""

from __future__ import annotations

import asyncio
import time

import pytest

from services.coordination.text import operations as text
from shared.runtime.stack import selected_components
from shared.runtime.supervisor import HOST, SERVICES_ENV

CONTRACT = [
    (
        "Check https://example.com and http://x.org/a today",
        "extract_urls",
        {"urls": ["https://example.com", "http://x.org/a"]},
    ),
    (
        "hello world",
        "hash_sha256",
        {"hash": "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"},
    ),
    ("hello world", "base64_encode", {"encoded": "aGVsbG8gd29ybGQ="}),
    ("aGVsbG8gd29ybGQ=", "base64_decode", {"decoded": "hello world"}),
    (
        "Hello world. How are you? Fine!",
        "tokenize_sentences",
        {"sentences": ["Hello world.", "How are you?", "Fine!"]},
    ),
    ("line1\nline2\nline1", "deduplicate_lines", {"lines": ["line1", "line2"], "removed": 1}),
    ("one two three", "word_count", {"word_count": 3}),
    ("a b  c", "char_count", {"char_count": 6, "char_count_no_spaces": 3}),
    (
        "mail ann@example.com or bo.b+x@mail.co.uk",
        "extract_emails",
        {"emails": ["ann@example.com", "bo.b+x@mail.co.uk"]},
    ),
]
STATS_FIELDS = [
    "agent_id",
    "name",
    "created_at",
    "total_requests",
    "memory_keys",
    "jobs_submitted",
    "messages_sent",
    "messages_received",
    "active_webhooks",
    "active_schedules",
    "shared_memory_keys",
    "credits",
    "reputation",
    "collaborations_given",
    "collaborations_received",
    "marketplace_tasks_created",
    "marketplace_tasks_completed",
]


@pytest.mark.parametrize("value, operation, result", CONTRACT)
async def test_every_operation_over_http(alice, value, operation, result):
    assert await alice.post("/v1/text/process", {"text": value, "operation": operation}) == (
        200,
        {"operation": operation, "result": result, "agent_id": alice.agent_id},  # agent_id: 1.0's, additive
    )


TRAILING = [
    ("Visit https://moltgrid.net.", "extract_urls", {"urls": ["https://moltgrid.net"]}),
    ("(https://example.com)", "extract_urls", {"urls": ["https://example.com"]}),
    (
        "see https://a.example/x?, https://b.example/y!; https://en.wikipedia.org/wiki/Foo_(bar).",
        "extract_urls",
        {"urls": ["https://a.example/x", "https://b.example/y", "https://en.wikipedia.org/wiki/Foo_(bar)"]},
    ),
    ("write to ann@example.com.", "extract_emails", {"emails": ["ann@example.com"]}),
    (
        "(bo@mail.co.uk), cy@x.org; dee@y.net:",
        "extract_emails",
        {"emails": ["bo@mail.co.uk", "cy@x.org", "dee@y.net"]},
    ),
]


@pytest.mark.parametrize("value, operation, result", TRAILING)
async def test_extracted_links_and_addresses_lose_trailing_punctuation(alice, value, operation, result):
    assert text.OPERATIONS[operation](value) == result
    assert await alice.post("/v1/text/process", {"text": value, "operation": operation}) == (
        200,
        {"operation": operation, "result": result, "agent_id": alice.agent_id},
    )


# Inputs at the 50,000-character limit that make backtracking patterns rescan runs from every position.
ADVERSARIAL = {
    "letters": "a" * 50_000,
    "at_signs": "a@" * 25_000,
    "dots": "a." * 25_000,
    "plus_then_at": "a+" * 12_500 + "a@" * 12_500,
    "domains_without_dot": ("a" * 99 + "@") * 500,
    "url_prefixes": "http://" * 7_142,
    "spaces": " " * 50_000,
    "sentence_ends": ".! " * 16_666,
    "emoji": "\U0001f600" * 50_000,  # 200 KB of UTF-8
    "lines": "x\n" * 25_000,
}


def test_every_operation_is_linear_on_hostile_input():
    for operation, run in text.OPERATIONS.items():
        for name, value in ADVERSARIAL.items():
            started = time.perf_counter()
            try:
                run(value)
            except ValueError:
                pass
            assert time.perf_counter() - started < 0.5, (operation, name)


async def test_hostile_input_over_http_answers_fast(register):
    for operation in text.OPERATIONS:
        agent = await register(f"text-{operation}")  # one agent per operation: 10 requests each
        for name, value in ADVERSARIAL.items():
            started = time.monotonic()
            status, _ = await agent.post("/v1/text/process", {"text": value, "operation": operation})
            elapsed = time.monotonic() - started
            assert status in (200, 400) and elapsed < 1.0, (operation, name, status, elapsed)


@pytest.fixture
async def one_loop(stack):
    """Coordination and memory in one process, on one event loop (the default layout's shared host)."""
    if any({"coordination", "memory"} <= set(hosted) for hosted in stack.hosted.values()):
        yield  # already so
        return
    stack.stop_component("coordination")
    stack.stop_component("memory")
    stack.sup.spawn(HOST, 9, {SERVICES_ENV: "coordination,memory"})
    try:
        await stack.wait_ready()
        yield
    finally:
        stack.sup.children.pop(f"{HOST}-9").stop()
        stack.start_component("coordination")
        stack.start_component("memory")
        await stack.wait_ready()


async def test_heavy_text_requests_do_not_slow_another_agent(one_loop, register):
    attackers = [await register(f"attacker-{i}") for i in range(3)]
    victim = await register("victim")
    await victim.post("/v1/memory", {"key": "k", "value": "v"})
    heavy = [ADVERSARIAL["letters"], ADVERSARIAL["at_signs"], ADVERSARIAL["domains_without_dot"]]
    stop = asyncio.Event()
    statuses: list[int] = []

    async def attack(agent) -> None:
        while not stop.is_set():
            batch = [
                agent.post("/v1/text/process", {"text": value, "operation": "extract_emails"})
                for value in heavy
            ]
            statuses.extend(status for status, _ in await asyncio.gather(*batch))

    attacks = [asyncio.create_task(attack(a)) for a in attackers]
    await asyncio.sleep(0.2)
    latencies = []
    try:
        for _ in range(20):
            started = time.monotonic()
            status, _ = await victim.get("/v1/memory")
            latencies.append(time.monotonic() - started)
            assert status == 200
    finally:
        stop.set()
        await asyncio.gather(*attacks)
    assert max(latencies) < 1.0, sorted(latencies)[-3:]
    assert statuses and set(statuses) <= {200, 429, 503}, statuses


async def test_a_text_request_over_its_budget_answers_503(stack, register):
    agent = await register("budget")
    stack.stop_component("coordination")
    stack.sup.spawn("coordination", 1, {"MOLTGRID_TEXT_BUDGET_SECONDS": "0.001"})
    try:
        await stack.wait_ready()
        started = time.monotonic()
        # ~100 times the budget of work (tens of milliseconds), so it cannot finish in time
        hostile = {"text": ADVERSARIAL["at_signs"], "operation": "extract_emails"}
        status, body = await agent.post("/v1/text/process", hostile)
        assert time.monotonic() - started < 2.0
        assert status == 503 and "time budget" in body["detail"], body
    finally:
        stack.sup.children.pop("coordination-1").stop()
        stack.start_component("coordination")
        await stack.wait_ready()
    assert (await agent.post("/v1/text/process", {"text": "a b", "operation": "word_count"}))[0] == 200


def test_operations_are_pure_functions():
    for value, operation, result in CONTRACT:
        assert text.OPERATIONS[operation](value) == result
    assert text.deduplicate_lines("") == {"lines": [], "removed": 0}
    assert text.tokenize_sentences("  ") == {"sentences": []}
    with pytest.raises(ValueError):
        text.base64_decode("not base64!")


async def test_errors(alice, anon):
    assert await alice.post("/v1/text/process", {"text": "x", "operation": "nope"}) == (
        400,
        {
            "detail": "Unknown operation. Available: ['word_count', 'char_count', 'extract_urls', 'extract_emails', "
            "'tokenize_sentences', 'deduplicate_lines', 'hash_sha256', 'base64_encode', 'base64_decode']"
        },
    )
    status, body = await alice.post("/v1/text/process", {"text": "%%%", "operation": "base64_decode"})
    assert status == 400 and body["detail"].startswith("Operation failed")
    assert (await alice.post("/v1/text/process", {"operation": "word_count"}))[0] == 422
    assert (await alice.post("/v1/text/process", {"text": "x" * 50_001, "operation": "word_count"}))[0] == 422
    assert (await anon.post("/v1/text/process", {"text": "x", "operation": "word_count"}))[0] == 401


async def test_stats_gathers_every_owner(alice, bob):
    running = set(selected_components())
    await alice.post("/v1/memory", {"key": "k", "value": "v"})
    await alice.post("/v1/marketplace/tasks", {"title": "t", "reward_credits": 30})
    await alice.post(
        "/v1/directory/collaborations", {"partner_agent": bob.agent_id, "outcome": "success", "rating": 4}
    )
    await bob.post(
        "/v1/directory/collaborations", {"partner_agent": alice.agent_id, "outcome": "partial", "rating": 3}
    )
    status, body = await alice.get("/v1/stats")
    assert status == 200 and list(body) == [*STATS_FIELDS, "degraded"]
    assert (body["agent_id"], body["name"]) == (alice.agent_id, "alice")
    assert (body["reputation"], body["collaborations_given"], body["collaborations_received"]) == (3.0, 1, 1)
    expect = {
        "memory": {"memory_keys": 1, "shared_memory_keys": 0},
        "marketplace": {"credits": 170, "marketplace_tasks_created": 1, "marketplace_tasks_completed": 0},
        "queue": {"jobs_submitted": 0},
        "scheduler": {"active_schedules": 0},
    }
    for service, fields in expect.items():
        if service in running:
            assert {k: body[k] for k in fields} == fields and service not in body["degraded"]
    if "relay" not in running:
        assert "relay" in body["degraded"] and body["messages_sent"] is None
    # the gateways count requests in memory and flush every few seconds, so the count converges
    deadline = time.monotonic() + 10
    while ((await alice.get("/v1/stats"))[1]["total_requests"] or 0) < 6:
        assert time.monotonic() < deadline, "total_requests never counted alice's requests"
        await asyncio.sleep(0.5)


@pytest.mark.skipif("scheduler" not in selected_components(), reason="scheduler not started")
async def test_a_missing_service_degrades_its_fields_not_the_request(stack, alice):
    stack.stop_component("scheduler")
    try:
        status, body = await alice.get("/v1/stats")
        assert status == 200 and "scheduler" in body["degraded"] and body["active_schedules"] is None
        assert body["reputation"] == 0.0 and body["agent_id"] == alice.agent_id
    finally:
        stack.start_component("scheduler")
        await stack.wait_ready()
