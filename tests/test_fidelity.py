"""Fidelity to the original's contract (issue 10): what a client written for the original MoltGrid meets.

The contract is the original's recorded behaviour, copied into tests/contract/ (see its module docstring)."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime

import aiohttp
import nats
import pydantic
import pytest
import structlog

from gateway.routes import ADMIN_ROUTES, ROUTES, TABLE
from shared import subjects
from shared.events import fetch_batch
from shared.passwords import verify_password
from shared.runtime.embedded import free_port
from shared.runtime.supervisor import ROOT, module_of
from tests import contract
from tests.helpers import until


def _filled(path: str) -> str:
    return re.sub(r"{\w+}", "x", path)


# ── 2. who needs a key: derived from the contract, compared with the routing table ─────────────────────────


def test_contract_copy_matches_the_workspace():
    """tests/contract/ is the workspace's contract, unchanged (when the workspace is there to compare)."""
    if not contract.WORKSPACE_COPY.is_dir():
        pytest.skip(f"no workspace contract at {contract.WORKSPACE_COPY}")
    for name in ("openapi.json", "examples.md", "behaviour.md"):
        assert (contract.HERE / name).read_bytes() == (contract.WORKSPACE_COPY / name).read_bytes(), name


# Rows whose access differs from what the contract's document suggests, each with the reason.
ACCESS_DIFFERS = {
    # the panel page needs the session: without one it redirects to /admin/login (docs/compatibility.md)
    ("GET", "/admin"),
    # the original's cookie is optional here (`required: false`): anyone may log out, as there
    ("POST", "/admin/api/logout"),
}


def test_routes_need_a_key_exactly_where_the_original_did():
    """Every route of the seed contract that the routing table serves asks for the credential the original
    asked for: a key, the admin session, or nothing. Routes the seed does not have are not compared."""
    table = {(r.method, r.path): str(r.access) for r in TABLE}
    drift = {
        (m, p): (contract.access(m, p, op), table[(m, p)])
        for m, p, op in contract.operations()
        if (m, p) in table and contract.access(m, p, op) != table[(m, p)] and (m, p) not in ACCESS_DIFFERS
    }
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
        if (
            (access == "key" and (status, body) != (401, {"detail": "Missing X-API-Key header"}))
            or (access == "admin" and (status, body) != (401, {"detail": "Admin session required"}))
            or (access == "public" and status == 401)
        ):
            problems.append((method, path, status, body))
    assert problems == []


async def test_marketplace_task_detail_is_public_and_still_private_about_the_result(register, anon):
    alice, bob = await register("detail-poster"), await register("detail-worker")
    status, created = await alice.post("/v1/marketplace/tasks", {"title": "Count words", "reward_credits": 5})
    assert status == 200, created
    task_id = created["task_id"]
    status, task = await anon.get(f"/v1/marketplace/tasks/{task_id}")
    assert status == 200 and (task["task_id"], task["status"], task["creator_agent"]) == (
        task_id,
        "open",
        alice.agent_id,
    )
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
    async with (
        http.ws_connect(f"{stack.url(0)}/v1/relay/ws", params={"api_key": a.key}) as ws_a,
        http.ws_connect(f"{stack.url(1)}/v1/relay/ws", params={"api_key": b.key}) as ws_b,
    ):
        await ws_a.send_json({"to_agent": b.agent_id, "payload": "hello b"})
        confirmation = await ws_a.receive_json(timeout=10)
        assert confirmation["status"] == "delivered" and confirmation["message_id"].startswith("msg_"), (
            confirmation
        )
        pushed = await ws_b.receive_json(timeout=10)
        assert (pushed["event"], pushed["payload"], pushed["from_agent"]) == (
            "message.received",
            "hello b",
            a.agent_id,
        )
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
                "/v1/relay/send", {"to_agent": receiver.agent_id, "payload": f"n{i}"}
            )
            assert status == 200, body
            frame = await ws.receive_json(timeout=10)
            assert (frame["event"], frame["payload"]) == ("message.received", f"n{i}")


