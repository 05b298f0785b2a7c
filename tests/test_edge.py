"""The gateway's edge through the real stack: headers on every answer, error timestamps, where a key may come
from, the events socket, live connections closed when a key is rotated or an agent deleted, admin pages'
headers and cookie, and the routing table that shows every route."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from gateway.app import create_app, handlers
from gateway.config import GatewaySettings
from gateway.routes import TABLE, Kind, canonical
from tests.helpers import ISO_UTC, until


async def test_version_header_on_every_answer_and_error_bodies_carry_a_timestamp(anon, alice):
    for status_want, method, path in ((200, "GET", "/v1/health"), (404, "GET", "/v1/no-such-route")):
        status, body, headers = await anon.request(method, path, envelope=True)
        assert status == status_want and headers["X-MoltGrid-Version"]
    status, body, headers = await anon.request("GET", "/v1/no-such-route", envelope=True)
    assert body["error"] == "not_found" and ISO_UTC.fullmatch(body["timestamp"])
    status, body, headers = await anon.request("GET", "/v1/memory", envelope=True)
    assert status == 401 and ISO_UTC.fullmatch(body["timestamp"]) and "X-MoltGrid-Version" in headers
    status, body, headers = await alice.request(
        "POST", "/v1/queue/submit", json={"payload": "x", "priority": 11}, envelope=True
    )
    assert status == 422 and ISO_UTC.fullmatch(body["timestamp"])
    assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(headers)


async def test_memory_reads_and_writes_send_the_version_as_etag(alice):
    status, body, headers = await alice.request("POST", "/v1/memory", json={"key": "e", "value": "1"})
    assert status == 200 and headers["ETag"] == str(body["version"])
    # GET /v1/memory/{key} declares the same field; its answer carries no version yet (the memory service's),
    # so the entry's meta is the read that shows it today
    status, body, headers = await alice.request("GET", "/v1/memory/e/meta")
    assert status == 200 and headers["ETag"] == str(body["version"])
    assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(headers)
    etag = headers["ETag"]
    status, body, headers = await alice.request(
        "POST", "/v1/memory", json={"key": "e", "value": "2"}, headers={"If-Match": etag}
    )
    assert status == 200 and headers["ETag"] == str(body["version"]) != etag
    status, _, _ = await alice.request(
        "POST", "/v1/memory", json={"key": "e", "value": "3"}, headers={"If-Match": etag}
    )
    assert status in (409, 412)


async def test_api_key_in_the_query_only_where_a_row_accepts_it(alice, http, stack):
    async with http.get(f"{stack.base_url}/v1/memory", params={"api_key": alice.key}) as r:
        assert r.status == 401
    async with http.get(f"{stack.base_url}/v1/directory/me", params={"api_key": alice.key}) as r:
        assert r.status == 401
    async with http.ws_connect(
        f"{stack.base_url}/v1/relay/ws", params={"api_key": alice.key, "hello": "1"}
    ) as ws:
        assert (await ws.receive_json(timeout=5))["agent_id"] == alice.agent_id


async def test_stream_cursor_beyond_the_sequence_range_is_a_json_400(alice, http, stack):
    headers = {"X-API-Key": alice.key}
    async with http.get(
        f"{stack.base_url}/v1/events/stream", params={"after": "18446744073709551615"}, headers=headers
    ) as r:
        assert r.status == 400 and (await r.json())["error"] == "bad_request"


async def _send(sender, to, text: str) -> None:
    assert (await sender.post("/v1/relay/send", {"to_agent": to.agent_id, "payload": text}))[0] == 200


async def _next_event(ws: aiohttp.ClientWebSocketResponse) -> dict:
    while True:
        frame = await ws.receive_json(timeout=10)
        if frame["type"] != "ping":
            return frame


async def test_events_socket_sends_the_backlog_then_live_events_and_takes_acks(alice, bob, http, stack):
    await _send(alice, bob, "before")
    await until("the first event published", lambda: _count(bob))
    async with http.ws_connect(f"{stack.url(0)}/v1/events/ws", params={"api_key": bob.key}) as ws:
        assert await ws.receive_json(timeout=5) == {"type": "connected", "agent_id": bob.agent_id}
        first = await _next_event(ws)
        assert first["type"] == "event" and first["event_type"] == "relay_message"
        assert set(first) == {"type", "event_id", "event_type", "payload", "created_at"}
        await _send(alice.on(stack.url(1)), bob, "live")  # through the other gateway
        live = await _next_event(ws)
        assert live["event_type"] == "relay_message" and live["event_id"] != first["event_id"]
        await ws.send_json({"type": "ack", "event_ids": [first["event_id"]]})
        await asyncio.sleep(0.5)
    async with http.ws_connect(f"{stack.url(1)}/v1/events/ws", params={"api_key": bob.key}) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "connected"
        assert (await _next_event(ws))["event_id"] == live["event_id"]  # the acknowledged one is not resent


async def _count(agent) -> bool:
    status, body = await agent.get("/v1/events", params={"after": 0})
    return status == 200 and body["count"] > 0


@pytest.mark.parametrize("key", [None, "af_" + "0" * 32])
async def test_events_socket_without_a_valid_key_closes_with_4001(http, stack, key):
    params = {"api_key": key} if key else {}
    async with http.ws_connect(f"{stack.base_url}/v1/events/ws", params=params) as ws:
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.CLOSE and ws.close_code == 4001


async def _open_live(http, stack, key: str):
    relay = await http.ws_connect(f"{stack.url(0)}/v1/relay/ws", params={"api_key": key, "hello": "1"})
    assert (await relay.receive_json(timeout=5))["event"] == "connected"
    events = await http.ws_connect(f"{stack.url(1)}/v1/events/ws", params={"api_key": key})
    assert (await events.receive_json(timeout=5))["type"] == "connected"
    sse = await http.get(
        f"{stack.url(1)}/v1/events/stream", headers={"X-API-Key": key, "Accept": "text/event-stream"}
    )
    assert sse.status == 200
    return relay, events, sse


async def _assert_closed_within_a_second(relay, events, sse) -> None:
    started = time.monotonic()
    for ws in (relay, events):
        msg = await ws.receive(timeout=3)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
    assert (await asyncio.wait_for(sse.content.read(), 3)) is not None  # the stream ends
    sse.release()
    assert time.monotonic() - started < 1.5
    for ws in (relay, events):
        await ws.close()


async def test_key_rotation_closes_the_agents_live_connections_on_every_gateway(alice, http, stack):
    relay, events, sse = await _open_live(http, stack, alice.key)
    status, _ = await alice.post("/v1/agents/rotate-key")
    assert status == 200
    await _assert_closed_within_a_second(relay, events, sse)
    for i in (0, 1):
        assert (await alice.on(stack.url(i)).get("/v1/directory/me"))[0] == 401


async def test_admin_delete_closes_the_agents_live_connections(alice, admin, http, stack):
    relay, events, sse = await _open_live(http, stack, alice.key)
    async with admin.delete(f"{stack.url(0)}/admin/api/agents/{alice.agent_id}") as r:
        assert r.status == 200
    await _assert_closed_within_a_second(relay, events, sse)
    assert (await alice.get("/v1/directory/me"))[0] == 401


async def test_admin_pages_refuse_framing_and_the_cookie_is_secure_behind_tls(admin, http, stack):
    async with admin.get(stack.url(0) + "/admin") as r:
        assert r.status == 200 and r.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    async with http.get(stack.url(0) + "/admin/login") as r:
        assert r.headers["X-Frame-Options"] == "DENY"
    from tests.conftest import ADMIN_PASSWORD

    async with http.post(
        stack.url(0) + "/admin/api/login",
        json={"password": ADMIN_PASSWORD},
        headers={"X-Forwarded-Proto": "https"},
    ) as r:
        assert r.status == 200 and "Secure" in r.headers["Set-Cookie"]


def test_every_route_the_app_serves_is_a_row_of_the_table():
    app = create_app(GatewaySettings())
    rows = {(r.method, canonical(r.path)) for r in TABLE}
    served = {
        (r.method, r.resource.canonical)
        for r in app.router.routes()
        if r.method != "HEAD" and r.resource is not None
    }
    assert served == rows
    assert all(r.kind is Kind.FORWARD or r.handler for r in TABLE)
    assert {r.handler for r in TABLE if r.kind is not Kind.FORWARD} >= set(handlers())


async def test_the_gateways_own_pages_answer_head(http, stack):
    for path in ("/", "/v1/health", "/docs"):
        async with http.head(stack.base_url + path) as r:
            assert r.status == 200, path


async def test_health_adds_components_for_a_keyed_caller(anon, alice):
    status, public = await anon.get("/v1/health")
    assert status == 200 and "components" not in public and "websocket_connections" in public["stats"]
    status, keyed = await alice.get("/v1/health")
    assert status == 200 and set(keyed["stats"]) == set(public["stats"]) and "services" in keyed
    assert set(keyed["components"]) == {"database", "relay", "websocket", "sse"}
    assert all(c["status"] == "ok" for c in keyed["components"].values()), keyed["components"]


@pytest.mark.parametrize("encoding", ["br", "zstd", "x-unknown"])
async def test_a_body_encoding_the_gateway_cannot_read_is_a_json_4xx(alice, http, stack, encoding):
    headers = {"X-API-Key": alice.key, "Content-Encoding": encoding, "Content-Type": "application/json"}
    async with http.post(f"{stack.base_url}/v1/memory", data=b"\x1b\x00\x00", headers=headers) as r:
        assert 400 <= r.status < 500 and r.content_type == "application/json", (r.status, await r.text())
        body = await r.json()
        assert ISO_UTC.fullmatch(body["timestamp"]) and body["error"] and body["detail"]


async def test_a_gzip_body_is_still_read(alice, http, stack):
    import gzip

    headers = {"X-API-Key": alice.key, "Content-Encoding": "gzip", "Content-Type": "application/json"}
    data = gzip.compress(b'{"key": "gz", "value": "zipped"}')
    async with http.post(f"{stack.base_url}/v1/memory", data=data, headers=headers) as r:
        assert r.status == 200, await r.text()
    assert (await alice.get("/v1/memory/gz"))[1]["value"] == "zipped"
