"""The MCP server, driven by the official MCP client (the `mcp` SDK) over both transports against the real stack:
Streamable HTTP at the gateway's /mcp, and stdio through `moltgrid mcp`. Every tool of the table is called
(parametrized over the table: every row names a route, or the import fails)."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from gateway.mcp_tools import TOOL_SPECS, TOOLS, ToolSpec, tools_of
from gateway.routes import ROUTES
from tests.conftest import ROOT, Api

TRANSPORTS = ("http", "http-legacy", "stdio")


@asynccontextmanager
async def connect(
    api: Api, transport: str, *, key: str | None = None, header: str = "X-API-Key"
) -> AsyncIterator[Client]:
    """An MCP client session for `api`'s agent over `transport`."""
    key = key if key is not None else api.key
    assert key is not None
    if transport == "stdio":
        params = StdioServerParameters(
            command=str(Path(sys.executable).parent / "moltgrid"),
            args=["mcp"],
            cwd=str(ROOT),
            env={"MOLTGRID_API_KEY": key, "MOLTGRID_URL": api.base, "MOLTGRID_LOG_LEVEL": "warning"},
        )
        async with Client(params, mode="legacy") as client:
            yield client
        return
    value = key if header == "X-API-Key" else f"Bearer {key}"
    http = create_mcp_http_client(headers={header: value})
    async with (
        http,
        Client(
            streamable_http_client(f"{api.base}/mcp", http_client=http),
            mode="legacy" if transport == "http-legacy" else "auto",
        ) as client,
    ):
        yield client


def data(result: Any) -> Any:
    assert not result.is_error, result.content[0].text
    return json.loads(result.content[0].text)


def error(result: Any) -> str:
    assert result.is_error, result.content
    text: str = result.content[0].text
    return text


def uid() -> str:
    return uuid.uuid4().hex[:10]


Case = Callable[[Client, Api, Api], Awaitable[None]]
CASES: dict[str, Case] = {}


def case(name: str) -> Callable[[Case], Case]:
    def register(fn: Case) -> Case:
        CASES[name] = fn
        return fn

    return register


@case("memory_set")
async def _(c: Client, a: Api, b: Api) -> None:
    out = data(await c.call_tool("memory_set", {"key": "k", "value": "v1", "namespace": "mcp"}))
    assert out["key"] == "k"
    assert (await a.get("/v1/memory/k", params={"namespace": "mcp"}))[1]["value"] == "v1"


@case("memory_get")
async def _(c: Client, a: Api, b: Api) -> None:
    await a.post("/v1/memory", {"key": "greeting", "value": "hello"})
    assert data(await c.call_tool("memory_get", {"key": "greeting"}))["value"] == "hello"
    text = error(await c.call_tool("memory_get", {"key": "absent"}))
    assert text.startswith("HTTP 404: ") and (await a.get("/v1/memory/absent"))[1]["detail"] in text


@case("memory_list")
async def _(c: Client, a: Api, b: Api) -> None:
    for k in ("p1", "p2", "q1"):
        await a.post("/v1/memory", {"key": k, "value": "x"})
    out = data(await c.call_tool("memory_list", {"prefix": "p"}))
    assert sorted(k["key"] for k in out["keys"]) == ["p1", "p2"]


@case("memory_delete")
async def _(c: Client, a: Api, b: Api) -> None:
    await a.post("/v1/memory", {"key": "gone", "value": "x"})
    data(await c.call_tool("memory_delete", {"key": "gone"}))
    assert (await a.get("/v1/memory/gone"))[0] == 404


@case("vector_upsert")
async def _(c: Client, a: Api, b: Api) -> None:
    data(await c.call_tool("vector_upsert", {"key": "doc1", "text": "the cat sat on the mat"}))
    status, body = await a.post("/v1/vector/search", {"query": "cat on a mat"})
    assert status == 200 and "doc1" in json.dumps(body)


@case("vector_search")
async def _(c: Client, a: Api, b: Api) -> None:
    await a.post("/v1/vector/upsert", {"key": "doc2", "text": "rockets fly to the moon"})
    assert "doc2" in json.dumps(data(await c.call_tool("vector_search", {"query": "moon rockets"})))


