"""Pub/sub fan-out: one publication to 1,000 and 10,000 subscribers, from publish to the last delivery.

    python -m bench.pubsub_fanout                                  # 1k and 10k subscribers, 10 publications each
    python -m bench.pubsub_fanout --subscribers 1000,10000 --publications 20 --relays 2

Starts a private stack (embedded NATS and PostgreSQL, one gateway, the directory and --relays relay replicas),
registers the subscribers directly in Postgres (setup, not measured: 10,000 registrations and subscriptions
over HTTP would only time the setup), half on the literal channel and half on a `*` pattern, then publishes
through the gateway and times, per publication:

- `stored`: the publish request's answer — every subscriber's message and event are committed by then;
- `pushed`: the last `push.<agent_id>` frame seen on NATS (what gateways write to the subscribers' sockets);
- `events`: the last `message.broadcast` event on the EVENTS stream (what the event stream and webhooks read).

Prints p50 and p99 of each (milliseconds). A raw NATS subscriber on `push.>` and `events.*.message.broadcast`
stands in for the subscribers. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import nats
import orjson

from services.relay.channels import parse_pattern
from shared.ids import hash_api_key, new_api_key, new_id
from shared.runtime.embedded import free_port
from shared.runtime.stack import Infra, Stack

CHANNEL = "bench.fanout"
PATTERNS = (parse_pattern(CHANNEL), parse_pattern("bench.*"))


async def add_subscribers(dsn: str, count: int) -> None:
    """`count` agents, each subscribed once (alternately to the channel and to `bench.*`)."""
    ids = [new_id("agent") for _ in range(count)]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO directory.agents (agent_id, api_key_hash, name)"
            " SELECT a, h, 'bench-sub' FROM unnest($1::text[], $2::text[]) AS x(a, h)",
            ids,
            [hash_api_key(new_api_key()) for _ in ids],
        )
        patterns = [PATTERNS[i % 2] for i in range(count)]
        await conn.execute(
            "INSERT INTO relay.pubsub_subscriptions (agent_id, channel, pattern_re, tokens, open)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::bool[])",
            ids,
            [p.text for p in patterns],
            [p.regex for p in patterns],
            [p.tokens for p in patterns],
            [p.open for p in patterns],
        )
        await conn.execute("ANALYZE relay.pubsub_subscriptions")
    finally:
        await conn.close()


class Deliveries:
    """Counts, per publication, the push frames and broadcast events seen on NATS, and when the last came."""

    def __init__(self) -> None:
        self.pushed: dict[str, int] = {}
        self.evented: dict[str, int] = {}
        self.last_push: dict[str, float] = {}
        self.last_event: dict[str, float] = {}

    async def on_push(self, msg: Any) -> None:
        pub = orjson.loads(msg.data).get("publication_id")
        if pub:
            self.pushed[pub] = self.pushed.get(pub, 0) + 1
            self.last_push[pub] = time.perf_counter()

    async def on_event(self, msg: Any) -> None:
        pub = orjson.loads(msg.data)["data"]["publication_id"]
        self.evented[pub] = self.evented.get(pub, 0) + 1
        self.last_event[pub] = time.perf_counter()


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))], 1)


async def measure(base: str, nats_url: str, key: str, subscribers: int, publications: int) -> dict[str, Any]:
    seen = Deliveries()
    nc = await nats.connect(nats_url, pending_size=256 * 1024 * 1024)
    await nc.subscribe("push.>", cb=seen.on_push, pending_msgs_limit=1_000_000, pending_bytes_limit=-1)
    await nc.subscribe(
        "events.*.message.broadcast", cb=seen.on_event, pending_msgs_limit=1_000_000, pending_bytes_limit=-1
    )
    await nc.flush()
    stored, pushed, evented = [], [], []
    try:
        async with aiohttp.ClientSession(
            headers={"X-API-Key": key}, timeout=aiohttp.ClientTimeout(total=300)
        ) as http:
            for i in range(publications):
                started = time.perf_counter()
                async with http.post(
                    f"{base}/v1/pubsub/publish",
                    json={"channel": CHANNEL, "payload": {"n": i, "text": "x" * 200}},
                ) as r:
                    body = await r.json()
                    assert r.status == 200, body
                answered = time.perf_counter()
                pub = body["message_id"]
                assert body["subscribers_notified"] == subscribers, body
                deadline = time.monotonic() + 300
                while seen.pushed.get(pub, 0) < subscribers or seen.evented.get(pub, 0) < subscribers:
                    assert time.monotonic() < deadline, (pub, seen.pushed.get(pub), seen.evented.get(pub))
                    await asyncio.sleep(0.005)
                assert seen.pushed[pub] == subscribers and seen.evented[pub] == subscribers
                stored.append((answered - started) * 1000)
                pushed.append((seen.last_push[pub] - started) * 1000)
                evented.append((seen.last_event[pub] - started) * 1000)
    finally:
        await nc.close()
    return {
        "subscribers": subscribers,
        "publications": publications,
        **{
            f"{name}_p50_ms": pct(v, 0.5)
            for name, v in (("stored", stored), ("pushed", pushed), ("events", evented))
        },
        **{
            f"{name}_p99_ms": pct(v, 0.99)
            for name, v in (("stored", stored), ("pushed", pushed), ("events", evented))
        },
        "events_mean_ms": round(statistics.fmean(evented), 1),
    }


async def register(base: str) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{base}/v1/register", json={"name": "bench-pub"}) as r,
    ):
        return (await r.json())["api_key"]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--subscribers", default="1000,10000")
    p.add_argument("--publications", type=int, default=10)
    p.add_argument("--relays", type=int, default=1)
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="moltgrid-fanout-") as tmp:
        infra = Infra.start(Path(tmp))
        dsn = infra.create_database_sync("fanout")
        stack = Stack(
            infra,
            dsn,
            log_dir=Path(tmp) / "logs",
            env={
                "MOLTGRID_RATE_LIMIT_PER_MINUTE": "100000000",
                "MOLTGRID_LOG_LEVEL": "warning",
                "MOLTGRID_SERVICES": "directory,relay",
                "MOLTGRID_REQUEST_TIMEOUT": "120",
            },
        )
        try:
            stack.start({"relay": a.relays}, gateways=1, ports=[free_port()], only={"directory", "relay"})
            stack.wait_ready_blocking()
            key = asyncio.run(register(stack.base_url))
            rows, total = [], 0
            for size in (int(s) for s in a.subscribers.split(",")):
                asyncio.run(add_subscribers(dsn, size - total))
                total = size
                rows.append(asyncio.run(measure(stack.base_url, infra.nats_url, key, size, a.publications)))
        finally:
            stack.stop()
            infra.stop()
    print(f"\npub/sub fan-out, {a.relays} relay replica(s), {a.publications} publications per size (ms)")
    print(
        f"{'subscribers':>11} | {'stored p50':>10} {'p99':>8} | {'pushed p50':>10} {'p99':>8} |"
        f" {'events p50':>10} {'p99':>8}"
    )
    for r in rows:
        print(
            f"{r['subscribers']:>11,} | {r['stored_p50_ms']:>10} {r['stored_p99_ms']:>8} |"
            f" {r['pushed_p50_ms']:>10} {r['pushed_p99_ms']:>8} | {r['events_p50_ms']:>10} {r['events_p99_ms']:>8}"
        )


if __name__ == "__main__":
    main()
