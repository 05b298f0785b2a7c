"""Coordination testing: scenarios that really run their protocol over NATS, measured and judged."""

from __future__ import annotations

import re

import pytest

PATTERNS = ("leader_election", "consensus", "load_balancing", "pub_sub_fanout", "task_auction")
CONTRACT_FIELDS = {
    "leader_election": {"rounds", "messages_sent", "elected_leader", "latency_ms"},
    "consensus": {"rounds", "final_value", "messages_sent", "agreement_reached", "latency_ms"},
    "load_balancing": {
        "total_tasks",
        "tasks_per_agent",
        "max_load",
        "min_load",
        "std_deviation",
        "balance_score",
        "latency_ms",
    },
    "pub_sub_fanout": {
        "publisher",
        "subscriber_count",
        "messages_published",
        "total_deliveries",
        "failed_deliveries",
        "delivery_rate",
        "latency_ms",
    },
    "task_auction": {"tasks_auctioned", "total_bids", "collisions", "auctions", "latency_ms"},
}
SCENARIO_FIELDS = {
    "scenario_id",
    "creator_agent",
    "name",
    "pattern",
    "agent_count",
    "timeout_seconds",
    "success_criteria",
    "status",
    "results",
    "created_at",
    "completed_at",
}


async def create(agent, pattern: str, agent_count: int = 5, **extra) -> str:
    body = {
        "pattern": pattern,
        "agent_count": agent_count,
        "name": f"{pattern}_test",
        "timeout_seconds": 60,
        "success_criteria": {"min_participation": 0.8},
        **extra,
    }
    status, reply = await agent.post("/v1/testing/scenarios", body)
    assert status == 200, reply
    assert set(reply) == {"scenario_id", "status", "pattern", "created_at"} and reply["status"] == "created"
    assert re.fullmatch(r"scenario_[0-9a-f]{12}", reply["scenario_id"])
    return reply["scenario_id"]


async def run(agent, scenario_id: str) -> dict:
    status, reply = await agent.post(f"/v1/testing/scenarios/{scenario_id}/run")
    assert status == 200, reply
    assert (
        set(reply) == {"scenario_id", "status", "results", "completed_at"} and reply["status"] == "completed"
    )
    return reply


@pytest.mark.parametrize("pattern", PATTERNS)
async def test_contract_shapes(alice, pattern):
    scenario_id = await create(alice, pattern)
    reply = await run(alice, scenario_id)
    results = reply["results"]
    assert results["success"] is True, results["failures"]
    assert CONTRACT_FIELDS[pattern] | {"pattern", "success", "agent_count"} <= set(results)
    assert results["pattern"] == pattern and results["agent_count"] == 5
    status, got = await alice.get(f"/v1/testing/scenarios/{scenario_id}/results")
    assert status == 200 and set(got) == SCENARIO_FIELDS
    assert (got["status"], got["results"], got["completed_at"]) == (
        "completed",
        results,
        reply["completed_at"],
    )
    assert got["success_criteria"] == {"min_participation": 0.8} and got["creator_agent"] == alice.agent_id


def check_pattern(pattern: str, n: int, r: dict) -> None:
    """What a correct run of each protocol must show, from its own measurements."""
    agents = {f"test_agent_{i}" for i in range(n)}
    assert r["success"] is True and r["failures"] == [] and r["timed_out"] is False, r
    assert r["participants"] == n and r["messages_sent"] > 0 and r["latency_ms"] > 0
    assert all(c["passed"] for c in r["criteria"])
    if pattern == "leader_election":
        assert r["elected_leader"] in agents and r["leader_claims"] == 1 and r["agents_agreeing"] == n
    elif pattern == "consensus":
        assert r["agreement_reached"] is True and r["final_value"] in (0, 1, 2) and r["agents_committed"] == n
        assert sum(r["initial_proposals"].values()) == n
    elif pattern == "load_balancing":
        assert set(r["tasks_per_agent"]) == agents and sum(r["tasks_per_agent"].values()) == r["total_tasks"]
        assert r["tasks_completed"] == r["total_tasks"] == 100 and r["imbalance"] < 0.2  # 100 whatever n
        assert r["max_load"] == max(r["tasks_per_agent"].values())
        assert r["min_load"] == min(r["tasks_per_agent"].values())
        assert r["balance_score"] == round(r["min_load"] / r["max_load"], 4)  # the original's meaning
    elif pattern == "pub_sub_fanout":
        assert r["subscriber_count"] == n - 1 and r["total_deliveries"] == 10 * (n - 1)
        assert r["delivery_rate"] == 1.0 and r["failed_deliveries"] == 0
    else:
        assert (
            r["tasks_auctioned"] == 5 and r["total_bids"] == 5 * n and r["single_winner"] is True
        )  # 5 whatever n
        assert [a["task"] for a in r["auctions"]] == list(range(5))
        assert all(a["winner"] in agents and 1 <= a["winning_bid"] <= 100 for a in r["auctions"])


