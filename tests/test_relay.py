"""Relay: messages, inbox and read receipts, isolation, and WebSocket push across gateway replicas."""

from __future__ import annotations

import asyncio
import contextlib
import re

import aiohttp

from tests.helpers import until
from tests.queue_fixtures import replicas


async def test_send_inbox_and_read_contract(alice, bob):
    status, body = await alice.post(
        "/v1/relay/send", {"to_agent": bob.agent_id, "channel": "signals", "payload": '{"signal": "buy"}'}
    )
    assert (
        status == 200
        and body["status"] == "delivered"
        and re.fullmatch(r"msg_[0-9a-f]{16}", body["message_id"])
    )
    signal_id = body["message_id"]
    status, body = await alice.post("/v1/relay/send", {"to_agent": bob.agent_id, "payload": "hello"})
    direct_id = body["message_id"]

    status, inbox = await bob.get("/v1/relay/inbox")  # defaults: channel "direct", unread only
    assert status == 200 and inbox["channel"] == "direct" and inbox["count"] == 1
    message = inbox["messages"][0]
    assert (message["message_id"], message["from_agent"], message["channel"], message["payload"]) == (
        direct_id,
        alice.agent_id,
        "direct",
        "hello",
    )
    assert message["created_at"].endswith("+00:00")

    status, inbox = await bob.get(
        "/v1/relay/inbox", params={"channel": "signals", "unread_only": "true", "limit": 10, "offset": 0}
    )
    assert [m["message_id"] for m in inbox["messages"]] == [signal_id] and inbox["channel"] == "signals"

    assert await alice.post(f"/v1/relay/{direct_id}/read") == (
        404,
        {"detail": "Message not found or already read"},
    )
    assert await bob.post(f"/v1/relay/{direct_id}/read") == (200, {"message_id": direct_id, "status": "read"})
    assert (await bob.post(f"/v1/relay/{direct_id}/read"))[0] == 404
    assert (await bob.post("/v1/relay/msg_nope/read"))[0] == 404
    assert (await bob.get("/v1/relay/inbox"))[1]["count"] == 0  # read messages leave the unread view
    everything = (await bob.get("/v1/relay/inbox", params={"channel": "*", "unread_only": "false"}))[1]
    assert everything["count"] == 2


async def test_any_json_payload_round_trips_and_limits_hold(alice, bob):
    for payload in ({"signal": "buy", "price": 98500}, [1, 2, 3], 42, "x" * 10_000):
        assert (
            await alice.post(
                "/v1/relay/send", {"to_agent": bob.agent_id, "channel": "json", "payload": payload}
            )
        )[0] == 200
    got = (await bob.get("/v1/relay/inbox", params={"channel": "json", "limit": 10}))[1]["messages"]
    assert sorted(map(str, (m["payload"] for m in got))) == sorted(
        map(str, ({"signal": "buy", "price": 98500}, [1, 2, 3], 42, "x" * 10_000))
    )
    status, body = await alice.post("/v1/relay/send", {"to_agent": bob.agent_id, "payload": "x" * 10_001})
    assert status == 422 and body["detail"][0]["loc"] == ["body", "payload"]
    assert (await alice.post("/v1/relay/send", {"to_agent": bob.agent_id}))[0] == 422
    assert (await alice.post("/v1/relay/send", {"to_agent": bob.agent_id, "payload": None}))[0] == 422
    assert await alice.post("/v1/relay/send", {"to_agent": "agent_nope", "payload": "x"}) == (
        404,
        {"detail": "Recipient agent not found"},
    )
    assert (await alice.get("/v1/relay/inbox", params={"limit": 101}))[0] == 422


async def test_inbox_pagination_and_isolation(alice, bob, register):
    carol = await register("carol")
    for i in range(5):
        await alice.post("/v1/relay/send", {"to_agent": bob.agent_id, "channel": "page", "payload": f"m{i}"})
    first = (await bob.get("/v1/relay/inbox", params={"channel": "page", "limit": 2}))[1]["messages"]
    second = (await bob.get("/v1/relay/inbox", params={"channel": "page", "limit": 2, "offset": 2}))[1][
        "messages"
    ]
    assert [m["payload"] for m in first + second] == ["m4", "m3", "m2", "m1"]  # newest first
    assert (await carol.get("/v1/relay/inbox", params={"channel": "*", "unread_only": "false"}))[1][
        "count"
    ] == 0
    assert (await alice.get("/v1/relay/inbox", params={"channel": "page"}))[1]["count"] == 0
    assert (await carol.post(f"/v1/relay/{first[0]['message_id']}/read"))[0] == 404


async def test_rest_send_is_pushed_to_sockets_on_another_gateway(stack, register):
    sender, receiver = await register("ws-sender"), await register("ws-receiver")
    async with aiohttp.ClientSession() as http:
        # The same agent on two sockets; nothing is read before sending: the push subscription exists once
        # the handshake completes, and (as in the original) the server sends no frame first.
        sockets = [
            await http.ws_connect(f"{stack.url(1)}/v1/relay/ws", params={"api_key": receiver.key})
            for _ in range(2)
        ]
        status, body = await sender.on(stack.url(0)).post(
            "/v1/relay/send", {"to_agent": receiver.agent_id, "payload": {"n": 1}}
        )
        assert status == 200
        for ws in sockets:
            frame = await ws.receive_json(timeout=5)
            assert frame["event"] == "message.received" and frame["payload"] == {"n": 1}
            assert frame["message_id"] == body["message_id"] and frame["from_agent"] == sender.agent_id
        for ws in sockets:
            await ws.close()


