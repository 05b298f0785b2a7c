"""MoltGrid 1.0's message and event routes through the real stack: a message's status and trace (accepted,
stored, pushed to a socket on another gateway, every webhook attempt, read), dead letters, the inbox cursor and
the all-channels inbox, acknowledging events by id, the agent's own SSE stream and 1.0's JSON long poll."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
import orjson

from tests.conftest import Api
from tests.helpers import Receiver, until

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
HOP = re.compile(r"^hop_[0-9a-f]{16}$")


async def send(sender: Api, to: Api, payload: Any = "hi", channel: str = "direct") -> str:
    status, body = await sender.post(
        "/v1/relay/send", {"to_agent": to.agent_id, "payload": payload, "channel": channel}
    )
    assert status == 200, body
    return body["message_id"]


async def trace_of(api: Api, message_id: str) -> list[dict[str, Any]]:
    status, body = await api.get(f"/v1/messages/{message_id}/trace")
    assert status == 200 and body["message_id"] == message_id, body
    return body["hops"]


async def test_status_and_trace_follow_the_message(alice, bob, register):
    carol = await register("carol")
    mid = await send(alice, bob, {"n": 1})
    for viewer in (alice, bob):  # sender and recipient
        status, body = await viewer.get(f"/v1/messages/{mid}/status")
        assert status == 200, body
        assert {
            k: body[k] for k in ("message_id", "from_agent", "to_agent", "status", "read_at", "acted_at")
        } == {
            "message_id": mid,
            "from_agent": alice.agent_id,
            "to_agent": bob.agent_id,
            "status": "delivered",
            "read_at": None,
            "acted_at": None,
        }
        assert (
            ISO.match(body["created_at"])
            and body["delivered_at"] == body["created_at"] == body["status_updated_at"]
        )
    hops = await trace_of(alice, mid)
    assert [(h["hop"], h["status"]) for h in hops] == [("accepted", "accepted"), ("stored", "stored")]
    assert all(HOP.match(h["hop_id"]) and ISO.match(h["recorded_at"]) for h in hops)
    assert hops[0]["recorded_at"] <= hops[1]["recorded_at"]
    assert await trace_of(bob, mid) == hops  # the same ids and times on every read

    assert (await bob.post(f"/v1/relay/{mid}/read"))[0] == 200
    status, body = await bob.get(f"/v1/messages/{mid}/status")
    assert (
        body["status"] == "read"
        and ISO.match(body["read_at"])
        and body["status_updated_at"] == body["read_at"]
    )
    assert [h["hop"] for h in await trace_of(alice, mid)] == ["accepted", "stored", "read"]

    # a third agent cannot see that the message exists
    for suffix in ("status", "trace"):
        assert await carol.get(f"/v1/messages/{mid}/{suffix}") == (404, {"detail": "Message not found"})
    assert await alice.get("/v1/messages/msg_nope/trace") == (404, {"detail": "Message not found"})


async def test_a_push_to_a_socket_on_another_gateway_is_a_hop(stack, http, alice, bob):
    ws = await http.ws_connect(f"{stack.url(1)}/v1/relay/ws", params={"api_key": bob.key, "hello": "1"})
    try:
        assert (await ws.receive_json(timeout=10))["event"] == "connected"
        mid = await send(alice.on(stack.url(0)), bob, "live")
        frame = await ws.receive_json(timeout=10)
        assert frame["message_id"] == mid

        async def pushed() -> list[dict[str, Any]]:
            return [h for h in await trace_of(alice, mid) if h["hop"] == "pushed"]

        hop = (await until("the pushed hop", pushed))[0]
        assert hop["status"] == "pushed" and hop["detail"] == {"gateway": "gateway-1", "sockets": 1}
        status = (await bob.get(f"/v1/messages/{mid}/status"))[1]
        assert status["pushed_at"] == hop["recorded_at"]
    finally:
        await ws.close()


async def test_webhook_attempts_are_hops_and_given_up_deliveries_are_dead_letters(alice, bob, register):
    carol = await register("carol")
    ok, gone = Receiver(), Receiver()
    gone.status = 410
    await ok.start()
    await gone.start()
    try:
        for api, receiver in ((bob, ok), (carol, gone)):
            status, _ = await api.post(
                "/v1/webhooks", {"url": receiver.url, "event_types": ["message.received"]}
            )
            assert status == 200
        to_bob, to_carol = (
            await send(alice, bob, "hooked"),
            await send(alice, carol, "refused", channel="ops"),
        )

        async def attempts(api: Api, mid: str) -> list[dict[str, Any]]:
            return [h for h in await trace_of(api, mid) if h["hop"] in ("webhook_attempt", "dead_lettered")]

        delivered = await until("bob's webhook hop", lambda: attempts(bob, to_bob))
        assert delivered[0]["status"] == "delivered" and delivered[0]["detail"]["status_code"] == 200
        assert delivered[0]["detail"]["attempt"] == 1 and "webhook_id" in delivered[0]["detail"]
        seen_by_sender = (await attempts(alice, to_bob))[0]["detail"]
        assert set(seen_by_sender) == {"attempt", "status_code", "latency_ms"}  # not the recipient's hook
        assert (await alice.get(f"/v1/messages/{to_bob}/status"))[1]["webhook_delivered_at"] == delivered[0][
            "recorded_at"
        ]

        refused = await until("carol's refused delivery", lambda: attempts(alice, to_carol))
        await until("the dead letter hop", lambda: _has(attempts(alice, to_carol), "dead_lettered"))
        refused = await attempts(alice, to_carol)
        assert [(h["hop"], h["status"]) for h in refused] == [
            ("webhook_attempt", "failed"),
            ("dead_lettered", "dead_lettered"),
        ]
        status, body = await alice.get("/v1/messages/dead-letter")
        assert status == 200 and body["count"] == 1
        letter = body["messages"][0]
        assert (letter["message_id"], letter["to_agent"], letter["channel"]) == (
            to_carol,
            carol.agent_id,
            "ops",
        )
        assert letter["fail_reason"] == "recipient's webhook answered 410 Gone (webhook disabled)"
        assert letter["dl_id"].startswith("dlv_") and ISO.match(letter["created_at"])
        # the message itself is still in carol's inbox: nothing acknowledged is lost
        inbox = (await carol.get("/v1/relay/inbox", params={"channel": "ops"}))[1]
        assert [m["message_id"] for m in inbox["messages"]] == [to_carol]
        # dead letters are the sender's: the others see none of them
        for api in (bob, carol):
            assert (await api.get("/v1/messages/dead-letter")) == (200, {"messages": [], "count": 0})
        assert (await alice.get("/v1/messages/dead-letter", params={"limit": 0}))[0] == 422
    finally:
        await ok.stop()
        await gone.stop()


async def _has(hops: Any, kind: str) -> bool:
    return any(h["hop"] == kind for h in await hops)


async def test_the_inbox_cursor_and_the_all_channels_inbox(alice, bob):
    ids = [await send(alice, bob, f"m{i}", channel=("direct", "news", "ops")[i % 3]) for i in range(5)]
    # the seed's default is unchanged: the direct channel, newest first
    status, body = await bob.get("/v1/relay/inbox")
    assert status == 200 and [m["message_id"] for m in body["messages"]] == [ids[3], ids[0]]
    assert body["channel"] == "direct" and body["next_cursor"] == ids[3]
    # every channel: "*" (ours) or an empty channel (1.0 omits it; here the seed's default wins when omitted)
    for channel, echoed in (("*", "*"), ("", None)):
        status, body = await bob.get("/v1/relay/inbox", params={"channel": channel, "limit": 100})
        assert status == 200 and [m["message_id"] for m in body["messages"]] == ids[::-1]
        assert body["channel"] == echoed
    # forward pagination from a message: oldest first, continue from next_cursor
    pages, cursor = [], ids[0]
    while cursor is not None:
        status, body = await bob.get("/v1/relay/inbox", params={"channel": "*", "after": cursor, "limit": 2})
        assert status == 200, body
        pages.append([m["message_id"] for m in body["messages"]])
        cursor = body["next_cursor"]
    assert pages == [ids[1:3], ids[3:5], []]
    # a cursor must be a message of one's own inbox
    assert await alice.get("/v1/relay/inbox", params={"after": ids[0]}) == (
        400,
        {"detail": "Invalid cursor: no such message in your inbox"},
    )
    # new messages appear after the last cursor
    late = await send(alice, bob, "late", channel="news")
    status, body = await bob.get("/v1/relay/inbox", params={"channel": "*", "after": ids[4]})
    assert [m["message_id"] for m in body["messages"]] == [late] and body["next_cursor"] == late


async def _events(api: Api, **params: Any) -> dict[str, Any]:
    status, body = await api.get("/v1/events", params=params)
    assert status == 200, body
    return body


async def test_events_acknowledged_by_id_or_by_cursor(alice, bob):
    ids = [await send(alice, bob, f"e{i}") for i in range(3)]

    async def three() -> dict[str, Any] | None:
        body = await _events(bob)
        return body if body["count"] == 3 else None

    listed = (await until("three events", three))["events"]
    assert [e["payload"]["message_id"] for e in listed] == ids
    first = listed[0]
    assert (first["event_id"], first["event_type"], first["created_at"]) == (
        first["id"],
        "relay_message",  # 1.0's name; `type` keeps ours
        first["time"],
    )
    # 1.0: acknowledge by id; those events are left out of reads that do not name a cursor
    assert await bob.post(
        "/v1/events/ack", {"event_ids": [listed[0]["event_id"], listed[2]["event_id"]]}
    ) == (200, {"acknowledged": 2})
    assert await bob.post("/v1/events/ack", {"event_ids": [listed[0]["event_id"]]}) == (
        200,
        {"acknowledged": 0},
    )
    assert await bob.post("/v1/events/ack", {"event_ids": []}) == (200, {"acknowledged": 0})  # 1.0's example
    assert [e["event_id"] for e in (await _events(bob))["events"]] == [listed[1]["event_id"]]
    assert (await _events(bob, after=0))["count"] == 3  # an explicit cursor reads everything after it
    assert [e["event_id"] for e in (await _events(bob, event_type="message.received"))["events"]] == [
        listed[1]["event_id"]
    ]
    # ours: a cursor; both at once
    status, body = await bob.post("/v1/events/ack", {"cursor": listed[1]["cursor"], "event_ids": ["evt_x"]})
    assert (status, body) == (
        200,
        {"status": "acknowledged", "cursor": listed[1]["cursor"], "acknowledged": 1},
    )
    assert (await _events(bob))["count"] == 0
    status, body = await bob.post("/v1/events/ack", {})
    assert status == 422 and body["detail"][0]["loc"] == ["body", "event_ids"]
    status, body = await bob.post("/v1/events/ack", {"event_ids": "evt_x"})
    assert status == 422 and body["detail"][0]["loc"][:2] == ["body", "event_ids"]


async def _first_sse_event(url: str, key: str) -> tuple[str, dict[str, Any]]:
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers={"X-API-Key": key, "Accept": "text/event-stream"}) as r:
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/event-stream")
            event_id = None
            async for raw in r.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("id: "):
                    event_id = line[4:]
                elif line.startswith("data: "):
                    assert event_id is not None
                    return event_id, orjson.loads(line[6:])
    raise AssertionError("stream ended")


async def test_an_agent_reads_its_own_event_stream_only(stack, alice, bob):
    mid = await send(alice, bob, "for the stream")
    event_id, event = await asyncio.wait_for(
        _first_sse_event(f"{stack.url(1)}/v1/agents/{bob.agent_id}/events", bob.key), 15
    )
    assert event_id.isdigit() and event["type"] == "message.received" and event["data"]["message_id"] == mid
    status, body = await alice.get(f"/v1/agents/{bob.agent_id}/events")
    assert (status, body) == (403, {"detail": "Agents can only subscribe to their own event stream"})
    status, _ = await Api(alice.http, stack.base_url).get(f"/v1/agents/{bob.agent_id}/events")
    assert status == 401


async def test_the_stream_route_long_polls_json_for_json_clients(stack, alice, bob):
    json_only = {"Accept": "application/json"}
    mid = await send(alice, bob, "polled")
    status, event, _ = await bob.request("GET", "/v1/events/stream", headers=json_only)
    assert status == 200 and event["event_type"] == "relay_message" and event["payload"]["message_id"] == mid
    assert {"event_id", "event_type", "payload", "created_at", "cursor"} <= set(event)
    # the same event until it is acknowledged; then none: 204 after the wait
    assert (await bob.request("GET", "/v1/events/stream", headers=json_only))[1]["event_id"] == event[
        "event_id"
    ]
    assert (await bob.post("/v1/events/ack", {"event_ids": [event["event_id"]]}))[1] == {"acknowledged": 1}
    status, body, _ = await bob.request("GET", "/v1/events/stream", headers=json_only, params={"wait": 1})
    assert status == 204 and body is None
    # a JSON client waiting when the event arrives gets it at once
    waiter = asyncio.create_task(
        bob.on(stack.url(1)).request("GET", "/v1/events/stream", headers=json_only, params={"wait": 15})
    )
    await asyncio.sleep(0.5)
    late = await send(alice, bob, "late")
    status, event, _ = await asyncio.wait_for(waiter, 20)
    assert status == 200 and event["payload"]["message_id"] == late


async def test_a_purged_agent_leaves_no_acks_or_hops(stack, http, admin, register, db):
    """What a purge leaves at rest is read from the tables (the agent is gone: no route shows it any more);
    the acknowledgements and the push hop are made through the stack."""
    sender, doomed = await register("sender"), await register("doomed")
    ws = await http.ws_connect(f"{stack.url(0)}/v1/relay/ws", params={"api_key": doomed.key, "hello": "1"})
    try:
        assert (await ws.receive_json(timeout=10))["event"] == "connected"
        mid = await send(sender, doomed, "bye")
        assert (await ws.receive_json(timeout=10))["message_id"] == mid

        async def pushed() -> list[dict[str, Any]]:
            return [h for h in await trace_of(sender, mid) if h["hop"] == "pushed"]

        await until("the pushed hop", pushed)
    finally:
        await ws.close()
    assert (await doomed.post("/v1/events/ack", {"event_ids": ["evt_a", "evt_b"]}))[1] == {"acknowledged": 2}
    async with admin.delete(stack.url(0) + f"/admin/api/agents/{doomed.agent_id}") as r:
        assert r.status == 200

    async def purged() -> bool:
        return not await db.fetchval(
            "SELECT count(*) FROM relay.acked_events WHERE agent_id = $1", doomed.agent_id
        )

    await until("the agent's acknowledgements to go", purged)
    assert not await db.fetchval("SELECT count(*) FROM relay.message_hops WHERE message_id = $1", mid)