@pytest.mark.parametrize("n", [3, 25])
@pytest.mark.parametrize("pattern", PATTERNS)
async def test_each_pattern_runs_for_real(alice, pattern, n):
    scenario_id = await create(alice, pattern, n, success_criteria=None)
    check_pattern(pattern, n, (await run(alice, scenario_id))["results"])


async def test_sizes_asked_for_replace_the_originals_defaults(alice):
    """The original auctions 5 tasks and balances 100, whatever the agent count; a request may ask otherwise."""
    scenario_id = await create(alice, "task_auction", 3, success_criteria={"tasks": 7})
    r = (await run(alice, scenario_id))["results"]
    assert r["success"] is True and r["tasks_auctioned"] == 7 and r["total_bids"] == 21
    scenario_id = await create(alice, "load_balancing", 4, success_criteria={"total_tasks": 10})
    r = (await run(alice, scenario_id))["results"]
    assert r["total_tasks"] == r["tasks_completed"] == 10 and sum(r["tasks_per_agent"].values()) == 10
    assert (r["min_load"], r["max_load"]) == (2, 3) and r["balance_score"] == round(2 / 3, 4)


async def test_rerun_runs_again_and_only_the_creator_may_run(alice, bob):
    scenario_id = await create(alice, "task_auction")
    first = await run(alice, scenario_id)
    assert await bob.post(f"/v1/testing/scenarios/{scenario_id}/run") == (
        403,
        {"detail": "Only the creator can run this scenario"},
    )
    assert (await bob.get(f"/v1/testing/scenarios/{scenario_id}/results"))[0] == 404  # private to its creator
    second = await run(alice, scenario_id)
    assert second["completed_at"] > first["completed_at"] and second["results"]["success"] is True


async def test_list_filters_and_isolation(alice, bob):
    mine = await create(alice, "consensus")
    await create(alice, "leader_election")
    await run(alice, mine)
    status, body = await alice.get("/v1/testing/scenarios", params={"pattern": "consensus", "limit": 10})
    assert status == 200 and [s["scenario_id"] for s in body["scenarios"]] == [mine] and body["count"] == 1
    assert set(body["scenarios"][0]) == SCENARIO_FIELDS
    status, body = await alice.get("/v1/testing/scenarios", params={"status": "created"})
    assert [s["pattern"] for s in body["scenarios"]] == ["leader_election"]
    assert (await bob.get("/v1/testing/scenarios"))[1] == {"scenarios": [], "count": 0}


async def test_errors(alice):
    assert await alice.post("/v1/testing/scenarios", {"pattern": "nope", "agent_count": 3}) == (
        400,
        {
            "detail": "Invalid pattern. Valid: ['consensus', 'leader_election', 'load_balancing', 'pub_sub_fanout', "
            "'task_auction']"
        },
    )
    assert await alice.post("/v1/testing/scenarios/sc_nope/run") == (404, {"detail": "Scenario not found"})
    assert (await alice.get("/v1/testing/scenarios/sc_nope/results"))[0] == 404
    for body in (
        {"pattern": "consensus"},
        {"pattern": "consensus", "agent_count": 1},
        {"pattern": "consensus", "agent_count": 101},
        {"pattern": "consensus", "agent_count": 3, "timeout_seconds": 1},
        {"pattern": "consensus", "agent_count": 3, "success_criteria": "all"},
    ):
        assert (await alice.post("/v1/testing/scenarios", body))[0] == 422, body
    assert (await alice.get("/v1/testing/scenarios", params={"limit": 101}))[0] == 422


