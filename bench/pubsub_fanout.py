"""Pub/sub fan-out: one publication to 10, 1,000, 10,000 (and 100,000) subscribers, and what it costs.

    python3 run.py bench pubsub_fanout                              # 10, 1k and 10k subscribers, 10 publications
    python3 run.py bench pubsub_fanout --subscribers 10,1000,10000,100000   # + 100k: ~10 min in all here
    python -m bench.pubsub_fanout --subscribers 1000,10000 --publications 20 --relays 2

Starts a private stack (embedded NATS and the durable embedded PostgreSQL, one gateway, the directory and
--relays relay replicas). The subscriber agents are written straight into directory.agents (set-up, not
measured), each with its own API key; each then subscribes over HTTP (`POST /v1/pubsub/subscribe`,
--setup-concurrency requests at once), half to the literal channel and half to a `bench.*` pattern, so the
bench does not depend on how the relay stores subscriptions. Then it publishes through the gateway and times,
per publication:

- `publish`: the publish request's answer;
- `last push`: the last `push.<agent_id>` frame seen on NATS (what gateways write to the subscribers' sockets);
- `last event`: the last `message.broadcast` event on the EVENTS stream (what the event stream and webhooks read);
- `rows/pub`: rows the publications wrote in the relay schema (inserts + updates + deletes from
  pg_stat_user_tables, read after the statistics are flushed, so transient rows such as the outbox's count),
  and `kept/pub`: rows they left (the net change of every relay table's row count), each per publication.

Prints p50 and p99 of the times (milliseconds; with 10 publications p99 is the slowest). A publish that takes
longer than the route's 30 s timeout is answered 504 by the gateway while the relay goes on delivering: it
counts at its 504 and the publication is then followed by its pushes. A raw NATS subscriber on
`push.>` and `events.*.message.broadcast` stands in for the subscribers. Not part of the test suite.

100,000 subscribers are not in the default sizes: their 100,000 subscribe requests take minutes on a small
machine (about 3 here, at ~600 requests a second), and each publication then fans out 100,000 messages (over
a minute each today). Ask for them with --subscribers (--large-publications, default 3, publications each).
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

from shared.ids import hash_api_key, new_api_key, new_id
from shared.runtime.embedded import free_port
from shared.runtime.stack import Infra, Stack

CHANNEL = "bench.fanout"
PATTERNS = (CHANNEL, "bench.*")


async def add_subscribers(dsn: str, base: str, count: int, concurrency: int) -> float:
    """`count` agents (straight into the directory), each subscribing once over HTTP, alternately to the
    channel and to `bench.*`. Returns the seconds the subscriptions took."""
    ids = [new_id("agent") for _ in range(count)]
    keys = [new_api_key() for _ in ids]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO directory.agents (agent_id, api_key_hash, name)"
            " SELECT a, h, 'bench-sub' FROM unnest($1::text[], $2::text[]) AS x(a, h)",
            ids,
            [hash_api_key(k) for k in keys],
        )
    finally:
        await conn.close()
    started = time.perf_counter()
    todo = iter(enumerate(keys))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as http:

        async def subscriber() -> None:
            for i, key in todo:
                async with http.post(
                    f"{base}/v1/pubsub/subscribe",
                    json={"channel": PATTERNS[i % 2]},
                    headers={"X-API-Key": key},
                ) as r:
                    assert r.status == 200, await r.text()

        await asyncio.gather(*(subscriber() for _ in range(concurrency)))
    return time.perf_counter() - started


RELAY_WRITES = """SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::bigint
                    FROM pg_stat_user_tables WHERE schemaname = 'relay'"""


async def relay_rows(dsn: str) -> tuple[int, int]:
    """(rows written so far in the relay schema, rows in it now). The services' backends flush their table
    statistics when idle, at the latest PGSTAT_IDLE_INTERVAL (10 s) after their last transaction: wait that out."""
    await asyncio.sleep(11)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        written = await conn.fetchval(RELAY_WRITES)
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'relay'")
        kept = 0
        for t in tables:
            kept += await conn.fetchval(f'SELECT count(*) FROM relay."{t["tablename"]}"')
        return int(written), int(kept)
    finally:
        await conn.close()


async def message_bytes(dsn: str) -> tuple[float, float]:
    """Bytes per stored relay message: (the table's heap and TOAST, with its indexes too)."""
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS n, pg_table_size('relay.messages') AS heap,"
            " pg_total_relation_size('relay.messages') AS total FROM relay.messages"
        )
        n = max(1, row["n"])
        return round(row["heap"] / n), round(row["total"] / n)
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