@case("shared_memory_set")
async def _(c: Client, a: Api, b: Api) -> None:
    ns = f"ns{uid()}"
    data(await c.call_tool("shared_memory_set", {"namespace": ns, "key": "k", "value": "shared"}))
    assert (await b.get(f"/v1/shared-memory/{ns}/k"))[1]["value"] == "shared"


@case("shared_memory_get")
async def _(c: Client, a: Api, b: Api) -> None:
    ns = f"ns{uid()}"
    await b.post("/v1/shared-memory", {"namespace": ns, "key": "k", "value": "from bob"})
    assert data(await c.call_tool("shared_memory_get", {"namespace": ns, "key": "k"}))["value"] == "from bob"


@case("shared_memory_list")
async def _(c: Client, a: Api, b: Api) -> None:
    ns = f"ns{uid()}"
    await b.post("/v1/shared-memory", {"namespace": ns, "key": "k1", "value": "1"})
    assert "k1" in json.dumps(data(await c.call_tool("shared_memory_list", {"namespace": ns})))


@case("shared_memory_delete")
async def _(c: Client, a: Api, b: Api) -> None:
    ns = f"ns{uid()}"
    await a.post("/v1/shared-memory", {"namespace": ns, "key": "k", "value": "1"})
    data(await c.call_tool("shared_memory_delete", {"namespace": ns, "key": "k"}))
    assert (await a.get(f"/v1/shared-memory/{ns}/k"))[0] == 404


@case("queue_submit")
async def _(c: Client, a: Api, b: Api) -> None:
    q = f"q{uid()}"
    job = data(
        await c.call_tool("queue_submit", {"payload": {"task": "resize"}, "queue_name": q, "priority": 3})
    )
    status, body = await a.post("/v1/queue/claim", {"queue_name": q})
    assert status == 200 and (body["job_id"], body["payload"], body["priority"]) == (
        job["job_id"],
        {"task": "resize"},
        3,
    )


@case("queue_claim")
async def _(c: Client, a: Api, b: Api) -> None:
    q = f"q{uid()}"
    job_id = (await a.post("/v1/queue/submit", {"payload": "p", "queue_name": q}))[1]["job_id"]
    assert data(await c.call_tool("queue_claim", {"queue_name": q}))["job_id"] == job_id


@case("queue_complete")
async def _(c: Client, a: Api, b: Api) -> None:
    q = f"q{uid()}"
    job_id = (await a.post("/v1/queue/submit", {"payload": "p", "queue_name": q}))[1]["job_id"]
    await a.post("/v1/queue/claim", {"queue_name": q})
    data(await c.call_tool("queue_complete", {"job_id": job_id, "result": {"ok": True}}))
    body = (await a.get(f"/v1/queue/{job_id}"))[1]
    assert body["status"] == "completed" and body["result"] == {"ok": True}


@case("queue_fail")
async def _(c: Client, a: Api, b: Api) -> None:
    q = f"q{uid()}"
    job_id = (await a.post("/v1/queue/submit", {"payload": "p", "queue_name": q}))[1]["job_id"]
    await a.post("/v1/queue/claim", {"queue_name": q})
    data(await c.call_tool("queue_fail", {"job_id": job_id, "error": "boom", "retryable": False}))
    assert (await a.get(f"/v1/queue/{job_id}"))[1]["status"] == "dead_letter"


@case("relay_send")
async def _(c: Client, a: Api, b: Api) -> None:
    data(await c.call_tool("relay_send", {"to_agent": b.agent_id, "payload": {"hi": 1}}))
    inbox = (await b.get("/v1/relay/inbox"))[1]
    assert [m["payload"] for m in inbox["messages"]] == [{"hi": 1}]


@case("relay_inbox")
async def _(c: Client, a: Api, b: Api) -> None:
    await b.post("/v1/relay/send", {"to_agent": a.agent_id, "payload": "ping", "channel": "ops"})
    out = data(await c.call_tool("relay_inbox", {"channel": "ops"}))
    assert [m["payload"] for m in out["messages"]] == ["ping"]


@case("pubsub_subscribe")
async def _(c: Client, a: Api, b: Api) -> None:
    data(await c.call_tool("pubsub_subscribe", {"channel": f"ch{uid()}"}))


@case("pubsub_publish")
async def _(c: Client, a: Api, b: Api) -> None:
    channel = f"ch{uid()}"
    assert (await b.post("/v1/pubsub/subscribe", {"channel": channel}))[0] == 200
    data(await c.call_tool("pubsub_publish", {"channel": channel, "payload": "news"}))


