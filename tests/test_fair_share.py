"""No tenant can slow or starve another at the edge: each test attacks the running stack as a hostile tenant
would (long polls, timed-out sends retried, admin password guesses, WebSocket floods, anonymous scrapes,
slowloris) and asserts the victim's latency and data, not only the attacker's refusals."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import nats
import orjson
import pytest

from gateway.config import GatewaySettings
from shared.bus import sign
from tests.conftest import Api
from tests.helpers import until
from tests.stack import Infra, Stack

LONG_POLLS_PER_AGENT = GatewaySettings().live_per_agent  # the default cap (20)
VICTIM_P99_S = 1.0


def p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    value = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"victim p99 {value:.3f} s over {len(ordered)} calls")  # shown with -s: the attack's cost
    return value


async def timed(calls: int, one: Callable[[int], Awaitable[Any]]) -> list[float]:
    """Latency of `calls` sequential calls of `one` (the victim's steady traffic)."""
    out = []
    for i in range(calls):
        started = time.perf_counter()
        await one(i)
        out.append(time.perf_counter() - started)
    return out


def session(local: str | None = None) -> aiohttp.ClientSession:
    """A client without a connection cap (attackers hold many at once), optionally from another loopback
    address so its per-address budgets do not touch the other tests'."""
    connector = aiohttp.TCPConnector(limit=0, local_addr=(local, 0) if local else None)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))


async def _agents(http: aiohttp.ClientSession, base: str, name: str, n: int) -> list[Api]:
    out = []
    for i in range(n):
        status, body = await Api(http, base).post("/v1/register", {"name": f"{name}-{i}"})
        assert status == 200, body
        out.append(Api(http, base, body["api_key"], body["agent_id"]))
    return out


async def test_long_polls_hold_no_relay_slot_and_are_capped_per_agent(stack, register) -> None:
    """Seven agents hold 140 long polls (more than a relay replica's 128 request slots): another agent's
    sends and inbox reads stay fast and correct, and an agent's long poll beyond its cap answers 429."""
    victim, peer = await register("victim"), await register("victim-peer")
    async with session() as http:
        attackers = await _agents(http, stack.base_url, "poller", 7)
        polls = [
            asyncio.ensure_future(a.get("/v1/events", params={"wait": 15}))
            for a in attackers
            for _ in range(LONG_POLLS_PER_AGENT)
        ]
        await asyncio.sleep(1.5)  # every long poll is waiting
        assert not any(p.done() for p in polls)

        statuses: list[int] = []

        async def send_and_read(i: int) -> None:
            status, _ = await victim.post(
                "/v1/relay/send", {"to_agent": peer.agent_id, "payload": f"m{i}", "channel": "fair"}
            )
            statuses.append(status)
            status, _inbox = await peer.get("/v1/relay/inbox", params={"channel": "fair"})
            statuses.append(status)

        latencies = await timed(20, send_and_read)
        assert p99(latencies) < VICTIM_P99_S, latencies
        assert set(statuses) == {200}
        status, inbox = await peer.get("/v1/relay/inbox", params={"channel": "fair", "limit": 100})
        payloads = sorted(m["payload"] for m in (inbox["messages"] if isinstance(inbox, dict) else inbox))
        assert payloads == sorted(f"m{i}" for i in range(20))
        status, body, _headers = await attackers[0].request(
            "GET", "/v1/events/stream", headers={"Accept": "application/json"}, envelope=True
        )
        assert status == 429 and body["error"] == "rate_limit_exceeded" and body["retry_after_seconds"] >= 1
        assert (await attackers[1].get("/v1/events", params={"wait": 5}))[0] == 429

        # a long poll still wakes up on its agent's event, from the gateway's subscription
        woken = asyncio.ensure_future(victim.get("/v1/events", params={"wait": 10}))
        await asyncio.sleep(0.5)
        started = time.perf_counter()
        await peer.post("/v1/relay/send", {"to_agent": victim.agent_id, "payload": "wake"})
        status, events = await woken
        assert status == 200 and events["events"] and time.perf_counter() - started < 3
        for p in polls:
            p.cancel()
        await asyncio.gather(*polls, return_exceptions=True)