async def test_socket_send_and_malformed_frames(stack, register):
    a, b = await register("ws-a"), await register("ws-b")
    async with aiohttp.ClientSession() as http:
        ws_a = await http.ws_connect(f"{stack.url(0)}/v1/relay/ws", params={"api_key": a.key})
        ws_b = await http.ws_connect(f"{stack.url(1)}/v1/relay/ws", params={"api_key": b.key, "hello": "1"})
        assert (await ws_b.receive_json(timeout=5)) == {"event": "connected", "agent_id": b.agent_id}
        await ws_a.send_str("{not json")
        assert (await ws_a.receive_json(timeout=5)) == {
            "event": "error",
            "error": "invalid JSON",
            "status": 400,
        }
        await ws_a.send_json([1, 2])
        assert (await ws_a.receive_json(timeout=5))["status"] == 422
        await ws_a.send_json({"to_agent": "agent_nope", "payload": "x"})
        frame = await ws_a.receive_json(timeout=5)
        assert frame["event"] == "error" and frame["status"] == 404
        await ws_a.send_json({"to_agent": b.agent_id})
        frame = await ws_a.receive_json(timeout=5)
        assert frame["status"] == 422 and frame["detail"][0]["loc"][-1] == "payload"
        await ws_a.send_bytes(b"\x00\x01")
        assert (await ws_a.receive_json(timeout=5))["status"] == 400
        # The connection survived all of that.
        await ws_a.send_json({"to_agent": b.agent_id, "channel": "direct", "payload": "over ws"})
        ack = await ws_a.receive_json(timeout=5)
        assert ack["event"] == "message.sent" and ack["status"] == "delivered"
        pushed = await ws_b.receive_json(timeout=5)
        assert pushed["payload"] == "over ws" and pushed["message_id"] == ack["message_id"]
        assert (await b.get("/v1/relay/inbox"))[1]["messages"][0]["payload"] == "over ws"
        await ws_a.close()
        await ws_b.close()


async def test_socket_requires_a_valid_key(stack):
    async with aiohttp.ClientSession() as http:
        for params in ({}, {"api_key": "af_" + "0" * 32}):
            try:
                await http.ws_connect(f"{stack.url(0)}/v1/relay/ws", params=params)
                raise AssertionError("connected without a valid key")
            except aiohttp.WSServerHandshakeError as exc:
                assert exc.status == 401


async def test_messages_are_encrypted_at_rest(alice, bob, db):
    await alice.post("/v1/relay/send", {"to_agent": bob.agent_id, "payload": "relay-canary-77"})
    raw = await db.fetchval("SELECT payload FROM relay.messages WHERE from_agent = $1", alice.agent_id)
    assert raw.startswith("ENC:") and "canary" not in raw
    await asyncio.sleep(0)


async def test_a_deleted_agent_neither_receives_nor_sends_with_two_relay_replicas(
    stack, http, admin, register
):
    """Both relay replicas know the agent (a recent yes from the directory); once the admin deletes it, a
    message to it is refused at once and its still-open socket can no longer send or receive."""
    alice, doomed = await register("alice-del"), await register("doomed")
    ws = await http.ws_connect(f"{stack.url(1)}/v1/relay/ws", params={"api_key": doomed.key, "hello": "1"})
    try:
        assert (await ws.receive_json(timeout=10))["event"] == "connected"
        async with replicas(stack, "relay", [1]):
            for i in range(12):  # requests spread over both replicas: each one remembers both agents
                sender = alice.on(stack.url(i % 2))
                assert (await sender.post("/v1/relay/send", {"to_agent": doomed.agent_id, "payload": i}))[
                    0
                ] == 200
                assert (await ws.receive_json(timeout=10))["event"] == "message.received"
                await ws.send_json({"to_agent": alice.agent_id, "payload": f"from-doomed-{i}"})
                assert (await ws.receive_json(timeout=10))["event"] == "message.sent"
            async with admin.delete(stack.url(0) + f"/admin/api/agents/{doomed.agent_id}") as r:
                assert r.status == 200
            for i in range(12):
                status, body = await alice.on(stack.url(i % 2)).post(
                    "/v1/relay/send", {"to_agent": doomed.agent_id, "payload": "too late"}
                )
                assert (status, body) == (404, {"detail": "Recipient agent not found"})
                if not ws.closed:
                    try:
                        await ws.send_json({"to_agent": alice.agent_id, "payload": "after deletion"})
                    except aiohttp.ClientConnectionResetError:
                        continue  # the gateways close a deleted agent's sockets: refused too
                    frame = await ws.receive(timeout=10)
                    if frame.type == aiohttp.WSMsgType.TEXT:
                        sent = frame.json()
                        assert sent["event"] != "message.sent" and sent.get("status") == 401, sent
            if not ws.closed:  # nothing more is pushed to the old socket
                with contextlib.suppress(TimeoutError):
                    frame = await ws.receive(timeout=1)
                    assert frame.type != aiohttp.WSMsgType.TEXT or "after" not in frame.data, frame

        async def nothing_from_doomed() -> bool:  # what it sent before is purged with it, and nothing after
            inbox = (await alice.get("/v1/relay/inbox", params={"channel": "*", "unread_only": "false"}))[1]
            return not [m for m in inbox["messages"] if m["from_agent"] == doomed.agent_id]

        await until("the deleted agent's messages to go", nothing_from_doomed)
    finally:
        await ws.close()