@case("heartbeat")
async def _(c: Client, a: Api, b: Api) -> None:
    data(await c.call_tool("heartbeat", {"status": "busy"}))


async def _public_with_capability(api: Api) -> str:
    capability = f"cap{uid()}"
    status, body = await api.put(
        "/v1/directory/me", {"description": "mcp test", "capabilities": [capability], "public": True}
    )
    assert status == 200, body
    return capability


@case("directory_search")
async def _(c: Client, a: Api, b: Api) -> None:
    capability = await _public_with_capability(b)
    assert b.agent_id in json.dumps(data(await c.call_tool("directory_search", {"capability": capability})))


@case("directory_match")
async def _(c: Client, a: Api, b: Api) -> None:
    capability = await _public_with_capability(b)
    assert b.agent_id in json.dumps(data(await c.call_tool("directory_match", {"need": capability})))


@case("marketplace_browse")
async def _(c: Client, a: Api, b: Api) -> None:
    category = f"cat{uid()}"
    task_id = (await b.post("/v1/marketplace/tasks", {"title": "t", "category": category}))[1]["task_id"]
    assert task_id in json.dumps(data(await c.call_tool("marketplace_browse", {"category": category})))


@case("marketplace_create")
async def _(c: Client, a: Api, b: Api) -> None:
    out = data(await c.call_tool("marketplace_create", {"title": "Summarise", "tags": ["nlp"]}))
    body = (await b.get(f"/v1/marketplace/tasks/{out['task_id']}"))[1]
    assert body["title"] == "Summarise" and body["creator_agent"] == a.agent_id


@case("marketplace_claim")
async def _(c: Client, a: Api, b: Api) -> None:
    task_id = (await b.post("/v1/marketplace/tasks", {"title": "t"}))[1]["task_id"]
    assert data(await c.call_tool("marketplace_claim", {"task_id": task_id})) == {
        "task_id": task_id,
        "status": "claimed",
        "claimed_by": a.agent_id,
    }
    assert "HTTP 409: Task is not open" in error(await c.call_tool("marketplace_claim", {"task_id": task_id}))


@case("marketplace_deliver")
async def _(c: Client, a: Api, b: Api) -> None:
    task_id = (await b.post("/v1/marketplace/tasks", {"title": "t"}))[1]["task_id"]
    await a.post(f"/v1/marketplace/tasks/{task_id}/claim")
    assert data(await c.call_tool("marketplace_deliver", {"task_id": task_id, "result": "done"})) == {
        "task_id": task_id,
        "status": "delivered",
    }


@case("schedule_create")
async def _(c: Client, a: Api, b: Api) -> None:
    out = data(await c.call_tool("schedule_create", {"cron_expr": "*/5 * * * *", "payload": {"p": 1}}))
    assert (await a.get(f"/v1/schedules/{out['task_id']}"))[1]["cron_expr"] == "*/5 * * * *"


@case("schedule_list")
async def _(c: Client, a: Api, b: Api) -> None:
    task_id = (await a.post("/v1/schedules", {"cron_expr": "0 * * * *", "payload": 1}))[1]["task_id"]
    assert task_id in json.dumps(data(await c.call_tool("schedule_list", {})))


@case("schedule_delete")
async def _(c: Client, a: Api, b: Api) -> None:
    task_id = (await a.post("/v1/schedules", {"cron_expr": "0 * * * *", "payload": 1}))[1]["task_id"]
    data(await c.call_tool("schedule_delete", {"task_id": task_id}))
    assert (await a.get(f"/v1/schedules/{task_id}"))[0] == 404


async def _a2a_task_for(a: Api, b: Api) -> str:
    """b sends a task to a's A2A endpoint."""
    message = {"messageId": "mcp", "role": "ROLE_USER", "parts": [{"text": "via mcp"}]}
    status, body, _ = await b.request(
        "POST",
        f"/a2a/{a.agent_id}/message:send",
        json={"message": message, "configuration": {"returnImmediately": True}},
        headers={"A2A-Version": "1.0"},
        envelope=True,
    )
    assert status == 200, body
    return str(body["task"]["id"])