async def test_one_agent_cannot_take_every_request_slot_of_a_replica(stack, register) -> None:
    """Over NATS directly (an operation that can wait lets one agent hold slots): 200 requests of one agent
    take only its share of a relay replica's slots, the rest wait in its own queue (and are dropped unstarted
    once their deadline passes); another agent's requests are served at once meanwhile."""
    attacker, victim = await register("hog"), await register("hog-victim")
    nc = await nats.connect(stack.infra.nats_url)
    try:
        deadline = str(int((time.time() + 6) * 1000))
        hog = [
            asyncio.ensure_future(
                nc.request(
                    "svc.relay.events",
                    orjson.dumps({"wait": 4}),
                    timeout=12,
                    headers={
                        **sign("svc.relay.events", {"X-Agent-ID": attacker.agent_id}, 12),
                        "X-Deadline": deadline,
                    },
                )
            )
            for _ in range(200)
        ]
        await asyncio.sleep(1.0)
        latencies = await timed(10, lambda _: victim.get("/v1/relay/inbox"))
        assert p99(latencies) < VICTIM_P99_S, latencies
        replies = [orjson.loads(m.data) for m in await asyncio.gather(*hog)]
        served = [r for r in replies if r["ok"]]
        dropped = [r for r in replies if not r["ok"] and r["error"].get("details") == {"not_started": True}]
        assert len(served) + len(dropped) == 200 and dropped and len(served) <= 128
    finally:
        await nc.close()


async def test_a_request_past_its_deadline_is_not_executed(stack, register) -> None:
    sender, peer = await register("late-sender"), await register("late-peer")
    nc = await nats.connect(stack.infra.nats_url)
    try:
        past = str(int((time.time() - 1) * 1000))
        msg = await nc.request(
            "svc.relay.send",
            orjson.dumps({"to_agent": peer.agent_id, "payload": "never"}),
            timeout=5,
            headers={**sign("svc.relay.send", {"X-Agent-ID": sender.agent_id}, 5), "X-Deadline": past},
        )
        reply = orjson.loads(msg.data)
        assert reply["error"]["code"] == "timeout" and reply["error"]["details"] == {"not_started": True}
    finally:
        await nc.close()
    status, inbox = await peer.get("/v1/relay/inbox")
    assert status == 200 and not (inbox["messages"] if isinstance(inbox, dict) else inbox)


async def test_a_send_answered_504_and_retried_with_its_key_is_delivered_once(stack, register, db) -> None:
    """The relay's table is locked (a stalled database) past the gateway's 2 s timeout: the send answers 504
    but runs once the lock goes; a retry with the same Idempotency-Key gets 409 until the outcome is known,
    then that outcome, and the peer holds exactly one message."""
    sender, peer = await register("idem-504"), await register("idem-504-peer")
    headers = {"Idempotency-Key": "send-once"}
    body = {"to_agent": peer.agent_id, "payload": "exactly once"}
    async with db.acquire() as conn:
        lock = conn.transaction()
        await lock.start()
        await conn.execute("LOCK TABLE relay.messages IN SHARE ROW EXCLUSIVE MODE")
        try:
            first = await sender.request("POST", "/v1/relay/send", json=body, headers=headers)
            assert first[0] == 504
            during = await sender.request("POST", "/v1/relay/send", json=body, headers=headers)
            assert during[0] == 409  # outcome unknown: not run a second time
        finally:
            await lock.rollback()

    async def replayed() -> Any:
        status, answer, h = await sender.request("POST", "/v1/relay/send", json=body, headers=headers)
        assert status in (200, 409), answer
        return (answer, h) if status == 200 else None

    answer, replay_headers = await until("the late outcome replayed", replayed)
    assert replay_headers.get("Idempotent-Replayed") == "true" and answer["message_id"]
    _status, inbox = await peer.get("/v1/relay/inbox")
    messages = inbox["messages"] if isinstance(inbox, dict) else inbox
    assert [m["payload"] for m in messages] == ["exactly once"]


