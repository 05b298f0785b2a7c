"""Claim latency with 1,000 vs 1,000,000 pending jobs, through the real JobStore.

    python -m bench.queue_claim                      # an embedded PostgreSQL in a temporary directory
    python -m bench.queue_claim --dsn postgresql://user@host:5432/db --claims 500

Migrates the queue schema into the database, loads 1,000 pending jobs with one INSERT … SELECT
generate_series, times --claims sequential claims, tops the same queue up to 1,000,000 jobs and times
--claims more. The claim is index-backed (jobs_claim matches its WHERE and ORDER BY), so the two medians
should be within ~20% of each other. Not part of the test suite (it takes a minute or two).

    python -m bench.queue_claim --fleet 20000 --workers 4  # durable PostgreSQL (fsync, synchronous commit)

Fleet mode measures jobs/s through the store as a worker fleet drives it: submit in batches of 100, then
--workers concurrent workers each claiming up to 100 jobs at a time and completing them with one batch
complete, against the same workers claiming and completing one job at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

from services.queue import models as m
from services.queue.store import Defaults, JobStore
from shared.config import Settings
from shared.crypto import Cipher
from shared.db import create_pool, migrate
from shared.runtime.embedded import EmbeddedPostgres, free_port

MIGRATIONS = Path(__file__).resolve().parents[1] / "services" / "queue" / "migrations"
AGENT, QUEUE = "agent_bench0000", "bench"

LOAD = """
INSERT INTO queue.jobs (job_id, agent_id, queue_name, payload, priority, max_attempts, lease_seconds, backoff_base,
                        backoff_max, available_at, created_at)