@case("a2a_tasks")
async def _(c: Client, a: Api, b: Api) -> None:
    task_id = await _a2a_task_for(a, b)
    listed = data(await c.call_tool("a2a_tasks", {"state": "TASK_STATE_SUBMITTED"}))
    assert task_id in [t["id"] for t in listed["tasks"]]


@case("a2a_update_status")
async def _(c: Client, a: Api, b: Api) -> None:
    task_id = await _a2a_task_for(a, b)
    out = data(await c.call_tool("a2a_update_status", {"task_id": task_id, "state": "TASK_STATE_COMPLETED"}))
    assert out["status"]["state"] == "TASK_STATE_COMPLETED"


def test_every_row_has_a_case_and_a_route() -> None:
    assert {s.name for s in TOOL_SPECS} == set(CASES) == set(TOOLS)
    assert len({s.name for s in TOOL_SPECS}) == len(TOOL_SPECS)
    assert all(spec.description for spec in TOOL_SPECS)


def test_a_row_naming_no_route_fails() -> None:
    route = ROUTES[0]
    spec = ToolSpec("probe", "d", route.method, route.path)
    assert tools_of((spec,))["probe"].route is route
    ghost = ToolSpec("ghost", "d", "POST", "/v1/not-built")
    with pytest.raises(LookupError, match="ghost"):
        tools_of((spec, ghost))


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_lists_tools_and_resources(transport: str, alice: Api) -> None:
    async with connect(alice, transport) as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
        assert set(tools) == set(TOOLS)
        assert tools["memory_get"].input_schema["required"] == ["key"]
        # every schema is the route's described request model: path, query and body fields together
        for name, tool in tools.items():
            schema = tool.input_schema
            assert schema["type"] == "object" and "properties" in schema, name
            assert set(schema.get("required", [])) <= set(schema["properties"]), name
        memory_set = tools["memory_set"].input_schema
        assert {"key", "value"} <= set(memory_set["required"]) and memory_set["additionalProperties"] is False
        assert memory_set["properties"]["value"]["maxLength"] == 50_000
        assert set(tools["memory_get"].input_schema["properties"]) >= {"key", "namespace"}
        assert tools["memory_get"].annotations.read_only_hint is True
        resources = {r.uri for r in (await c.list_resources()).resources}
        assert resources == {"moltgrid://memory", "moltgrid://inbox"}
        templates = (await c.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["moltgrid://memory/{key}"]


@pytest.mark.parametrize("transport", ("http", "stdio"))
@pytest.mark.parametrize("name", [s.name for s in TOOL_SPECS])
async def test_each_tool(name: str, transport: str, register) -> None:
    a, b = await register("mcp-a"), await register("mcp-b")
    async with connect(a, transport) as c:
        await CASES[name](c, a, b)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_errors_come_back_as_tool_errors(transport: str, alice: Api) -> None:
    async with connect(alice, transport) as c:
        text = error(await c.call_tool("memory_set", {"key": "k"}))  # value missing
        assert text.startswith("HTTP 422: ")
        detail = json.loads(text.removeprefix("HTTP 422: "))
        assert detail[0]["loc"] == ["body", "value"] and detail[0]["type"] == "missing"
        assert error(await c.call_tool("queue_complete", {"job_id": "job_nope"})).startswith("HTTP 404: ")
        assert "Unknown tool" in error(await c.call_tool("no_such_tool", {}))
        deep: Any = "x"
        for _ in range(100):
            deep = [deep]
        assert error(await c.call_tool("queue_submit", {"payload": deep})).startswith("HTTP 422: ")
        # the session survives its errors
        assert data(await c.call_tool("memory_list", {}))["keys"] == []


@pytest.mark.parametrize("transport", ("http", "stdio"))
async def test_resources_read_memory_keys_values_and_inbox(transport: str, alice: Api, bob: Api) -> None:
    await alice.post("/v1/memory", {"key": "notes/1", "value": "remember"})
    await bob.post("/v1/relay/send", {"to_agent": alice.agent_id, "payload": {"x": 1}})
    async with connect(alice, transport) as c:
        keys = json.loads((await c.read_resource("moltgrid://memory")).contents[0].text)
        assert [k["key"] for k in keys["keys"]] == ["notes/1"]
        value = json.loads((await c.read_resource("moltgrid://memory/notes%2F1")).contents[0].text)
        assert value["value"] == "remember"
        inbox = json.loads((await c.read_resource("moltgrid://inbox")).contents[0].text)
        assert [m["payload"] for m in inbox["messages"]] == [{"x": 1}]
        with pytest.raises(MCPError, match="HTTP 404"):
            await c.read_resource("moltgrid://memory/absent")


async def test_http_auth_is_the_gateways(alice: Api, anon: Api) -> None:
    async with connect(alice, "http", header="Authorization") as c:  # Bearer works too
        assert data(await c.call_tool("memory_list", {}))["keys"] == []
    with pytest.raises(BaseException) as caught:
        async with connect(alice, "http", key="af_not_a_real_key") as c:
            await c.list_tools()
    assert [type(e) for e in leaves(caught.value)] == [MCPError]  # the client saw the HTTP error
    request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    status, body = await anon.post("/mcp", request, headers={"X-API-Key": "af_not_a_real_key"})
    assert (status, body) == (401, {"detail": "Invalid API key"})
    assert await anon.post("/mcp", request) == (401, {"detail": "Missing X-API-Key header"})


def leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaves(inner)]
    return [exc]


