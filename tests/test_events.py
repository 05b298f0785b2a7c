"""The event stream for agents without inbound HTTP: cursors, long poll, ack, and SSE resume across
gateway replicas with no gap; plus an outside NATS subscriber reading the documented subjects."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import nats
import orjson

from shared import subjects
from shared.events import make_event


async def _send(sender, to, text: str) -> None:
    assert (await sender.post("/v1/relay/send", {"to_agent": to.agent_id, "payload": text}))[0] == 200


async def _events(agent, **params):
    status, body = await agent.get("/v1/events", params=params)
    assert status == 200, body
    return body


async def test_cursor_paging_long_poll_and_ack(alice, bob):
    for i in range(3):
        await _send(alice, bob, f"e{i}")
    deadline = time.monotonic() + 10
    while (page := await _events(bob, after=0))["count"] < 3:  # the outbox publishes within a moment
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)
    assert [e["type"] for e in page["events"]] == ["message.received"] * 3
    cursors = [e["cursor"] for e in page["events"]]
    assert cursors == sorted(cursors) and page["cursor"] == cursors[-1]
    assert (await _events(bob, after=cursors[0]))["events"][0]["cursor"] == cursors[1]
    assert (await _events(alice, after=0))["count"] == 0  # another agent's events are never visible

    # Long poll: waits for the next event instead of returning empty at once.
    started = time.monotonic()
    waiter = asyncio.create_task(_events(bob, after=cursors[-1], wait=10))
    await asyncio.sleep(0.5)
    await _send(alice, bob, "late")
    late = await waiter
    assert late["count"] == 1 and late["events"][0]["type"] == "message.received"
    assert time.monotonic() - started < 8

    # Ack: without `after`, reading resumes after the acknowledged cursor.
    assert (await bob.post("/v1/events/ack", {"cursor": cursors[-1]}))[0] == 200
    assert [e["cursor"] for e in (await _events(bob))["events"]] == [late["events"][0]["cursor"]]
    assert (await _events(bob, after=0, types="job.completed"))["count"] == 0


async def _read_sse(url: str, key: str, want: int, last_id: str | None = None) -> list[tuple[str, dict]]:
    headers = {"X-API-Key": key, **({"Last-Event-ID": last_id} if last_id else {})}
    out: list[tuple[str, dict]] = []
    async with aiohttp.ClientSession() as http, http.get(url + "/v1/events/stream", headers=headers) as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/event-stream")
        event_id, data = None, None
        async for raw in r.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("data: "):
                data = orjson.loads(line[6:])
            elif line == "" and data is not None:
                out.append((event_id, data))
                event_id, data = None, None
                if len(out) >= want:
                    break
    return out


async def test_sse_resumes_on_another_gateway_without_a_gap(stack, alice, bob):
    for i in range(4):
        await _send(alice, bob, f"s{i}")
    first = await asyncio.wait_for(_read_sse(stack.url(0), bob.key, 2), 15)
    # Disconnected after two; more arrive meanwhile; reconnect to the other gateway with Last-Event-ID.
    for i in range(4, 6):
        await _send(alice, bob, f"s{i}")
    rest = await asyncio.wait_for(_read_sse(stack.url(1), bob.key, 4, last_id=first[-1][0]), 15)
    ids = [int(i) for i, _ in first + rest]
    assert ids == sorted(set(ids)) and len(ids) == 6  # every event once, in order, no gap
    assert all(e["type"] == "message.received" for _, e in first + rest)


async def test_outside_subscriber_reads_the_documented_subjects(stack, alice, bob):
    nc = await nats.connect(stack.infra.nats_url)
    try:
        js = nc.jetstream()
        sub = await js.subscribe(f"events.{bob.agent_id}.message.received", ordered_consumer=True)
        await _send(alice, bob, "for outsiders")
        msg = await sub.next_msg(timeout=10)
        event = orjson.loads(msg.data)
        assert event["type"] == "message.received" and event["agent_id"] == bob.agent_id
        assert {"id", "time", "version", "data"} <= set(event)
    finally:
        await nc.close()


async def test_event_items_carry_1_0_names_beside_ours(stack, alice, bob):
    """`event_type` is 1.0's name for the fact (`type` stays the name webhooks and NATS use): a message is
    `relay_message` (payload with 1.0's `from`), a completed job `job_completed`, a memory change published
    by the memory service (`memory.changed` on events.<agent>.memory.changed) `memory_changed`; a filter
    takes either name, and 1.0's JSON long poll answers with the same item."""
    await _send(alice, bob, "named")
    job = (await bob.post("/v1/queue/submit", {"payload": "p", "queue_name": "named"}))[1]["job_id"]
    await bob.post("/v1/queue/claim", params={"queue_name": "named"})
    await bob.post(f"/v1/queue/{job}/complete", params={"result": "done"})
    change = make_event(
        bob.agent_id, "memory.changed", {"key": "k", "namespace": "default", "action": "set", "version": 2}
    )
    nc = await nats.connect(stack.infra.nats_url)
    try:  # as the memory service's outbox publishes it
        await nc.jetstream().publish(
            subjects.event(bob.agent_id, "memory.changed"),
            orjson.dumps(change),
            headers={"Nats-Msg-Id": change["id"]},
        )
    finally:
        await nc.close()
    deadline = time.monotonic() + 10
    while (page := await _events(bob, after=0))["count"] < 3:
        assert time.monotonic() < deadline, page
        await asyncio.sleep(0.2)
    by_type = {e["type"]: e for e in page["events"]}
    message, done, memory = by_type["message.received"], by_type["job.completed"], by_type["memory.changed"]
    assert message["event_type"] == "relay_message" and message["payload"]["from"] == alice.agent_id
    assert message["payload"]["from_agent"] == alice.agent_id == message["data"]["from_agent"]
    assert (done["event_type"], done["payload"]["job_id"]) == ("job_completed", job)
    assert (memory["event_type"], memory["event_id"]) == ("memory_changed", change["id"])
    assert memory["payload"] == {"key": "k", "namespace": "default", "action": "set", "version": 2}
    for name, expected in (
        ("relay_message", "message.received"),
        ("message.received", "message.received"),
        ("memory_changed", "memory.changed"),
        ("job_completed", "job.completed"),
    ):
        for query in ({"event_type": name}, {"types": name}):  # wait: the first match may take a moment
            assert [e["type"] for e in (await _events(bob, after=0, wait=5, **query))["events"]] == [expected]
    status, first, _ = await bob.request(
        "GET", "/v1/events/stream", headers={"Accept": "application/json"}, params={"wait": 1}
    )
    assert status == 200 and first["event_type"] == "relay_message" and first["event_id"] == message["id"]
