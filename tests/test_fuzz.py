"""Schemathesis against the running stack's own GET /openapi.json, as an authenticated agent.

Every REST operation (one test per route of gateway/routes.py, plus the API root and health) is driven
with schema-valid and schema-violating requests, both with made-up path ids and with ids of real records
the agent owns (so handlers run past their lookups). Each response must not be a server error (5xx), must
conform to the response schema the document declares for its status, and — any 4xx — must carry the
contract's error shape: {"detail": "..."} or, for 422, FastAPI's list of {type, loc, msg}.

Hypothesis is derandomized with a bounded number of examples, so a run is deterministic and short. A
private stack without the per-agent rate limit (a fuzzer would exhaust 120/min in a second) is used.
Left out: admin routes (a cookie session, covered in test_admin.py), the WebSocket and SSE stream (not in
the document), the long-polling GET /v1/events and the scenario run (which waits for its scenario).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from gateway.routes import ROUTES
from tests.conftest import TEST_ENCRYPTION_KEY
from tests.helpers import seed_view
from tests.stack import Infra, Stack, selected_components

# rotate-key is left out because it retires the very key the fuzzer sends (every later request would be a 401)
EXCLUDED = {
    ("GET", "/v1/events"),
    ("POST", "/v1/testing/scenarios/{scenario_id}/run"),
    ("POST", "/v1/agents/rotate-key"),
}
OPERATIONS = [
    ("GET", "/"),
    ("GET", "/v1/health"),
    *((r.method, r.path) for r in ROUTES if (r.method, r.path) not in EXCLUDED),
]
EXAMPLES = 25  # per operation and generation mode (positive, negative), each with made-up and real ids
SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)
SAFE_WEBHOOK_URL = "http://127.0.0.1:9/fuzz"  # webhooks the fuzzer creates can only ever reach loopback


@pytest.fixture(scope="module")
async def fuzz_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """Its own NATS and Postgres too: services sharing a NATS server with the session's stack would join the
    same queue groups and answer for the other stack's database."""
    infra = Infra.start(tmp_path_factory.mktemp("fuzz-infra"), fast_unsafe=True)
    try:
        services = ",".join(c for c in selected_components() if c != "gateway")
        s = Stack(
            infra,
            await infra.create_database(),
            tmp_path_factory.mktemp("fuzz-logs"),
            env={
                "MOLTGRID_RATE_LIMIT_PER_MINUTE": "0",
                "MOLTGRID_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEY,
                "MOLTGRID_SERVICES": services,
                "MOLTGRID_LOG_FORMAT": "json",
                "MOLTGRID_REQUEST_TIMEOUT": "5",
                "MOLTGRID_ALLOW_PRIVATE_WEBHOOKS": "true",
            },
        )
        try:
            s.start()
            await s.wait_ready()
            yield s
        finally:
            s.stop()
    finally:
        infra.stop()


@pytest.fixture(scope="module")
async def fuzz_env(fuzz_stack: Stack) -> AsyncIterator[dict[str, Any]]:
    """The schema as the stack serves it, a fresh agent's key, and one real record of each id kind."""
    base = fuzz_stack.base_url
    async with aiohttp.ClientSession() as http:

        async def call(method: str, path: str, key: str | None = None, **kw: Any) -> Any:
            async with http.request(
                method, base + path, headers={"X-API-Key": key} if key else {}, **kw
            ) as r:
                body = await r.json()
                assert r.status == 200, (method, path, r.status, body)
                return body

        doc = await call("GET", "/openapi.json")
        me = await call("POST", "/v1/register", json={"name": "fuzzer"})
        peer = await call("POST", "/v1/register", json={"name": "fuzz-peer"})
        key, peer_key = me["api_key"], peer["api_key"]
        await call("POST", "/v1/memory", key, json={"key": "fuzz-key", "value": "v"})
        await call(
            "POST", "/v1/shared-memory", key, json={"namespace": "fuzz-ns", "key": "fuzz-key", "value": "v"}
        )
        job = await call("POST", "/v1/queue/submit", key, json={"payload": "p", "queue_name": "fuzz"})
        await call("POST", "/v1/relay/send", peer_key, json={"to_agent": me["agent_id"], "payload": "hi"})
        inbox = await call("GET", "/v1/relay/inbox", key)
        hook = await call(
            "POST", "/v1/webhooks", key, json={"url": SAFE_WEBHOOK_URL, "event_types": ["message.received"]}
        )
        schedule = await call("POST", "/v1/schedules", key, json={"cron_expr": "0 0 1 1 *", "payload": "p"})
        task = await call(
            "POST", "/v1/marketplace/tasks", key, json={"title": "fuzz task", "reward_credits": 1}
        )
        scenario = await call(
            "POST", "/v1/testing/scenarios", key, json={"pattern": "leader_election", "agent_count": 2}
        )
        session = await call("POST", "/v1/sessions", key, json={"title": "fuzz"})
        await call(
            "POST",
            f"/v1/sessions/{session['session_id']}/messages",
            key,
            json={"role": "user", "content": "fuzz message"},
        )
        graph_task = await call("POST", "/v1/tasks", key, json={"title": "fuzz graph task"})
    real = {
        "key": "fuzz-key",
        "namespace": "fuzz-ns",
        "job_id": job["job_id"],
        "message_id": inbox["messages"][0]["message_id"],
        "webhook_id": hook["webhook_id"],
        "delivery_id": "dlv_000000000000",
        "agent_id": me["agent_id"],
        "scenario_id": scenario["scenario_id"],
        "template_id": "tmpl_worker",
        "session_id": session["session_id"],
        "target_agent_id": me["agent_id"],
    }
    yield {
        "doc": doc,
        "key": key,
        "base": base,
        "real": real,
        "task_id": {
            "/v1/schedules": schedule["task_id"],
            "/v1/marketplace": task["task_id"],
            "/v1/tasks": graph_task["task_id"],
        },
    }


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_env: dict[str, Any]) -> Any:
    return schemathesis.openapi.from_dict(fuzz_env["doc"])


