"""A2A round trip: SendStreamingMessage → the hosted agent sees the `a2a.task` event on its SSE event stream →
it sets TASK_STATE_COMPLETED over REST → the caller's stream receives the completion.

    python3 run.py bench a2a                          # at rest (one caller), then 64 concurrent callers
    python3 run.py bench a2a --concurrency 1,16,64 --rounds 200

Starts its own stack (embedded NATS, durable embedded PostgreSQL). The hosted agent is one worker reading its
event stream; callers use the HTTP+JSON binding. Prints p50/p99 of the whole round trip per concurrency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from shared.runtime.stack import Infra, Stack

VERSION = {"A2A-Version": "1.0"}


async def register(http: aiohttp.ClientSession, base: str, name: str) -> tuple[str, str]:
    async with http.post(f"{base}/v1/register", json={"name": name}) as r:
        body = await r.json()
    return body["agent_id"], body["api_key"]


async def hosted_agent(http: aiohttp.ClientSession, base: str, key: str, stop: asyncio.Event) -> None:
    """Complete every task the moment its `a2a.task` event arrives on the agent's event stream."""
    headers = {"X-API-Key": key, "Accept": "text/event-stream"}
    async with http.get(
        f"{base}/v1/events/stream", headers=headers, timeout=aiohttp.ClientTimeout(None)
    ) as r:
        async for line in r.content:
            if stop.is_set():
                return
            text = line.decode().strip()
            if not text.startswith("data:"):
                continue
            event = json.loads(text[5:])
            if event.get("type") != "a2a.task" or event["data"].get("state") != "TASK_STATE_SUBMITTED":
                continue
            task_id = event["data"]["task_id"]
            body = {
                "state": "TASK_STATE_COMPLETED",
                "artifacts": [{"artifactId": "a", "parts": [{"text": "ok"}]}],
            }
            async with http.post(
                f"{base}/v1/a2a/tasks/{task_id}/status", json=body, headers={"X-API-Key": key}
            ):
                pass


async def round_trip(http: aiohttp.ClientSession, url: str, key: str, n: int) -> float:
    body = {"message": {"messageId": f"b{n}", "role": "ROLE_USER", "parts": [{"text": "ping"}]}}
    started = time.perf_counter()
    async with http.post(f"{url}/message:stream", json=body, headers={"X-API-Key": key, **VERSION}) as r:
        async for line in r.content:
            text = line.decode().strip()
            if text.startswith("data:") and "TASK_STATE_COMPLETED" in text:
                return (time.perf_counter() - started) * 1000
    raise RuntimeError("the stream ended before the task completed")


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def drive(base: str, concurrency: list[int], rounds: int) -> list[dict[str, Any]]:
    results = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        agent_id, agent_key = await register(http, base, "bench-hosted")
        callers = [await register(http, base, f"bench-caller-{i}") for i in range(max(concurrency))]
        stop = asyncio.Event()
        worker = asyncio.create_task(hosted_agent(http, base, agent_key, stop))
        await asyncio.sleep(1)
        url = f"{base}/a2a/{agent_id}"
        await round_trip(http, url, callers[0][1], -1)  # warm up
        for c in concurrency:
            latencies: list[float] = []
            per_caller = max(1, rounds // c)

            async def caller(
                i: int, per_caller: int = per_caller, latencies: list[float] = latencies
            ) -> None:
                for n in range(per_caller):
                    latencies.append(await round_trip(http, url, callers[i][1], i * 100_000 + n))

            started = time.perf_counter()
            await asyncio.gather(*(caller(i) for i in range(c)))
            elapsed = time.perf_counter() - started
            results.append(
                {
                    "concurrency": c,
                    "round_trips": len(latencies),
                    "per_s": round(len(latencies) / elapsed, 1),
                    "p50_ms": round(statistics.median(latencies), 1),
                    "p99_ms": round(percentile(latencies, 0.99), 1),
                }
            )
        stop.set()
        worker.cancel()
    return results


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="bench a2a", description=__doc__.split("\n\n")[0])
    p.add_argument("--concurrency", default="1,64")
    p.add_argument("--rounds", type=int, default=256, help="round trips per concurrency level")
    p.add_argument("--json", type=Path, help="also write the results here")
    a = p.parse_args(argv)
    levels = [int(c) for c in a.concurrency.split(",")]
    with tempfile.TemporaryDirectory(prefix="moltgrid-bench-a2a-") as tmp:
        infra = Infra.start(Path(tmp))
        stack = Stack(
            infra,
            infra.create_database_sync("bench"),
            log_dir=Path(tmp) / "logs",
            env={"MOLTGRID_RATE_LIMIT_PER_MINUTE": "100000000", "MOLTGRID_LOG_LEVEL": "warning"},
        )
        try:
            stack.start({})
            stack.wait_ready_blocking()
            results = asyncio.run(drive(stack.url(0), levels, a.rounds))
        finally:
            stack.stop()
            infra.stop()
    print(f"{'concurrency':>11} {'round trips':>11} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for r in results:
        print(
            f"{r['concurrency']:>11} {r['round_trips']:>11} {r['per_s']:>8} {r['p50_ms']:>8} {r['p99_ms']:>8}"
        )
    if a.json:
        a.json.write_text(json.dumps(results, indent=2))
