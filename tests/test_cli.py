"""The `moltgrid` command's operator sub-commands against the running stack."""

from __future__ import annotations

import os
import subprocess
import sys


def _moltgrid(stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MOLTGRID_NATS_URL": stack.infra.nats_url}
    return subprocess.run(
        [sys.executable, "-m", "shared.runtime.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_ping_any_replica_and_one_replica(stack):
    assert _moltgrid(stack, "ping", "memory").returncode == 0
    assert _moltgrid(stack, "ping", "memory", "--instance", "memory-1").returncode == 0
    missing = _moltgrid(stack, "ping", "memory", "--instance", "memory-9", "--timeout", "0.5")
    assert missing.returncode == 1 and "unhealthy" in missing.stdout + missing.stderr


def test_status_and_version(stack):
    result = _moltgrid(stack, "status", "--url", stack.base_url)
    assert result.returncode == 0 and '"status"' in result.stdout
    assert _moltgrid(stack, "version").stdout.strip()


def test_create_agent(stack):
    import json

    result = _moltgrid(stack, "create-agent", "--name", "from-cli", "--url", stack.base_url)
    assert result.returncode == 0
    body = json.loads(result.stdout)
    assert body["agent_id"].startswith("agent_") and body["api_key"].startswith("af_")


async def test_tail_events_prints_new_events(stack, register):
    import asyncio
    import json

    env = {**os.environ, "MOLTGRID_NATS_URL": stack.infra.nats_url}
    agent = await register("tailed")
    # --since replays the stream from before the CLI subscribed, so no wait for the subscription is needed
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shared.runtime.cli",
        "tail-events",
        "--agent",
        agent.agent_id,
        "--since",
        "600",
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        job = (await agent.post("/v1/queue/submit", {"payload": "p", "queue_name": "tail"}))[1]
        claimed = (await agent.post("/v1/queue/claim", params={"queue_name": "tail"}))[1]
        await agent.post(f"/v1/queue/{job['job_id']}/complete", params={"result": "ok"})
        seen = []
        while not seen or seen[-1]["type"] != "job.completed":
            seen.append(json.loads(await asyncio.wait_for(proc.stdout.readline(), 30)))
        event = seen[-1]
        assert all(e["agent_id"] == agent.agent_id for e in seen)
        assert event["data"]["job_id"] == job["job_id"] == claimed["job_id"]
    finally:
        proc.terminate()
        await proc.wait()