# ── 4. logs a person can read; idle consumers are quiet ────────────────────────────────────────────────────


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """Stop an extra process this module started: SIGTERM, and a kill if it has not gone within 20 seconds."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


def _first_log_line(stack, log_format: str, stdout_tty: bool) -> str:
    """Start one extra sla replica with stdout on a pseudo-terminal or a pipe; its first log line (stderr)."""
    master, slave = pty.openpty() if stdout_tty else (None, None)
    env = {
        **os.environ,
        **stack.sup.env,
        "MOLTGRID_LOG_FORMAT": log_format,
        "MOLTGRID_INSTANCE": f"sla-logtest-{log_format}-{stdout_tty}",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", module_of("sla")],
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=slave if stdout_tty else subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        if slave is not None:
            os.close(slave)
        deadline = time.monotonic() + 60
        assert proc.stderr is not None
        os.set_blocking(proc.stderr.fileno(), False)
        buffered = b""
        while b"service_started" not in buffered:
            assert time.monotonic() < deadline and proc.poll() is None, buffered.decode(errors="replace")
            buffered += proc.stderr.read() or b""
            time.sleep(0.05)
        return next(line for line in buffered.decode().splitlines() if "service_started" in line)
    finally:
        _terminate(proc)
        if master is not None:
            os.close(master)


def test_logs_are_readable_on_a_terminal_and_json_otherwise(stack):
    line = _first_log_line(stack, "auto", stdout_tty=True)
    assert re.match(r"^sla\s+\d{4}-\d\d-\d\dT[\d:.]+Z \[info\s*\] service_started\b", _plain(line)), line
    for log_format, tty in (("auto", False), ("json", True)):
        record = json.loads(_first_log_line(stack, log_format, stdout_tty=tty))
        assert (record["event"], record["service"], record["level"]) == ("service_started", "sla", "info")


def _plain(line: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", line)  # colour codes, when stderr is a terminal too


async def test_an_empty_fetch_is_not_a_failure_but_a_real_failure_is_logged(stack):
    nc = await nats.connect(stack.infra.nats_url)
    js = nc.jetstream()
    stream = f"FIDELITY_{uuid.uuid4().hex[:8]}"
    await js.add_stream(name=stream, subjects=[f"{stream.lower()}.>"])
    try:
        sub = await js.pull_subscribe(f"{stream.lower()}.>", durable="idle", stream=stream)
        with structlog.testing.capture_logs() as logs:
            for timeout in (0.2, 0.5, 1.0):  # nats-py ends an empty fetch with either kind of timeout
                assert await fetch_batch(sub, 10, timeout, "idle") == []
        assert logs == []
        await js.publish(f"{stream.lower()}.one", b"1")
        assert [m.data for m in await fetch_batch(sub, 10, 2, "idle")] == [b"1"]
        await js.delete_consumer(stream, "idle")
        with structlog.testing.capture_logs() as logs:
            await fetch_batch(sub, 10, 1, "idle")  # the consumer is gone: a real failure
        assert [(r["event"], r["consumer"]) for r in logs] == [("consumer_fetch_failed", "idle")]
        assert logs[0]["error_type"] and logs[0]["error"], logs
    finally:
        await js.delete_stream(stream)
        await nc.close()


async def test_relay_and_marketplace_do_not_log_idle_fetches_as_failures(stack):
    """Their pull consumers (webhook router, purge followers) idle through empty fetches every few seconds."""
    first_log = stack.sup.children[stack.replicas_of("relay")[0]].log

    async def up_long_enough() -> bool:  # several fetch timeouts (2 s and 5 s) have passed since the start
        started = json.loads(first_log.read_text().splitlines()[0])["timestamp"]
        return time.time() - datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp() > 11

    await until("the relay to have idled through several fetches", up_long_enough, timeout=30, every=0.5)
    for component in ("relay", "marketplace"):
        for name in stack.replicas_of(component):
            log = stack.sup.children[name].log
            failures = [
                json.loads(line) for line in log.read_text().splitlines() if '"consumer_fetch_failed"' in line
            ]
            assert all(f.get("error_type") and f.get("error") for f in failures), failures


# ── 5. the admin panel as an operator meets it ────────────────────────────────────────────────────────────


def _admin_hash_from_a_pipe(password: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "shared.runtime.cli", "admin-hash"],
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_admin_hash_prompts_without_echo_on_a_terminal():
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "shared.runtime.cli", "admin-hash"],
        cwd=ROOT,
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=slave,
    )
    os.close(slave)
    seen = b""

    def read_until(text: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + 30
        while text not in seen:
            assert time.monotonic() < deadline, seen
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                seen += os.read(master, 1024)

    try:
        read_until(b"Admin password: ")
        os.write(master, b"tty secret 9\n")
        read_until(b"Repeat for confirmation: ")
        os.write(master, b"tty secret 9\n")
        out, _ = proc.communicate(timeout=60)
    finally:
        os.close(master)
    assert proc.returncode == 0 and b"tty secret 9" not in seen  # never echoed
    assert verify_password("tty secret 9", out.decode().strip())
    assert not verify_password("tty secret", out.decode().strip())


async def test_admin_hash_logs_in_to_a_gateway_configured_with_it(stack, http):
    """`moltgrid admin-hash` → MOLTGRID_ADMIN_PASSWORD_HASH of a gateway → that password opens /admin."""
    password = "operator's own password"
    port = free_port()
    env = {
        **os.environ,
        **stack.sup.env,
        "MOLTGRID_PORT": str(port),
        "MOLTGRID_INSTANCE": "gateway-admin-hash",
        "MOLTGRID_ADMIN_PASSWORD_HASH": _admin_hash_from_a_pipe(password),
    }
    proc = subprocess.Popen(  # noqa: ASYNC220 - a short-lived child started once
        [sys.executable, "-m", "gateway"],
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        async def login(attempt: str) -> int | None:
            try:
                async with http.post(base + "/admin/api/login", json={"password": attempt}) as r:
                    return r.status
            except aiohttp.ClientConnectionError:
                return None

        assert (
            await until("the extra gateway to answer", lambda: login(password), timeout=60, every=0.3) == 200
        )
        assert await login("not it") == 401
    finally:
        _terminate(proc)


async def _admin_get(session: aiohttp.ClientSession, url: str) -> dict:
    async with session.get(url) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def test_the_starting_grant_is_recorded_at_registration_once(stack, register, db, admin):
    """A new agent that never touched the marketplace: its 200 credits are in the ledger, the admin panel
    shows them as the API does, and "credits in circulation" counts them. Neither a redelivered registration
    notice nor racing first uses grant twice."""

    async def notices_consumed() -> bool:
        info = await _consumer_info(stack, "registrations-marketplace")
        return info.num_pending == 0 and info.num_ack_pending == 0

    await until("earlier registrations to be handled", notices_consumed)
    dashboard = stack.url(1) + "/admin/api/dashboard"
    before = (await _admin_get(admin, dashboard))["stats"]["credits_in_circulation"]
    agent = await register("granted-at-registration")

    async def granted() -> int | None:
        return await db.fetchval(
            "SELECT balance FROM marketplace.accounts WHERE agent_id = $1", agent.agent_id
        )

    assert await until("the starting grant to be recorded", granted) == 200
    listing = await _admin_get(admin, stack.url(0) + "/admin/api/agents?limit=500")
    row = next(a for a in listing["items"] if a["agent_id"] == agent.agent_id)
    detail = await _admin_get(admin, stack.url(0) + f"/admin/api/agents/{agent.agent_id}")
    me = (await agent.get("/v1/directory/me"))[1]
    assert row["credits"] == detail["credits"] == me["credits"] == 200
    assert (await _admin_get(admin, dashboard))["stats"]["credits_in_circulation"] == before + 200

    # the same notice again (past JetStream's de-duplication), and first uses racing it: one grant
    nc = await nats.connect(stack.infra.nats_url)
    try:
        await nc.jetstream().publish(
            subjects.AGENT_REGISTERED,
            json.dumps({"agent_id": agent.agent_id}).encode(),
            headers={"Nats-Msg-Id": f"again-{uuid.uuid4().hex}"},
        )
    finally:
        await nc.close()
    other = await register("granted-racing")
    statements = await asyncio.gather(*(other.on(stack.url(i % 2)).get("/v1/credits") for i in range(6)))
    assert all(status == 200 and body["balance"] == 200 for status, body in statements), statements
    await until("the marketplace to consume every registration notice", notices_consumed)
    grants = await db.fetch(
        "SELECT agent_id, amount FROM marketplace.ledger WHERE kind = 'grant' AND agent_id = ANY($1)",
        [agent.agent_id, other.agent_id],
    )
    assert sorted((g["agent_id"], g["amount"]) for g in grants) == sorted(
        [(agent.agent_id, 200), (other.agent_id, 200)]
    )
    assert (await agent.get("/v1/credits"))[1]["balance"] == 200


async def _consumer_info(stack, durable: str):
    nc = await nats.connect(stack.infra.nats_url)
    try:
        return await nc.jetstream().consumer_info(subjects.ADMIN_STREAM, durable)
    finally:
        await nc.close()


# ── 6. Swagger UI: a human summary on every operation ─────────────────────────────────────────────────────


def _model_names() -> set[str]:
    """Every request/response model class the services define (what Swagger UI used to show as summaries)."""
    for module in sorted(ROOT.glob("services/*/*models*.py")):
        importlib.import_module(".".join(module.relative_to(ROOT).with_suffix("").parts))
    importlib.import_module("shared.admin")
    names, todo = set(), [pydantic.BaseModel]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            names.add(sub.__name__)
            todo.append(sub)
    return names


async def test_every_operation_has_a_human_summary(anon):
    status, doc = await anon.get("/openapi.json")
    assert status == 200
    models = _model_names() | set(doc["components"]["schemas"])
    assert {"Empty", "UpdateProfile", "StatusUpdate"} & models  # the names the issue saw are really models
    bad = {}
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            summary = op.get("summary", "")
            if not summary.strip() or summary in models or " " not in summary.strip():
                bad[f"{method.upper()} {path}"] = summary
    assert bad == {}
    table = {(r.method, r.path): r.summary for r in (*ROUTES, *ADMIN_ROUTES)}
    assert (
        all(table.values()) and doc["paths"]["/v1/memory"]["post"]["summary"] == table[("POST", "/v1/memory")]
    )