async def test_stdio_with_a_bad_key_reports_the_apis_401(alice: Api) -> None:
    async with connect(alice, "stdio", key="af_not_a_real_key") as c:
        assert error(await c.call_tool("memory_list", {})) == "HTTP 401: Invalid API key"


async def test_http_tool_calls_spend_the_agents_rate_limit(alice: Api) -> None:
    async with connect(alice, "http") as c:
        data(await c.call_tool("memory_list", {}))
    status, _, headers = await alice.request("GET", "/v1/memory")
    used = int(headers["X-RateLimit-Limit"]) - int(headers["X-RateLimit-Remaining"])
    assert status == 200 and used >= 2  # the MCP requests and this one drew on one budget


async def test_both_gateways_serve_mcp_statelessly(alice: Api, stack) -> None:
    for i in range(2):
        async with connect(alice.on(stack.url(i)), "http") as c:
            data(await c.call_tool("memory_set", {"key": f"g{i}", "value": "x"}))
    assert [(await alice.get(f"/v1/memory/g{i}"))[0] for i in range(2)] == [200, 200]


@pytest.mark.parametrize("transport", ("http", "stdio"))
async def test_tools_act_only_as_the_authenticated_agent(transport: str, alice: Api, bob: Api) -> None:
    q = f"q{uid()}"
    await alice.post("/v1/memory", {"key": "secret", "value": "alice only"})
    job_id = (await alice.post("/v1/queue/submit", {"payload": "p", "queue_name": q}))[1]["job_id"]
    await alice.post("/v1/queue/claim", {"queue_name": q})
    task_id = (await alice.post("/v1/marketplace/tasks", {"title": "t"}))[1]["task_id"]
    await alice.post(f"/v1/marketplace/tasks/{task_id}/claim")  # refused (own task): stays open
    schedule_id = (await alice.post("/v1/schedules", {"cron_expr": "0 * * * *", "payload": 1}))[1]["task_id"]
    async with connect(bob, transport) as c:
        assert error(await c.call_tool("memory_get", {"key": "secret"})).startswith("HTTP 404: ")
        assert error(await c.call_tool("queue_complete", {"job_id": job_id})).startswith("HTTP 404: ")
        assert error(await c.call_tool("queue_fail", {"job_id": job_id})).startswith("HTTP 404: ")
        assert error(await c.call_tool("schedule_delete", {"task_id": schedule_id})).startswith("HTTP 404: ")
        assert error(
            await c.call_tool("marketplace_deliver", {"task_id": task_id, "result": "x"})
        ).startswith("HTTP 4")
        extra = error(await c.call_tool("memory_get", {"key": "secret", "agent_id": alice.agent_id}))
        assert extra.startswith("HTTP 4")  # no argument names another agent
    assert (await alice.get(f"/v1/queue/{job_id}"))[1]["status"] == "processing"
    assert (await alice.get(f"/v1/schedules/{schedule_id}"))[0] == 200


def test_an_idle_gateway_imports_neither_the_sdk_nor_opentelemetry() -> None:
    """The gateway loads the MCP SDK on the first /mcp request and OpenTelemetry only when tracing is on."""
    import subprocess

    code = (
        "import sys, gateway.__main__, gateway.app; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'mcp', 'starlette', 'opentelemetry'}))"
    )
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("OTEL_")}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
