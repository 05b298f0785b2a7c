"""Webhooks: registration rules, signed deliveries to a real local receiver, retries, 410, replay, and
no lost event when the dispatcher is killed."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import signal
import socket
import time
from typing import Any

import orjson
import pytest
from aiohttp import web

from shared.errors import BadRequest
from shared.outbound import PublicOnlyResolver, check_url, public_address
from tests.helpers import LoopbackServer
from tests.queue_fixtures import replicas


async def _complete_job(agent, queue: str = "hooks") -> str:
    job = (await agent.post("/v1/queue/submit", {"payload": "p", "queue_name": queue}))[1]["job_id"]
    await agent.post("/v1/queue/claim", params={"queue_name": queue})
    await agent.post(f"/v1/queue/{job}/complete", params={"result": "done"})
    return job


async def test_registration_contract(alice):
    status, hook = await alice.post(
        "/v1/webhooks",
        {
            "url": "https://example.com/hook",
            "event_types": ["message.received", "job.completed"],
            "secret": "s3cret",
        },
    )
    assert status == 200 and hook["webhook_id"].startswith("wh_") and hook["active"] is True
    assert hook["event_types"] == ["message.received", "job.completed"] and "secret" not in hook
    status, body = await alice.post("/v1/webhooks", {"url": "https://example.com/h", "event_types": ["nope"]})
    assert status == 400 and body["detail"].startswith("Invalid event type 'nope'. Valid: [")
    status, listing = await alice.get("/v1/webhooks")
    assert status == 200 and [h["webhook_id"] for h in listing["webhooks"]] == [hook["webhook_id"]]
    assert await alice.delete(f"/v1/webhooks/{hook['webhook_id']}") == (
        200,
        {"status": "deleted", "webhook_id": hook["webhook_id"]},
    )
    assert await alice.delete("/v1/webhooks/wh_nope") == (404, {"detail": "Webhook not found"})
    assert (await alice.post("/v1/webhooks", {"url": "ftp://example.com", "event_types": ["job.completed"]}))[
        0
    ] == 400
    assert (await alice.post("/v1/webhooks", {"url": "https://x", "event_types": []}))[0] == 422


async def test_private_addresses_are_refused_unless_allowed():
    for url in (
        "http://127.0.0.1:9/hook",
        "http://10.0.0.5/h",
        "http://[::1]/h",
        "http://169.254.169.254/meta",
        "http://192.168.1.1/h",
        "http://localhost/h",
        "http://[::ffff:127.0.0.1]/h",
    ):
        with pytest.raises(BadRequest):
            await check_url(url, allow_private=False)
        await check_url(url, allow_private=True)
    await check_url("https://93.184.216.34/hook", allow_private=False)


EMBEDDING_PRIVATE = (
    "::127.0.0.1",  # IPv4-compatible
    "::169.254.169.254",
    "::ffff:10.0.0.1",  # IPv4-mapped
    "::ffff:0:7f00:1",  # IPv4-translated
    "64:ff9b::7f00:1",  # NAT64 well-known prefix
    "64:ff9b::a9fe:a9fe",
    "64:ff9b:1::808:808",  # local-use NAT64: never public
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
)


async def test_ipv6_forms_embedding_a_private_ipv4_are_refused():
    """At registration (check_url) and at send time (the deliveries' resolver), with the public forms still
    accepted."""
    for address in EMBEDDING_PRIVATE:
        with pytest.raises(BadRequest):
            await check_url(f"http://[{address}]/hook", allow_private=False)
        assert not public_address(address), address
        resolver = PublicOnlyResolver()
        try:
            with pytest.raises(OSError):
                await resolver.resolve(address, 80, socket.AF_INET6)
        finally:
            await resolver.close()
    for address in ("::ffff:93.184.216.34", "64:ff9b::5db8:d822", "2002:5db8:d822::1", "2606:4700::1111"):
        await check_url(f"https://[{address}]/hook", allow_private=False)


async def test_a_test_send_to_a_port_that_is_not_http_reports_no_banner(alice):
    """A webhook aimed at a service that greets with a banner (SSH, SMTP): the test send fails with our own
    words, and neither the answer nor the delivery log holds a byte of the banner."""
    banner = b"SSH-2.0-OpenSSH_9.6 internal-host-7 secret-banner\r\n"

    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(banner)
        await writer.drain()
        await asyncio.sleep(0.5)
        writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        hook = (
            await alice.post(
                "/v1/webhooks", {"url": f"http://127.0.0.1:{port}/hook", "event_types": ["job.completed"]}
            )
        )[1]
        status, sent = await alice.post(f"/v1/webhooks/{hook['webhook_id']}/test")
        assert status == 200 and sent["status"] == "failed" and sent["status_code"] is None, sent
        assert sent["error"] == "not an HTTP response", sent
        log = (await alice.get(f"/v1/webhooks/{hook['webhook_id']}/deliveries"))[1]["deliveries"]
        assert log[0]["last_error"] == "not an HTTP response"
        assert [a["error"] for a in log[0]["attempt_log"]] == ["not an HTTP response"]
        for text in (orjson.dumps(sent), orjson.dumps(log)):
            assert b"SSH" not in text and b"secret-banner" not in text
    finally:
        server.close()


async def test_delivery_is_signed_both_ways(alice, receiver):
    hook = (
        await alice.post(
            "/v1/webhooks", {"url": receiver.url, "event_types": ["job.completed"], "secret": "whsecret"}
        )
    )[1]
    job = await _complete_job(alice)
    await receiver.wait_for(1)
    headers, body = receiver.received[0]
    event = orjson.loads(body)
    assert event["event"] == event["type"] == "job.completed" and event["data"]["job_id"] == job
    assert event["agent_id"] == alice.agent_id and event["version"] == 1
    expected = hmac.new(b"whsecret", body, hashlib.sha256).hexdigest()
    assert headers["X-MoltGrid-Signature"] == expected
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    standard = "v1," + base64.b64encode(hmac.new(b"whsecret", signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == standard and headers["webhook-id"] == event["id"]
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    log = (await alice.get(f"/v1/webhooks/{hook['webhook_id']}/deliveries"))[1]
    assert (
        log["deliveries"][0]["status"] == "delivered"
        and log["deliveries"][0]["attempt_log"][0]["status_code"] == 200
    )


async def test_receiver_down_then_up_gets_exactly_one_event_id(alice, receiver):
    receiver.status = 503
    hook = (await alice.post("/v1/webhooks", {"url": receiver.url, "event_types": ["job.completed"]}))[1]
    await _complete_job(alice, "retry")
    deadline = time.monotonic() + 20
    while True:  # several failed attempts, with the retry base at 0.3 s in the test stack
        log = (await alice.get(f"/v1/webhooks/{hook['webhook_id']}/deliveries"))[1]
        if log["deliveries"] and log["deliveries"][0]["attempts"] >= 3:
            break
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)
    receiver.status = 200
    await receiver.wait_for(1)
    await asyncio.sleep(1.0)  # no duplicate arrives after the success
    assert len({h["webhook-id"] for h, _ in receiver.received}) == len(receiver.received) == 1
    entry = (await alice.get(f"/v1/webhooks/{hook['webhook_id']}/deliveries"))[1]["deliveries"][0]
    assert entry["status"] == "delivered" and [a["status_code"] for a in entry["attempt_log"]][-1] == 200
    assert all(a["status_code"] == 503 for a in entry["attempt_log"][:-1])
    # Replay sends the same event (same webhook-id) again.
    status, _ = await alice.post(
        f"/v1/webhooks/{hook['webhook_id']}/deliveries/{entry['delivery_id']}/replay"
    )
    assert status == 200
    await receiver.wait_for(2)
    assert receiver.received[0][0]["webhook-id"] == receiver.received[1][0]["webhook-id"]


async def test_410_disables_the_webhook(alice, receiver):
    receiver.status = 410
    hook = (await alice.post("/v1/webhooks", {"url": receiver.url, "event_types": ["job.completed"]}))[1]
    await _complete_job(alice, "gone")
    deadline = time.monotonic() + 15
    while (await alice.get("/v1/webhooks"))[1]["webhooks"][0]["active"]:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)
    assert (await alice.get("/v1/webhooks"))[1]["webhooks"][0]["webhook_id"] == hook["webhook_id"]


async def test_message_received_events_reach_the_recipients_webhook(alice, bob, receiver):
    await bob.post("/v1/webhooks", {"url": receiver.url, "event_types": ["message.received"]})
    sent = (await alice.post("/v1/relay/send", {"to_agent": bob.agent_id, "payload": "ping"}))[1]
    await receiver.wait_for(1)
    event = orjson.loads(receiver.received[0][1])
    assert event["type"] == "message.received" and event["data"]["message_id"] == sent["message_id"]
    assert event["agent_id"] == bob.agent_id and event["data"]["from_agent"] == alice.agent_id


@pytest.mark.slow
async def test_dispatcher_killed_mid_run_loses_no_event(stack, register, receiver):
    agent = await register("hooked")
    await agent.post("/v1/webhooks", {"url": receiver.url, "event_types": ["job.completed"]})
    jobs = [await _complete_job(agent, "burst") for _ in range(5)]
    stack.signal("relay", signal.SIGKILL)  # the dispatcher dies with deliveries in flight or not yet routed
    jobs += [await _complete_job(agent, "burst") for _ in range(10)]  # events pile up in JetStream meanwhile
    for name in stack.replicas_of("relay"):
        stack.sup.children[name].proc.wait()
    stack.start_component("relay")
    await stack.wait_ready()
    await receiver.wait_for(15, timeout=30)
    delivered: dict[str, Any] = {}
    for headers, body in receiver.received:
        delivered.setdefault(orjson.loads(body)["data"]["job_id"], headers["webhook-id"])
    assert set(delivered) == set(jobs)


@pytest.mark.parametrize("relays", [1, 2])
async def test_one_agents_slow_receivers_do_not_delay_another_agents_delivery(
    stack, register, receiver, relays
):
    """An attacker with 40 webhooks on a receiver that answers after 4 s (more deliveries than a replica
    sends at once); a victim's webhook, on a receiver of its own, still gets its event within a bound. With
    two relay replicas the attacker's cap holds across both."""
    async with contextlib.AsyncExitStack() as extra:
        if relays == 2:
            await extra.enter_async_context(replicas(stack, "relay", [1]))
        await _slow_receivers_scenario(register, receiver)


async def _slow_receivers_scenario(register, receiver) -> None:
    attacker, victim, peer = await register("attacker"), await register("victim"), await register("peer")
    started = asyncio.Event()
    arrivals: list[float] = []

    async def slow(request: web.Request) -> web.Response:
        arrivals.append(time.monotonic())
        started.set()
        await asyncio.sleep(4)
        return web.Response(status=200)

    async with LoopbackServer("/slow", slow) as sink:
        hooks = []
        for _ in range(40):
            hooks.append(
                (
                    await attacker.post(
                        "/v1/webhooks",
                        {"url": f"http://127.0.0.1:{sink.port}/slow", "event_types": ["message.received"]},
                    )
                )[1]["webhook_id"]
            )
        await victim.post("/v1/webhooks", {"url": receiver.url, "event_types": ["message.received"]})
        try:
            await peer.post("/v1/relay/send", {"to_agent": attacker.agent_id, "payload": "flood"})
            await asyncio.wait_for(started.wait(), 15)
            await asyncio.sleep(0.5)  # the attacker's deliveries are in flight now
            sent_at = time.monotonic()
            sent = (await peer.post("/v1/relay/send", {"to_agent": victim.agent_id, "payload": "hi"}))[1]
            await receiver.wait_for(1, timeout=15)
            latency = time.monotonic() - sent_at
            event = orjson.loads(receiver.received[0][1])
            assert (event["type"], event["agent_id"]) == ("message.received", victim.agent_id)
            assert event["data"] == {
                "message_id": sent["message_id"],
                "from_agent": peer.agent_id,
                "channel": "direct",
            }
            assert latency < 3, f"the victim's delivery took {latency:.1f} s"
            # the attacker holds only its share of the slots (8 at once), so its first wave is that size
            first_wave = [t for t in arrivals if t - arrivals[0] < 2]
            assert len(first_wave) <= 8, len(first_wave)
        finally:
            for webhook_id in hooks:  # its remaining deliveries go with its webhooks
                await attacker.delete(f"/v1/webhooks/{webhook_id}")
