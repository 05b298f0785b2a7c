"""A2A 1.0 end to end: the official `a2a-sdk` client drives a MoltGrid-hosted agent through every operation on
both bindings (JSON-RPC and HTTP+JSON), while the hosted agent works through its own REST key; streams
replay after a reconnect on the other gateway; push notifications reach a receiver that was down at first;
input-required resumes; isolation holds; bad input gets the specification's errors."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import aiohttp
import httpx
import orjson
import pytest
from a2a.client import ClientConfig, create_client
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    DeleteTaskPushNotificationConfigRequest,
    GetExtendedAgentCardRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    ListTaskPushNotificationConfigsRequest,
    ListTasksRequest,
    Message,
    Part,
    SendMessageRequest,
    SubscribeToTaskRequest,
    TaskPushNotificationConfig,
    TaskState,
)
from a2a.utils.errors import TaskNotCancelableError, TaskNotFoundError
from aiohttp import web
from google.protobuf.json_format import MessageToDict

from shared.runtime.embedded import free_port
from tests.conftest import Api
from tests.helpers import Receiver, until

BINDINGS = ["JSONRPC", "HTTP+JSON"]
VERSION = {"A2A-Version": "1.0"}


def text_message(text: str, task_id: str = "", context_id: str = "") -> Message:
    msg = Message(
        message_id=f"m-{abs(hash((text, task_id))) % 10**9}", role="ROLE_USER", parts=[Part(text=text)]
    )
    if task_id:
        msg.task_id = task_id
    if context_id:
        msg.context_id = context_id
    return msg


async def client_for(
    caller: Api, agent: Api, binding: str, streaming: bool = True, polling: bool = True
) -> Any:
    http = httpx.AsyncClient(headers={"X-API-Key": caller.key or ""}, timeout=30)
    config = ClientConfig(
        httpx_client=http, supported_protocol_bindings=[binding], streaming=streaming, polling=polling
    )
    return await create_client(f"{caller.base}/a2a/{agent.agent_id}", client_config=config)


async def work(
    agent: Api, task_id: str, state: str, text: str | None = None, artifact: str | None = None
) -> Any:
    body: dict[str, Any] = {"state": state}
    if text:
        body["message"] = {"messageId": f"a-{state}", "role": "ROLE_AGENT", "parts": [{"text": text}]}
    if artifact:
        body["artifacts"] = [{"artifactId": f"art-{state}", "name": "answer", "parts": [{"text": artifact}]}]
    status, answer = await agent.post(f"/v1/a2a/tasks/{task_id}/status", body)
    assert status == 200, answer
    return answer


async def first_event(stream: Any) -> Any:
    async for event in stream:
        return event
    raise AssertionError("the stream ended without an event")


async def test_cards_of_hosted_agents_and_of_the_hub(register, anon: Api) -> None:
    agent = await register("a2a-card-agent")
    await agent.put(
        "/v1/directory/me",
        {"description": "Translates things", "capabilities": ["translate"], "public": True},
    )
    status, card = await anon.get(f"/a2a/{agent.agent_id}/.well-known/agent-card.json")
    assert status == 200, card
    assert card["name"] == "a2a-card-agent" and card["capabilities"]["streaming"] is True
    assert {i["protocolBinding"] for i in card["supportedInterfaces"]} == {"JSONRPC", "HTTP+JSON"}
    assert all(i["url"].endswith(f"/a2a/{agent.agent_id}") for i in card["supportedInterfaces"])
    assert card["securitySchemes"]["moltgridApiKey"]["apiKeySecurityScheme"]["name"] == "X-API-Key"
    assert [s["id"] for s in card["skills"]] == ["translate"]
    status, hub = await anon.get("/.well-known/agent-card.json")
    assert status == 200 and {s["id"] for s in hub["skills"]} == {"find-agents", "reach-agent"}
    # a private agent is not found by others
    hidden = await register("a2a-private")
    await hidden.put("/v1/directory/me", {"public": False})
    assert (await anon.get(f"/a2a/{hidden.agent_id}/.well-known/agent-card.json"))[0] == 404
    assert (await hidden.get(f"/a2a/{hidden.agent_id}/.well-known/agent-card.json"))[0] == 200


@pytest.mark.parametrize("binding", BINDINGS)
async def test_send_work_complete_and_read_back(register, binding: str) -> None:
    caller, agent = await register("a2a-caller"), await register("a2a-agent")
    client = await client_for(caller, agent, binding, streaming=False)
    sent = await first_event(
        client.send_message(SendMessageRequest(message=text_message("translate: hello")))
    )
    task = sent.task
    assert task.id and task.context_id and task.status.state == TaskState.TASK_STATE_SUBMITTED
    # the hosted agent finds it in its A2A tasks and on its event stream
    status, mine = await agent.get("/v1/a2a/tasks", params={"state": "TASK_STATE_SUBMITTED"})
    assert status == 200 and [t["id"] for t in mine["tasks"]] == [task.id]
    assert mine["tasks"][0]["callerId"] == caller.agent_id
    assert mine["tasks"][0]["history"][0]["parts"] == [{"text": "translate: hello"}]

    async def saw_event() -> bool:
        status, events = await agent.get("/v1/events", params={"limit": 50})
        return status == 200 and any(
            e.get("event_type", e.get("type")) in ("a2a.task", "a2a_task")
            for e in (events if isinstance(events, list) else events.get("events", []))
        )

    await until("the a2a.task event", saw_event, timeout=10)
    await work(agent, task.id, "TASK_STATE_WORKING")
    await work(agent, task.id, "TASK_STATE_COMPLETED", text="done", artifact="bonjour")
    done = await client.get_task(GetTaskRequest(id=task.id))
    assert done.status.state == TaskState.TASK_STATE_COMPLETED
    assert [p.text for a in done.artifacts for p in a.parts] == ["bonjour"]
    assert [m.role for m in done.history][:1] == [1]  # ROLE_USER first
    listed = await client.list_tasks(ListTasksRequest(page_size=10))
    assert task.id in [t.id for t in listed.tasks] and listed.next_page_token == ""
    card = await client.get_extended_agent_card(GetExtendedAgentCardRequest())
    assert card.name == "a2a-agent"
    # a terminal task cannot be canceled
    with pytest.raises(TaskNotCancelableError):
        await client.cancel_task(CancelTaskRequest(id=task.id))
    await client.close()


@pytest.mark.parametrize("binding", BINDINGS)
async def test_streaming_ends_on_the_terminal_state(register, binding: str) -> None:
    caller, agent = await register("a2a-stream-caller"), await register("a2a-stream-agent")
    client = await client_for(caller, agent, binding, streaming=True, polling=False)
    seen: list[dict[str, Any]] = []

    async def consume() -> None:
        async for event in client.send_message(SendMessageRequest(message=text_message("stream please"))):
            seen.append(MessageToDict(event))

    consumer = asyncio.create_task(consume())
    await until("the first stream event", lambda: asyncio.sleep(0, bool(seen)), timeout=10)
    task_id = seen[0]["task"]["id"]
    await work(agent, task_id, "TASK_STATE_WORKING", text="on it")
    await work(agent, task_id, "TASK_STATE_COMPLETED", artifact="the answer")
    await asyncio.wait_for(consumer, 15)
    kinds = [next(iter(e)) for e in seen]
    assert kinds[0] == "task" and "artifactUpdate" in kinds
    assert seen[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
    await client.close()


async def _sse_events(http: aiohttp.ClientSession, url: str, key: str, last: str | None, n: int) -> list[Any]:
    headers = {"X-API-Key": key, **VERSION, **({"Last-Event-ID": last} if last else {})}
    out: list[Any] = []
    async with http.post(url, headers=headers) as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/event-stream")
        event_id = None
        async for line in r.content:
            text = line.decode().strip()
            if text.startswith("id:"):
                event_id = text[3:].strip()
            elif text.startswith("data:"):
                out.append((event_id, orjson.loads(text[5:])))
                if len(out) >= n:
                    break
    return out


async def test_a_stream_replays_what_a_reconnecting_client_missed(register, stack, http) -> None:
    caller, agent = await register("a2a-replay-caller"), await register("a2a-replay-agent")
    client = await client_for(caller, agent, "HTTP+JSON", streaming=False)
    task = (await first_event(client.send_message(SendMessageRequest(message=text_message("replay"))))).task
    url = f"/a2a/{agent.agent_id}/tasks/{task.id}:subscribe"
    first = await _sse_events(http, stack.url(0) + url, caller.key, None, 1)
    assert first[0][1]["task"]["id"] == task.id
    last_id = first[0][0]
    # while the caller is away, the agent moves on; the caller reconnects on the other gateway
    await work(agent, task.id, "TASK_STATE_WORKING", text="half way")
    await work(agent, task.id, "TASK_STATE_COMPLETED", artifact="all of it")
    missed = await _sse_events(http, stack.url(1) + url, caller.key, last_id, 10)
    states = [e["statusUpdate"]["status"]["state"] for _, e in missed if "statusUpdate" in e]
    assert states == ["TASK_STATE_WORKING", "TASK_STATE_COMPLETED"]
    assert [int(i) for i, _ in missed] == sorted(int(i) for i, _ in missed)
    await client.close()


async def test_push_reaches_a_receiver_that_was_down_at_first(register) -> None:
    caller, agent = await register("a2a-push-caller"), await register("a2a-push-agent")
    client = await client_for(caller, agent, "JSONRPC", streaming=False)
    receiver = Receiver()  # not started yet: the first attempts fail
    task = (await first_event(client.send_message(SendMessageRequest(message=text_message("push me"))))).task
    config = await client.create_task_push_notification_config(
        TaskPushNotificationConfig(task_id=task.id, url=receiver.url, token="tok-123")
    )
    assert config.id
    got = await client.get_task_push_notification_config(
        GetTaskPushNotificationConfigRequest(task_id=task.id, id=config.id)
    )
    assert got.url == receiver.url
    listed = await client.list_task_push_notification_configs(
        ListTaskPushNotificationConfigsRequest(task_id=task.id)
    )
    assert [c.id for c in listed.configs] == [config.id]
    await work(agent, task.id, "TASK_STATE_WORKING")
    await work(agent, task.id, "TASK_STATE_COMPLETED", artifact="pushed")
    await asyncio.sleep(1.5)
    async with receiver:
        await receiver.wait_for(3, timeout=30)
        await asyncio.sleep(1)
    bodies = [orjson.loads(body) for _, body in receiver.received]
    states = [b["statusUpdate"]["status"]["state"] for b in bodies if "statusUpdate" in b]
    assert states == ["TASK_STATE_WORKING", "TASK_STATE_COMPLETED"]
    ids = [h["X-MoltGrid-Delivery"] for h, _ in receiver.received]
    assert len(ids) == len(set(ids)) == 3  # one status, one artifact, one status: each delivered once
    assert all(h["X-A2A-Notification-Token"] == "tok-123" for h, _ in receiver.received)
    await client.delete_task_push_notification_config(
        DeleteTaskPushNotificationConfigRequest(task_id=task.id, id=config.id)
    )
    assert not (
        await client.list_task_push_notification_configs(
            ListTaskPushNotificationConfigsRequest(task_id=task.id)
        )
    ).configs
    await client.close()


@pytest.mark.parametrize("binding", BINDINGS)
async def test_input_required_waits_and_the_callers_reply_resumes(register, binding: str) -> None:
    caller, agent = await register("a2a-input-caller"), await register("a2a-input-agent")
    client = await client_for(caller, agent, binding, streaming=False)
    task = (
        await first_event(client.send_message(SendMessageRequest(message=text_message("book a table"))))
    ).task
    await work(agent, task.id, "TASK_STATE_INPUT_REQUIRED", text="for how many?")
    await asyncio.sleep(1)
    paused = await client.get_task(GetTaskRequest(id=task.id))
    assert paused.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
    assert paused.status.message.parts[0].text == "for how many?"
    reply = text_message("four", task_id=task.id, context_id=task.context_id)
    resumed = (await first_event(client.send_message(SendMessageRequest(message=reply)))).task
    assert resumed.id == task.id and resumed.status.state == TaskState.TASK_STATE_SUBMITTED
    status, queued = await agent.get("/v1/a2a/tasks", params={"state": "TASK_STATE_SUBMITTED"})
    assert [t["history"][-1]["parts"][0]["text"] for t in queued["tasks"]] == ["four"]
    await work(agent, task.id, "TASK_STATE_COMPLETED", text="booked")
    # cancel from the caller's side on a fresh task
    other = (
        await first_event(client.send_message(SendMessageRequest(message=text_message("never mind"))))
    ).task
    canceled = await client.cancel_task(CancelTaskRequest(id=other.id))
    assert canceled.status.state == TaskState.TASK_STATE_CANCELED
    status, refused = await agent.post(f"/v1/a2a/tasks/{other.id}/status", {"state": "TASK_STATE_WORKING"})
    assert status == 409, refused
    await client.close()


async def test_subscribe_then_blocking_send(register) -> None:
    caller, agent = await register("a2a-sub-caller"), await register("a2a-sub-agent")
    client = await client_for(caller, agent, "JSONRPC", streaming=True, polling=False)
    nonblocking = await client_for(caller, agent, "JSONRPC", streaming=False, polling=True)
    task = (await first_event(nonblocking.send_message(SendMessageRequest(message=text_message("sub"))))).task
    seen: list[dict[str, Any]] = []

    async def consume() -> None:
        async for event in client.subscribe(SubscribeToTaskRequest(id=task.id)):
            seen.append(MessageToDict(event))

    consumer = asyncio.create_task(consume())
    await until("the first stream event", lambda: asyncio.sleep(0, bool(seen)), timeout=10)
    await work(agent, task.id, "TASK_STATE_COMPLETED", artifact="x")
    await asyncio.wait_for(consumer, 15)
    assert seen[0]["task"]["id"] == task.id
    assert seen[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
    # a blocking send returns when the agent finishes
    blocking = await client_for(caller, agent, "JSONRPC", streaming=False, polling=False)
    answer = asyncio.create_task(
        first_event(blocking.send_message(SendMessageRequest(message=text_message("wait"))))
    )

    async def submitted() -> list[Any]:
        return (await agent.get("/v1/a2a/tasks", params={"state": "TASK_STATE_SUBMITTED"}))[1]["tasks"]

    await until("the submitted task", submitted, timeout=10)
    waiting = (await submitted())[0]["id"]
    assert not answer.done()
    await work(agent, waiting, "TASK_STATE_COMPLETED", artifact="waited")
    done = await asyncio.wait_for(answer, 15)
    assert done.task.status.state == TaskState.TASK_STATE_COMPLETED
    for c in (client, nonblocking, blocking):
        await c.close()


async def test_nobody_else_sees_a_task(register, anon: Api, http, stack) -> None:
    caller, agent, stranger = (
        await register("a2a-iso-a"),
        await register("a2a-iso-b"),
        await register("a2a-iso-c"),
    )
    client = await client_for(caller, agent, "JSONRPC", streaming=False)
    task = (
        await first_event(client.send_message(SendMessageRequest(message=text_message("secret plans"))))
    ).task
    spy = await client_for(stranger, agent, "JSONRPC", streaming=False)
    with pytest.raises(TaskNotFoundError):
        await spy.get_task(GetTaskRequest(id=task.id))
    assert not (await spy.list_tasks(ListTasksRequest())).tasks
    rest_spy = await client_for(stranger, agent, "HTTP+JSON", streaming=False)
    with pytest.raises(TaskNotFoundError):
        await rest_spy.get_task(GetTaskRequest(id=task.id))
    # the stranger cannot move the task either, nor read it as "its" hosted task
    assert (await stranger.post(f"/v1/a2a/tasks/{task.id}/status", {"state": "TASK_STATE_COMPLETED"}))[
        0
    ] == 404
    assert (await stranger.get("/v1/a2a/tasks"))[1]["tasks"] == []
    # unauthenticated: 401 on both bindings
    body = {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": task.id}}
    async with http.post(stack.url(0) + f"/a2a/{agent.agent_id}", json=body, headers=VERSION) as r:
        assert r.status == 401
    async with http.get(stack.url(0) + f"/a2a/{agent.agent_id}/tasks/{task.id}", headers=VERSION) as r:
        assert r.status == 401
    for c in (client, spy, rest_spy):
        await c.close()


async def _rpc(
    http: aiohttp.ClientSession, url: str, key: str, body: Any, headers: dict[str, str] | None = None
):
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    async with http.post(
        url,
        data=raw,
        headers={
            "X-API-Key": key,
            "Content-Type": "application/json",
            **(headers if headers is not None else VERSION),
        },
    ) as r:
        return r.status, await r.json(content_type=None)


async def test_bad_input_gets_the_specifications_errors(register, http, stack) -> None:
    caller, agent = await register("a2a-bad-a"), await register("a2a-bad-b")
    url = stack.url(0) + f"/a2a/{agent.agent_id}"
    msg = {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "hi"}]}
    cases = [
        (b"{not json", None, -32700),
        ({"jsonrpc": "2.0", "id": 1}, None, -32600),
        ({"jsonrpc": "2.0", "id": 2, "method": "tasks/send", "params": {}}, None, -32601),
        (
            {"jsonrpc": "2.0", "id": 3, "method": "SendMessage", "params": {"message": msg}},
            {"A2A-Version": "0.3"},
            -32009,
        ),
        (
            {"jsonrpc": "2.0", "id": 4, "method": "SendMessage", "params": {"message": {**msg, "parts": []}}},
            None,
            -32602,
        ),
        (
            {
                "jsonrpc": "2.0",
                "id": 5,
                "method": "SendMessage",
                "params": {"message": {**msg, "parts": [{"text": "x" * 300_000}]}},
            },
            None,
            -32602,
        ),
        ({"jsonrpc": "2.0", "id": 6, "method": "GetTask", "params": {"id": "task_nope"}}, None, -32001),
        (
            {
                "jsonrpc": "2.0",
                "id": 7,
                "method": "SendMessage",
                "params": {"message": {**msg, "taskId": "task_nope"}},
            },
            None,
            -32001,
        ),
    ]
    for body, headers, code in cases:
        status, answer = await _rpc(http, url, caller.key, body, headers)
        assert status == 200 and answer["error"]["code"] == code, (
            body,
            answer,
        )
    # nothing half-written: no task exists for the caller
    status, listed = await _rpc(
        http, url, caller.key, {"jsonrpc": "2.0", "id": 8, "method": "ListTasks", "params": {}}
    )
    assert listed["result"]["tasks"] == [] and listed["result"]["totalSize"] == 0
    # HTTP+JSON errors are google.rpc.Status with an ErrorInfo reason
    async with http.get(url + "/tasks/task_nope", headers={"X-API-Key": caller.key, **VERSION}) as r:
        error = (await r.json())["error"]
        assert r.status == 404 and error["details"][0]["reason"] == "TASK_NOT_FOUND"
    # an illegal transition through the hosted agent's REST: 409, not a 500
    status, sent = await _rpc(
        http,
        url,
        caller.key,
        {
            "jsonrpc": "2.0",
            "id": 9,
            "method": "SendMessage",
            "params": {"message": msg, "configuration": {"returnImmediately": True}},
        },
    )
    task_id = sent["result"]["task"]["id"]
    await work(agent, task_id, "TASK_STATE_REJECTED")
    assert (await agent.post(f"/v1/a2a/tasks/{task_id}/status", {"state": "TASK_STATE_WORKING"}))[0] == 409
    assert (await agent.post(f"/v1/a2a/tasks/{task_id}/status", {"state": "TASK_STATE_SUBMITTED"}))[0] == 422


async def test_the_hub_finds_agents_by_skill(register, http, stack) -> None:
    agent = await register("a2a-hub-findable")
    await agent.put("/v1/directory/me", {"capabilities": ["hub-findable-skill"], "public": True})
    _, answer = await _rpc(
        http,
        stack.url(0) + "/a2a/hub",
        agent.key,
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "SendMessage",
            "params": {
                "message": {
                    "messageId": "q",
                    "role": "ROLE_USER",
                    "parts": [{"text": "capability:hub-findable-skill"}],
                }
            },
        },
    )
    found = answer["result"]["message"]["parts"][0]["data"]["agents"]
    assert [a["agent_id"] for a in found] == [agent.agent_id]
    assert found[0]["card_url"].endswith(f"/a2a/{agent.agent_id}/.well-known/agent-card.json")


async def test_tasks_and_open_streams_survive_a_restart_of_the_service(register, stack) -> None:
    caller, agent = await register("a2a-restart-caller"), await register("a2a-restart-agent")
    client = await client_for(caller, agent, "HTTP+JSON", streaming=True, polling=False)
    poller = await client_for(caller, agent, "HTTP+JSON", streaming=False)
    task = (await first_event(poller.send_message(SendMessageRequest(message=text_message("survive"))))).task
    seen: list[dict[str, Any]] = []

    async def consume() -> None:
        async for event in client.subscribe(SubscribeToTaskRequest(id=task.id)):
            seen.append(MessageToDict(event))

    consumer = asyncio.create_task(consume())
    await until("the first stream event", lambda: asyncio.sleep(0, bool(seen)), timeout=10)
    stack.signal("a2a", signal.SIGKILL)  # every replica, no graceful stop
    await asyncio.sleep(0.5)
    stack.start_component("a2a")
    await stack.wait_ready()

    async def moved() -> bool:
        status, _ = await agent.post(f"/v1/a2a/tasks/{task.id}/status", {"state": "TASK_STATE_COMPLETED"})
        return status == 200

    await until("the restarted service", moved, timeout=30)
    await asyncio.wait_for(consumer, 20)
    assert seen[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert (await poller.get_task(GetTaskRequest(id=task.id))).status.state == TaskState.TASK_STATE_COMPLETED
    await client.close()
    await poller.close()


async def test_outside_agents_are_listed_by_card_url_validated_and_refreshed(register, anon: Api) -> None:
    agent = await register("a2a-lister")
    card = {
        "name": "Outside translator",
        "description": "Not hosted here",
        "supportedInterfaces": [
            {"url": "https://elsewhere.example/a2a", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
        ],
        "version": "2.1.0",
        "capabilities": {"streaming": False},
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": [{"id": "translate", "name": "Translate", "description": "Any language", "tags": ["lang"]}],
    }
    served = {"card": card}

    async def serve_card(request: web.Request) -> web.Response:
        return web.json_response(served["card"])

    app = web.Application()
    app.router.add_get("/.well-known/agent-card.json", serve_card)

    async def not_a_card(request: web.Request) -> web.Response:
        return web.json_response({"hello": "world"})

    app.router.add_get("/not-a-card", not_a_card)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        base = f"http://127.0.0.1:{port}"
        status, listed = await agent.post(
            "/v1/a2a/agents", {"card_url": f"{base}/.well-known/agent-card.json"}
        )
        assert status == 200 and listed["valid"] and listed["skills"] == ["translate"], listed
        status, bad = await agent.post("/v1/a2a/agents", {"card_url": f"{base}/not-a-card"})
        assert status == 400 and "agent card" in bad["detail"], bad
        status, everyone = await anon.get("/v1/a2a/agents", params={"include_hosted": "false"})
        mine = [a for a in everyone["agents"] if a.get("external_id") == listed["external_id"]]
        assert mine and mine[0]["external"] is True and mine[0]["name"] == "Outside translator"
        # the card changes into an invalid one: the refresh marks it, keeping the last valid card
        served["card"] = {"name": "broken"}

        async def marked_invalid() -> bool:
            agents = (await anon.get("/v1/a2a/agents", params={"include_hosted": "false"}))[1]["agents"]
            row = next(a for a in agents if a.get("external_id") == listed["external_id"])
            return row["valid"] is False and row["name"] == "Outside translator"

        await until("the refresh to notice the broken card", marked_invalid, timeout=20)
        stranger = await register("a2a-not-lister")
        assert (await stranger.delete(f"/v1/a2a/agents/{listed['external_id']}"))[0] == 403
        assert (await agent.delete(f"/v1/a2a/agents/{listed['external_id']}"))[0] == 200
    finally:
        await runner.cleanup()