async def test_concurrent_wrong_admin_logins_verify_five_and_stall_nobody(stack, alice) -> None:
    url = stack.url(0) + "/admin/api/login"
    async with session("127.0.0.21") as http:

        async def guess(_: int) -> int:
            async with http.post(url, json={"password": "wrong guess"}) as r:
                return r.status

        guesses = asyncio.gather(*(guess(i) for i in range(40)))
        await asyncio.sleep(0.05)
        latencies = await timed(10, lambda _: alice.get("/v1/memory"))
        statuses = await guesses
    assert p99(latencies) < VICTIM_P99_S, latencies
    assert statuses.count(401) <= 5 and statuses.count(401) + statuses.count(429) == 40, statuses


async def test_anonymous_metrics_and_openapi_calls_do_not_slow_another_tenant(stack, alice) -> None:
    async with session("127.0.0.22") as http:

        async def scrape(i: int) -> int:
            path = "/metrics" if i % 2 else "/openapi.json"
            async with http.get(stack.base_url + path) as r:
                await r.read()
                return r.status

        flood = asyncio.gather(*(scrape(i) for i in range(50)))
        latencies = await timed(10, lambda _: alice.get("/v1/memory"))
        statuses = await flood
        assert set(statuses) == {200}
        more = await asyncio.gather(*(scrape(1) for _ in range(40)))  # beyond 60 a minute from one address
        assert 429 in more
    assert p99(latencies) < VICTIM_P99_S, latencies


async def test_a_slowloris_connection_is_closed_and_sockets_are_capped_per_agent(stack, register) -> None:
    timeout = GatewaySettings().header_timeout_s
    host, port = stack.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    closed_after = None
    while time.monotonic() - started < timeout + 5:
        writer.write(b"X")  # one byte of a header that never ends
        try:
            await writer.drain()
            data = await asyncio.wait_for(reader.read(1024), 0.5)
        except TimeoutError:
            continue
        except (OSError, ConnectionError):
            data = b""
        if not data or data.startswith(b"HTTP/1.1 4"):
            closed_after = time.monotonic() - started
            break
    writer.close()
    assert closed_after is not None and closed_after < timeout + 3

    holder, other = await register("socket-holder"), await register("socket-other")
    async with session() as http:
        url = stack.base_url + "/v1/relay/ws"
        sockets = [
            await http.ws_connect(url, params={"api_key": holder.key}) for _ in range(LONG_POLLS_PER_AGENT)
        ]
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(url, params={"api_key": holder.key})
        assert refused.value.status == 429
        mine = await http.ws_connect(url, params={"api_key": other.key})  # another agent is not refused
        await mine.close()
        for ws in sockets:
            await ws.close()


@pytest.fixture(scope="module")
async def limited(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """A stack of its own with a 20/min rate limit (its own NATS and Postgres)."""
    infra = Infra.start(tmp_path_factory.mktemp("limit-infra"), fast_unsafe=True)
    try:
        s = Stack(
            infra,
            await infra.create_database(),
            tmp_path_factory.mktemp("limit-logs"),
            env={
                "MOLTGRID_SERVICES": "directory,relay",
                "MOLTGRID_LOG_FORMAT": "json",
                "MOLTGRID_RATE_LIMIT_PER_MINUTE": "20",
            },
        )
        try:
            s.start(only={"directory", "relay"})
            await s.wait_ready()
            yield s
        finally:
            s.stop()
    finally:
        infra.stop()


async def test_websocket_sends_spend_the_rate_limit(limited: Stack) -> None:
    async with session() as http:
        sender, peer = await _agents(http, limited.base_url, "ws-flood", 2)
        ws = await http.ws_connect(limited.base_url + "/v1/relay/ws", params={"api_key": sender.key})
        answers = []
        for i in range(100):
            await ws.send_str(orjson.dumps({"to_agent": peer.agent_id, "payload": f"f{i}"}).decode())
            answers.append(await ws.receive_json(timeout=10))
        await ws.close()
        sent = [a for a in answers if a.get("event") == "message.sent"]
        refused = [a for a in answers if a.get("event") == "error"]
        assert len(sent) <= 21 and len(sent) + len(refused) == 100
        assert refused and refused[-1]["status"] == 429 and refused[-1]["retry_after_seconds"] >= 1
        async with http.get(
            limited.base_url + "/v1/relay/inbox", params={"limit": 100}, headers={"X-API-Key": peer.key}
        ) as r:
            inbox = await r.json()
        assert len(inbox["messages"] if isinstance(inbox, dict) else inbox) == len(sent)
