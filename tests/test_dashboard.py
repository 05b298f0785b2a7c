"""The Grafana dashboard (deploy/grafana/moltgrid.json): every panel's query names metrics the running stack exports."""

from __future__ import annotations

import json
import re

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT
from tests.helpers import Receiver, until

DASHBOARD = ROOT / "deploy" / "grafana" / "moltgrid.json"
METRIC = re.compile(r"\b(moltgrid_[a-z0-9_]+)\b")


def dashboard_queries() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for p in board["panels"] for t in p["targets"]]
    queries += [v["query"] for v in board["templating"]["list"] if v["type"] == "query"]
    return queries


def test_every_panel_has_a_query_naming_a_metric() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert board["panels"] and len({p["id"] for p in board["panels"]}) == len(board["panels"])
    for panel in board["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert METRIC.search(target["expr"]), (panel["title"], target["expr"])


async def test_every_queried_metric_is_exported_by_the_running_stack(stack, register, anon) -> None:
    sender, receiver = await register("dash-sender"), await register("dash-receiver")
    hook = Receiver()
    await hook.start()
    try:
        status, _ = await receiver.post(
            "/v1/webhooks", {"url": hook.url, "event_types": ["message.received"]}
        )
        assert status == 200
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(
                f"{stack.base_url}/v1/relay/ws", params={"api_key": receiver.key, "hello": "1"}
            )
            assert (await ws.receive_json(timeout=10))["event"] == "connected"
            await sender.post("/v1/relay/send", {"to_agent": receiver.agent_id, "payload": "x"})
            assert (await ws.receive_json(timeout=10))["event"] == "message.received"  # a live push
            await ws.close()
        await until("a webhook delivery", lambda: _async(hook.deliveries))
        await sender.get("/v1/memory/absent")  # an error outcome
        await anon.get("/v1/health")  # health checks of every service

        async def samples() -> set[str]:
            status, text, _ = await anon.request("GET", "/metrics")
            assert status == 200
            raw = text.decode() if isinstance(text, bytes) else str(text)
            return {s.name for fam in text_string_to_metric_families(raw) for s in fam.samples}

        needed = {m for q in dashboard_queries() for m in METRIC.findall(q)}
        # the delivery outcome is counted just after the receiver answers: poll until every metric shows
        # (/metrics is a scrape cached for 2 s and limited per client address: poll it once a second)
        exported = await until(
            "every dashboard metric exported", lambda: _all_exported(samples, needed), every=1.0
        )
        assert needed <= exported
    finally:
        await hook.stop()


async def _async(value: object) -> object:
    return value


async def _all_exported(samples, needed: set[str]) -> set[str] | None:  # type: ignore[no-untyped-def]
    exported = await samples()
    return exported if needed <= exported else None