def _real_ids(env: dict[str, Any], path: str) -> dict[str, str]:
    ids = dict(env["real"])
    for prefix, task_id in env["task_id"].items():
        if path.startswith(prefix):
            ids["task_id"] = task_id
    return {name: value for name, value in ids.items() if "{" + name + "}" in path}


def _strategies(operation: Any, real: dict[str, str]) -> list[tuple[GenerationMode, Any]]:
    out = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        out.append((mode, operation.as_strategy(mode)))
        if real:
            out.append((mode, operation.as_strategy(mode, path_parameters=real)))
    return out


def refused_by_http_parser(response: Any) -> bool:
    """aiohttp's HTTP parser answers a request it cannot parse (a request line over 8 KB, say) with a plain
    400 before any application code runs — so without the X-Request-ID every application response carries."""
    return (
        response.status_code == 400
        and "X-Request-ID" not in response.headers
        and response.headers.get("Content-Type", "").startswith("text/plain")
    )


def assert_error_shape(status: int, body: Any, headers: Any) -> None:
    """Every 4xx answers in the contract's shape (with 1.0's fields beside `detail`, checked by seed_view)."""
    single = {k: v[0] if isinstance(v, list) else v for k, v in dict(headers).items()}  # schemathesis: lists
    body = seed_view(status, body, requests.structures.CaseInsensitiveDict(single))
    assert isinstance(body, dict) and set(body) == {"detail"}, body
    if status == 422 and isinstance(body["detail"], list):
        assert body["detail"] and all({"type", "loc", "msg"} <= set(e) for e in body["detail"]), body
    else:
        assert isinstance(body["detail"], str) and body["detail"], body


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_survives_fuzzing(
    fuzz_env: dict[str, Any], fuzz_schema: Any, method: str, path: str
) -> None:
    operation = fuzz_schema[path][method]
    headers = {"X-API-Key": fuzz_env["key"]}
    statuses: dict[int, int] = {}
    strategies = _strategies(operation, _real_ids(fuzz_env, path))
    with requests.Session() as session:
        for mode, strategy in strategies:

            @SETTINGS
            @hypothesis.given(case=strategy)
            def run(case: Any) -> None:
                if (
                    (method, path) == ("POST", "/v1/webhooks")
                    and isinstance(case.body, dict)
                    and isinstance(case.body.get("url"), str)
                ):
                    case.body["url"] = SAFE_WEBHOOK_URL
                response = case.call_and_validate(
                    base_url=fuzz_env["base"],
                    session=session,
                    headers=headers,
                    timeout=15,
                    checks=[not_a_server_error, response_schema_conformance],
                )
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if 400 <= response.status_code < 500 and not refused_by_http_parser(response):
                    assert_error_shape(response.status_code, response.json(), response.headers)

            try:
                run()
            except Unsatisfiable:  # nothing left to make invalid (no parameters, or only the real ids)
                assert mode == GenerationMode.NEGATIVE
    print(f"{method} {path}: {dict(sorted(statuses.items()))}")
    assert statuses and all(s < 500 for s in statuses)


def test_every_route_is_fuzzed_or_excluded_on_purpose() -> None:
    assert {(r.method, r.path) for r in ROUTES} <= set(OPERATIONS) | EXCLUDED
    assert {(r.method, r.path) for r in ROUTES} >= EXCLUDED, (
        "an exclusion names a route that no longer exists"
    )