async def test_unmeetable_criteria_fail_honestly(alice):
    scenario_id = await create(
        alice, "pub_sub_fanout", 4, success_criteria={"max_latency_ms": 0.000001, "min_participation": 1.0}
    )
    r = (await run(alice, scenario_id))["results"]
    assert r["success"] is False and r["delivery_rate"] == 1.0  # delivered, but not that fast
    latency = next(c for c in r["criteria"] if c["name"] == "max_latency_ms")
    assert latency["passed"] is False and latency["actual"] > latency["expected"]
    assert any(f.startswith("max_latency_ms") for f in r["failures"])


async def test_a_run_cut_short_by_its_timeout_reports_what_happened(alice):
    scenario_id = await create(
        alice, "load_balancing", 3, timeout_seconds=5, success_criteria={"total_tasks": 1_000_000}
    )
    r = (await run(alice, scenario_id))["results"]
    assert r["success"] is False and r["timed_out"] is True
    assert r["failures"][0] == "timed out before the protocol finished"
    assert 0 < r["tasks_completed"] < 1_000_000 == r["total_tasks"]
    assert 4500 < r["duration_ms"] < 8000


async def test_scenario_sizes_are_capped(alice):
    """pub_sub_fanout with 100 agents and 100,000 messages (ten million deliveries through one connection) cut
    the run's NATS connection off; sizes beyond the documented limits are refused when the scenario is made."""
    for body in (
        {"pattern": "pub_sub_fanout", "agent_count": 100, "success_criteria": {"messages": 100_000}},
        {"pattern": "pub_sub_fanout", "agent_count": 3, "success_criteria": {"messages": 100_001}},
        {"pattern": "load_balancing", "agent_count": 3, "success_criteria": {"total_tasks": 1_000_001}},
        {"pattern": "task_auction", "agent_count": 3, "success_criteria": {"tasks": 1_001}},
        {"pattern": "consensus", "agent_count": 3, "success_criteria": {"max_rounds": 21}},
    ):
        status, reply = await alice.post("/v1/testing/scenarios", body)
        assert status == 422, (body, reply)
    status, reply = await alice.post(
        "/v1/testing/scenarios",
        {"pattern": "pub_sub_fanout", "agent_count": 100, "success_criteria": {"messages": 100_000}},
    )
    assert "deliveries" in str(reply["detail"]), reply
    # at the limit: accepted
    scenario_id = await create(alice, "pub_sub_fanout", 101 - 1, success_criteria={"messages": 1_010})
    assert scenario_id


async def test_a_run_whose_replica_dies_ends_failed(stack, alice):
    """A run cut off by its replica's death is ended `failed`, with the reason, by a replica that lives on."""
    import asyncio
    import signal
    import time

    env = {"MOLTGRID_SCENARIO_GRACE_SECONDS": "1", "MOLTGRID_SCENARIO_SWEEP_SECONDS": "0.5"}
    stack.stop_component("coordination")
    stack.sup.spawn("coordination", 1, env)
    try:
        await stack.wait_ready()
        scenario_id = await create(
            alice, "load_balancing", 3, timeout_seconds=5, success_criteria={"total_tasks": 1_000_000}
        )
        running = asyncio.create_task(alice.post(f"/v1/testing/scenarios/{scenario_id}/run"))
        deadline = time.monotonic() + 10
        while (await alice.get(f"/v1/testing/scenarios/{scenario_id}/results"))[1]["status"] != "running":
            assert time.monotonic() < deadline, "the run never started"
            await asyncio.sleep(0.1)
        stack.sup.children["coordination-1"].proc.send_signal(signal.SIGKILL)
        running.cancel()  # its answer would come only at the route's 320 s deadline
        stack.sup.children.pop("coordination-1").stop()
        stack.sup.spawn("coordination", 1, env)
        await stack.wait_ready()
        deadline = time.monotonic() + 20
        while True:
            got = (await alice.get(f"/v1/testing/scenarios/{scenario_id}/results"))[1]
            if got["status"] != "running":
                break
            assert time.monotonic() < deadline, "the abandoned run is still running"
            await asyncio.sleep(0.3)
        assert got["status"] == "failed" and got["completed_at"] is not None
        assert got["results"]["success"] is False and "interrupted" in got["results"]["error"]
        assert got["results"]["failures"] == [got["results"]["error"]]
    finally:
        child = stack.sup.children.pop("coordination-1", None)
        if child is not None:
            child.stop()
        stack.start_component("coordination")
        await stack.wait_ready()