async def measure(
    base: str, nats_url: str, dsn: str, key: str, subscribers: int, publications: int
) -> dict[str, Any]:
    seen = Deliveries()
    nc = await nats.connect(nats_url, pending_size=256 * 1024 * 1024)
    await nc.subscribe("push.>", cb=seen.on_push, pending_msgs_limit=10_000_000, pending_bytes_limit=-1)
    await nc.subscribe(
        "events.*.message.broadcast", cb=seen.on_event, pending_msgs_limit=10_000_000, pending_bytes_limit=-1
    )
    await nc.flush()
    written_before, kept_before = await relay_rows(dsn)
    stored, pushed, evented = [], [], []
    timeouts = 0  # publish requests answered 504 (the route's timeout), measured to that answer
    try:
        async with aiohttp.ClientSession(
            headers={"X-API-Key": key}, timeout=aiohttp.ClientTimeout(total=600)
        ) as http:
            for i in range(publications):
                known = set(seen.pushed)
                started = time.perf_counter()
                async with http.post(
                    f"{base}/v1/pubsub/publish",
                    json={"channel": CHANNEL, "payload": {"n": i, "text": "x" * 200}},
                ) as r:
                    body = await r.json()
                    assert r.status in (200, 504), body
                answered = time.perf_counter()
                deadline = time.monotonic() + 600
                if (
                    r.status == 504
                ):  # past the route's 30 s the gateway answers 504; the relay goes on storing
                    timeouts += 1
                    while not set(seen.pushed) - known:
                        assert time.monotonic() < deadline, "no push after a publish that timed out"
                        await asyncio.sleep(0.05)
                    pub = (set(seen.pushed) - known).pop()
                else:
                    pub = body["message_id"]
                    assert body["subscribers_notified"] == subscribers, body
                while seen.pushed.get(pub, 0) < subscribers or seen.evented.get(pub, 0) < subscribers:
                    assert time.monotonic() < deadline, (pub, seen.pushed.get(pub), seen.evented.get(pub))
                    await asyncio.sleep(0.005)
                assert seen.pushed[pub] == subscribers and seen.evented[pub] == subscribers
                stored.append((answered - started) * 1000)
                pushed.append((seen.last_push[pub] - started) * 1000)
                evented.append((seen.last_event[pub] - started) * 1000)
    finally:
        await nc.close()
    written_after, kept_after = await relay_rows(dsn)
    heap, total = await message_bytes(dsn)
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
        # the publisher's own stats and the statistics reads add nothing to the relay schema
        "rows_written_per_pub": round((written_after - written_before) / publications, 1),
        "rows_kept_per_pub": round((kept_after - kept_before) / publications, 1),
        "publish_timeouts": timeouts,
        "message_bytes": heap,
        "message_bytes_with_indexes": total,
    }


async def register(base: str) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{base}/v1/register", json={"name": "bench-pub"}) as r,
    ):
        return str((await r.json())["api_key"])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--subscribers", default="10,1000,10000", help="sizes, ascending (100000 takes minutes)")
    p.add_argument("--publications", type=int, default=10, help="publications per size")
    p.add_argument(
        "--large-publications", type=int, default=3, help="publications per size of 100,000 or more"
    )
    p.add_argument("--relays", type=int, default=1)
    p.add_argument("--setup-concurrency", type=int, default=64, help="subscribe requests at once (set-up)")
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
                "MOLTGRID_REQUEST_TIMEOUT": "300",
            },
        )
        try:
            stack.start({"relay": a.relays}, gateways=1, ports=[free_port()], only={"directory", "relay"})
            stack.wait_ready_blocking()
            key = asyncio.run(register(stack.base_url))
            rows, total = [], 0
            for size in (int(s) for s in a.subscribers.split(",")):
                took = asyncio.run(add_subscribers(dsn, stack.base_url, size - total, a.setup_concurrency))
                print(f"  {size:,} subscribers ({size - total:,} subscribed in {took:.0f} s)", flush=True)
                total = size
                rows.append(
                    asyncio.run(
                        measure(
                            stack.base_url,
                            infra.nats_url,
                            dsn,
                            key,
                            size,
                            a.large_publications if size >= 100_000 else a.publications,
                        )
                    )
                )
                print(f"  {rows[-1]}", flush=True)
        finally:
            stack.stop()
            infra.stop()
    print(
        f"\npub/sub fan-out, {a.relays} relay replica(s), {a.publications} publications per size"
        f" ({a.large_publications} from 100,000 subscribers), milliseconds; publish requests that met the"
        " route's 30 s timeout (504) count at their 504 and are listed"
    )
    print(
        f"{'subscribers':>11} | {'publish p50':>11} {'p99':>8} | {'last push p50':>13} {'p99':>8} |"
        f" {'last event p50':>14} {'p99':>8} | {'rows/pub':>9} {'kept/pub':>9}"
    )
    for r in rows:
        print(
            f"{r['subscribers']:>11,} | {r['stored_p50_ms']:>11} {r['stored_p99_ms']:>8} |"
            f" {r['pushed_p50_ms']:>13} {r['pushed_p99_ms']:>8} | {r['events_p50_ms']:>14}"
            f" {r['events_p99_ms']:>8} | {r['rows_written_per_pub']:>9} {r['rows_kept_per_pub']:>9}"
            + (f"  ({r['publish_timeouts']} publish requests 504)" if r["publish_timeouts"] else "")
        )
    print(
        "bytes per stored message (heap + TOAST / with indexes): "
        + ", ".join(
            f"{r['subscribers']:,}: {r['message_bytes']} / {r['message_bytes_with_indexes']}" for r in rows
        )
    )


if __name__ == "__main__":
    main()