SELECT 'job_' || lpad(to_hex(g), 16, '0'), $1, $2, '"x"', g % 11, 3, 300, 1, 300,
       now() - interval '1 day' + g * interval '1 ms', now() - interval '1 day' + g * interval '1 ms'
  FROM generate_series($3::bigint, $4::bigint) AS g"""


async def load(pool: asyncpg.Pool, first: int, last: int) -> float:
    started = time.perf_counter()
    await pool.execute(LOAD, AGENT, QUEUE, first, last)
    await pool.execute("VACUUM ANALYZE queue.jobs")
    return time.perf_counter() - started


async def time_claims(store: JobStore, n: int) -> dict[str, float]:
    latencies = []
    for _ in range(n):
        started = time.perf_counter()
        jobs = await store.claim(AGENT, QUEUE, None)
        latencies.append((time.perf_counter() - started) * 1000)
        assert jobs, "queue ran dry"
    latencies.sort()
    return {
        "p50_ms": round(statistics.median(latencies), 3),
        "mean_ms": round(statistics.fmean(latencies), 3),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 3),
    }


async def run(dsn: str, claims: int, small: int, large: int) -> None:
    settings = Settings(database_url=dsn)
    async with create_pool(settings, max_size=2) as pool:
        await migrate(pool, "queue", MIGRATIONS)
        await pool.execute("DELETE FROM queue.jobs WHERE agent_id = $1", AGENT)
        store = JobStore(pool, Cipher(None), Defaults())
        await time_claims_warmup(store, pool)
        seconds = await load(pool, 1, small)
        print(f"loaded {small:>9,} pending jobs in {seconds:6.1f}s", flush=True)
        few = await time_claims(store, claims)
        print(f"  {claims} claims: {few}", flush=True)
        seconds = await load(pool, small + 1, large)
        print(f"loaded {large:>9,} pending jobs in {seconds:6.1f}s", flush=True)
        many = await time_claims(store, claims)
        print(f"  {claims} claims: {many}", flush=True)
        plan = await pool.fetch("EXPLAIN " + CLAIM_PLAN, AGENT, QUEUE)
        print("claim plan:", " / ".join(r[0].strip() for r in plan[:4]))
        ratio = many["p50_ms"] / few["p50_ms"]
        print(
            f"median claim latency: {few['p50_ms']} ms with {small:,} vs {many['p50_ms']} ms with {large:,}"
            f" pending (x{ratio:.2f}; target ≤ x1.20)"
        )
        await pool.execute("DELETE FROM queue.jobs WHERE agent_id = $1", AGENT)


CLAIM_PLAN = """SELECT job_id FROM queue.jobs WHERE agent_id = $1 AND queue_name = $2 AND status = 'pending'
                AND available_at <= now() ORDER BY priority DESC, fair_tag, available_at LIMIT 1
                FOR UPDATE SKIP LOCKED"""


async def time_claims_warmup(store: JobStore, pool: asyncpg.Pool) -> None:
    """Prime the connections and the statement cache so the first timed phase is not penalised."""
    await pool.execute(LOAD, AGENT, QUEUE, -20, -1)
    await time_claims(store, 20)


async def fleet(dsn: str, jobs: int, workers: int) -> None:
    settings = Settings(database_url=dsn)
    async with create_pool(settings, max_size=workers + 2) as pool:
        await migrate(pool, "queue", MIGRATIONS)
        store = JobStore(pool, Cipher(None), Defaults())
        for batch, label in ((100, "claim 100 + batch complete"), (1, "claim 1 + complete")):
            n = jobs if batch > 1 else max(jobs // 10, 100)
            queue = f"fleet-{batch}"
            items = [m.Submit(payload={"n": i}, queue_name=queue) for i in range(n)]
            started = time.perf_counter()
            await asyncio.gather(
                *(
                    store.submit_batch(AGENT, items[k : k + 100])
                    for w in range(workers)
                    for k in range(w * 100, n, workers * 100)
                )
            )
            submitted = time.perf_counter() - started
            done = 0

            async def worker(queue: str = queue, batch: int = batch) -> None:
                nonlocal done
                while True:
                    got = await store.claim(AGENT, queue, None, batch)
                    if not got:
                        return
                    await store.complete_many(AGENT, [(j["job_id"], "ok", j["attempt"]) for j in got])
                    done += len(got)

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(workers)))
            worked = time.perf_counter() - started
            assert done == n, (done, n)
            print(
                f"{label:>28}: {n:>7,} jobs, submit {n / submitted:>8,.0f} jobs/s (batches of 100),"
                f" claim+complete {n / worked:>8,.0f} jobs/s with {workers} workers",
                flush=True,
            )
        await pool.execute("DELETE FROM queue.jobs WHERE agent_id = $1", AGENT)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dsn", help="PostgreSQL DSN (default: start an embedded PostgreSQL)")
    parser.add_argument("--claims", type=int, default=500)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument(
        "--fleet", type=int, default=0, help="jobs for the fleet measure (instead of latency)"
    )
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1))
    args = parser.parse_args()
    if args.fleet:
        if args.dsn:
            asyncio.run(fleet(args.dsn, args.fleet, args.workers))
            return
        with tempfile.TemporaryDirectory(prefix="moltgrid-fleet-") as tmp:
            pg = EmbeddedPostgres(Path(tmp), free_port()).start()  # durable: fsync and synchronous commit on
            try:
                asyncio.run(
                    fleet(pg.create_database(f"fleet_{uuid.uuid4().hex[:8]}"), args.fleet, args.workers)
                )
            finally:
                pg.stop()
        return
    if args.dsn:
        asyncio.run(run(args.dsn, args.claims, args.small, args.large))
        return
    with tempfile.TemporaryDirectory(prefix="moltgrid-claim-") as tmp:
        pg = EmbeddedPostgres(Path(tmp), free_port(), fast_unsafe=True).start()
        try:
            dsn = pg.create_database(f"claim_{uuid.uuid4().hex[:8]}")
            asyncio.run(run(dsn, args.claims, args.small, args.large))
        finally:
            pg.stop()


if __name__ == "__main__":
    main()
