"""Fidelity to the original's contract (issue 10): what a client written for the original MoltGrid meets.

The contract is the original's recorded behaviour, copied into tests/contract/ (see its module docstring)."""
from __future__ import annotations

import re

import pytest

from gateway.routes import ADMIN_ROUTES, ROUTES
from tests import contract


def _filled(path: str) -> str:
    return re.sub(r"{\w+}", "x", path)


# ── 2. who needs a key: derived from the contract, compared with the routing table ─────────────────────────

def test_contract_copy_matches_the_workspace():
    """tests/contract/ is the workspace's contract, unchanged (when the workspace is there to compare)."""
    if not contract.WORKSPACE_COPY.is_dir():
        pytest.skip(f"no workspace contract at {contract.WORKSPACE_COPY}")
    for name in ("openapi.json", "examples.md", "behaviour.md"):
        assert (contract.HERE / name).read_bytes() == (contract.WORKSPACE_COPY / name).read_bytes(), name


def test_routes_need_a_key_exactly_where_the_original_did():
    """Every route of the seed contract that the routing table serves asks for the credential the original
    asked for: a key, the admin session, or nothing. Routes the seed does not have are not compared."""
    table = {(r.method, r.path): ("admin" if r.admin else "key" if r.auth else "public")
             for r in (*ROUTES, *ADMIN_ROUTES)}
    drift = {(m, p): (contract.access(m, p, op), table[(m, p)])
             for m, p, op in contract.operations() if (m, p) in table and contract.access(m, p, op) != table[(m, p)]}
    assert drift == {}, "route: (the original's access, ours)"
    in_table = [(m, p) for m, p, _ in contract.operations() if (m, p) in table]
    assert len(in_table) >= 55  # the comparison really covers the seed's API, not an accidental handful


async def test_every_seed_route_answers_without_a_key_as_the_original_did(anon, stack):
    """Through the real stack: a keyed route refuses a request without a key with the original's 401, an admin
    route asks for the session, and a public route (the marketplace's task detail among them) answers."""
    served = {(r.method, r.path) for r in (*ROUTES, *ADMIN_ROUTES)}
    problems = []
    for method, path, op in contract.operations():
        if (method, path) not in served or path == "/v1/register":
            continue
        status, body, _ = await anon.request(method, _filled(path))
        access = contract.access(method, path, op)
        if access == "key" and (status, body) != (401, {"detail": "Missing X-API-Key header"}):
            problems.append((method, path, status, body))
        elif access == "admin" and (status, body) != (401, {"detail": "Admin session required"}):
            problems.append((method, path, status, body))
        elif access == "public" and status == 401:
            problems.append((method, path, status, body))
    assert problems == []


async def test_marketplace_task_detail_is_public_and_still_private_about_the_result(register, anon):
    alice, bob = await register("detail-poster"), await register("detail-worker")
    status, created = await alice.post("/v1/marketplace/tasks", {"title": "Count words", "reward_credits": 5})
    assert status == 200, created
    task_id = created["task_id"]
    status, task = await anon.get(f"/v1/marketplace/tasks/{task_id}")
    assert status == 200 and (task["task_id"], task["status"], task["creator_agent"]) == (
        task_id, "open", alice.agent_id)
    assert await anon.get("/v1/marketplace/tasks/mktask_000000000000") == (404, {"detail": "Task not found"})
    assert (await bob.post(f"/v1/marketplace/tasks/{task_id}/claim"))[0] == 200
    assert (await bob.post(f"/v1/marketplace/tasks/{task_id}/deliver", {"result": "42 words"}))[0] == 200
    # anonymous (or with a key that is not valid: a public route ignores it) — no result; the parties see it
    assert (await anon.get(f"/v1/marketplace/tasks/{task_id}"))[1]["result"] is None
    status, task = await anon.get(f"/v1/marketplace/tasks/{task_id}", headers={"X-API-Key": "af_" + "0" * 32})
    assert status == 200 and task["result"] is None
    assert (await alice.get(f"/v1/marketplace/tasks/{task_id}"))[1]["result"] == "42 words"
    assert (await bob.get(f"/v1/marketplace/tasks/{task_id}"))[1]["result"] == "42 words"


# ── 1. the relay WebSocket: nothing first ──────────────────────────────────────────────────────────────────

async def test_websocket_client_of_the_original_reads_its_confirmation_first(register, stack, http):
    """A client written for the original sends right after connecting and reads the next frame: its
    confirmation. A message sent to it right after the handshake is pushed (no frame is read before)."""
    a, b = await register("orig-ws-a"), await register("orig-ws-b")
    async with http.ws_connect(f"{stack.url(0)}/v1/relay/ws", params={"api_key": a.key}) as ws_a, \
            http.ws_connect(f"{stack.url(1)}/v1/relay/ws", params={"api_key": b.key}) as ws_b:
        await ws_a.send_json({"to_agent": b.agent_id, "payload": "hello b"})
        confirmation = await ws_a.receive_json(timeout=10)
        assert confirmation["status"] == "delivered" and confirmation["message_id"].startswith("msg_"), confirmation
        pushed = await ws_b.receive_json(timeout=10)
        assert (pushed["event"], pushed["payload"], pushed["from_agent"]) == ("message.received", "hello b",
                                                                            a.agent_id)
        await ws_a.send_json({"to_agent": "agent_000000000000", "payload": "x"})
        error = await ws_a.receive_json(timeout=10)
        assert (error["event"], error["status"]) == ("error", 404), error
    async with http.ws_connect(f"{stack.url(0)}/v1/relay/ws", params={"api_key": a.key, "hello": "1"}) as ws:
        assert await ws.receive_json(timeout=10) == {"event": "connected", "agent_id": a.agent_id}
    async with http.ws_connect(f"{stack.url(0)}/v1/relay/ws", params={"api_key": a.key, "hello": "0"}) as ws:
        await ws.send_json({"to_agent": b.agent_id, "payload": "no hello"})
        assert (await ws.receive_json(timeout=10))["status"] == "delivered"


async def test_a_message_sent_right_after_the_handshake_is_pushed(register, stack, http):
    """The push subscription exists before the handshake completes: repeat connect → send at once → receive,
    alternating gateways, so a socket that were subscribed late would miss one."""
    sender, receiver = await register("race-sender"), await register("race-receiver")
    for i in range(10):
        async with http.ws_connect(f"{stack.url(i % 2)}/v1/relay/ws", params={"api_key": receiver.key}) as ws:
            status, body = await sender.on(stack.url((i + 1) % 2)).post(
                "/v1/relay/send", {"to_agent": receiver.agent_id, "payload": f"n{i}"})
            assert status == 200, body
            frame = await ws.receive_json(timeout=10)
            assert (frame["event"], frame["payload"]) == ("message.received", f"n{i}")
