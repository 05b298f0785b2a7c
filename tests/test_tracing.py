"""OpenTelemetry traces across the bus: one request through the gateway yields one trace holding spans from the
gateway, the service and Postgres; events carry the trace through JetStream to the webhook delivery.

The processes export over OTLP/HTTP (the standard OTEL_* variables) to a small collector endpoint this test
runs on loopback, which keeps every span it receives in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from shared import tracing
from tests.conftest import Api
from tests.helpers import LoopbackServer, Receiver, until
from tests.stack import Infra, Stack

SERVICES = ("directory", "memory", "relay")


@dataclass(frozen=True)
class Span:
    service: str
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: int
    attributes: dict[str, Any]


class Collector(LoopbackServer):
    """An OTLP/HTTP trace receiver (POST /v1/traces, protobuf) keeping the spans in memory."""

    def __init__(self) -> None:
        super().__init__("/v1/traces", self.receive)
        self.spans: list[Span] = []

    async def receive(self, request: web.Request) -> web.Response:
        export = ExportTraceServiceRequest.FromString(await request.read())
        for resource_spans in export.resource_spans:
            attrs = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for s in scope_spans.spans:
                    self.spans.append(
                        Span(
                            attrs.get("service.name", ""),
                            s.trace_id.hex(),
                            s.span_id.hex(),
                            s.parent_span_id.hex(),
                            s.name,
                            s.kind,
                            {a.key: _value(a.value) for a in s.attributes},
                        )
                    )
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(), content_type="application/x-protobuf"
        )

    def trace(self, trace_id: str) -> list[Span]:
        return [s for s in self.spans if s.trace_id == trace_id]


def _value(v: Any) -> Any:
    return getattr(v, v.WhichOneof("value")) if v.WhichOneof("value") else None


@pytest.fixture(scope="module")
async def traced(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Stack, Collector]]:
    """A stack of its own (its own NATS and Postgres: services sharing the session stack's NATS would answer
    for the other stack's database) exporting its traces to the collector."""
    collector = Collector()
    await collector.start()
    infra = Infra.start(tmp_path_factory.mktemp("trace-infra"), fast_unsafe=True)
    try:
        s = Stack(
            infra,
            await infra.create_database(),
            tmp_path_factory.mktemp("trace-logs"),
            env={
                "MOLTGRID_SERVICES": ",".join(SERVICES),
                "MOLTGRID_LOG_FORMAT": "json",
                "MOLTGRID_ALLOW_PRIVATE_WEBHOOKS": "true",
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.port}",
                "OTEL_BSP_SCHEDULE_DELAY": "100",
            },
        )
        try:
            s.start(only=set(SERVICES))
            await s.wait_ready()
            yield s, collector
        finally:
            s.stop()
    finally:
        infra.stop()
        await collector.stop()


async def _agent(http: aiohttp.ClientSession, base: str, name: str) -> Api:
    status, body = await Api(http, base).post("/v1/register", {"name": name})
    assert status == 200, body
    return Api(http, base, body["api_key"], body["agent_id"])


def _one_root(collector: Collector, name: str) -> Span | None:
    roots = [
        s for s in collector.spans if s.name == name and s.service == "moltgrid-gateway" and not s.parent_id
    ]
    assert len(roots) <= 1, roots
    return roots[0] if roots else None


async def test_one_request_is_one_trace_through_gateway_service_and_postgres(traced) -> None:
    stack, collector = traced
    async with aiohttp.ClientSession() as http:
        agent = await _agent(http, stack.base_url, "traced")
        assert (await agent.post("/v1/memory", {"key": "k", "value": "traced value"}))[0] == 200

    root = await until("the gateway's span", lambda: _async(_one_root(collector, "POST /v1/memory")))

    def complete() -> list[Span] | None:
        spans = collector.trace(root.trace_id)
        services = {s.service for s in spans}
        sql = [s for s in spans if s.attributes.get("db.system") == "postgresql"]
        return spans if {"moltgrid-gateway", "moltgrid-memory"} <= services and sql else None

    spans = await until("the service's and Postgres' spans in the same trace", lambda: _async(complete()))
    by_id = {s.span_id: s for s in spans}
    server = next(s for s in spans if s.name == "memory.set")
    assert server.service == "moltgrid-memory" and server.kind == 2  # SERVER
    client = by_id[server.parent_id]  # the memory span's parent is the gateway's NATS request
    assert (client.service, client.name, client.kind) == ("moltgrid-gateway", "svc.memory.set", 3)
    assert _ancestor(by_id, client, root)
    sql = [
        s for s in spans if s.attributes.get("db.system") == "postgresql" and s.service == "moltgrid-memory"
    ]
    assert sql and all(_ancestor(by_id, s, server) for s in sql)
    assert (
        root.attributes["http.response.status_code"] == 200 and root.attributes["http.route"] == "/v1/memory"
    )
    # every span of the request is in this one trace: no other trace holds a memory.set span
    assert [s.trace_id for s in collector.spans if s.name == "memory.set"] == [root.trace_id]


async def test_an_event_continues_the_trace_to_its_webhook_delivery(traced) -> None:
    stack, collector = traced
    hook = Receiver()
    await hook.start()
    try:
        async with aiohttp.ClientSession() as http:
            sender, receiver = (
                await _agent(http, stack.base_url, "s"),
                await _agent(http, stack.base_url, "r"),
            )
            status, _ = await receiver.post(
                "/v1/webhooks", {"url": hook.url, "event_types": ["message.received"]}
            )
            assert status == 200
            assert (await sender.post("/v1/relay/send", {"to_agent": receiver.agent_id, "payload": "x"}))[
                0
            ] == 200
        await until("the delivery", lambda: _async(hook.deliveries))
        headers, body = hook.received[0]
        assert b"_trace" not in body  # the stashed context never reaches receivers
        root = await until("the send's span", lambda: _async(_one_root(collector, "POST /v1/relay/send")))
        assert headers["traceparent"].split("-")[1] == root.trace_id  # the receiver may continue the trace

        def names() -> set[str] | None:
            got = {(s.service, s.name) for s in collector.trace(root.trace_id)}
            want = {
                ("moltgrid-relay", "relay.send"),
                ("moltgrid-relay", "route message.received"),
                ("moltgrid-relay", "deliver message.received"),
            }
            return got if want <= got else None

        await until("router and delivery spans in the send's trace", lambda: _async(names()))
    finally:
        await hook.stop()


def test_tracing_is_off_without_configuration() -> None:
    assert not tracing.configured({})
    assert tracing.configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing.configured({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"})
    assert tracing.configured({"OTEL_TRACES_EXPORTER": "console"})
    assert not tracing.configured(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}
    )
    assert not tracing.configured(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}
    )


def _ancestor(by_id: dict[str, Span], span: Span, ancestor: Span) -> bool:
    while span.parent_id in by_id:
        span = by_id[span.parent_id]
        if span.span_id == ancestor.span_id:
            return True
    return False


async def _async(value: Any) -> Any:
    return value
