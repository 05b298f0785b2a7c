"""Directory search and match with 100,000 agents, through the real ProfileStore.

    python -m bench.directory_search                     # an embedded PostgreSQL in a temporary directory
    python -m bench.directory_search --dsn postgresql://user@host:5432/db --agents 100000 --queries 200

Migrates the directory schema, loads --agents public agents with one INSERT … SELECT generate_series
(capabilities drawn from 200 names, so each capability is held by ~1.5% of agents; reputations 0–5; a
tenth unavailable), ANALYZEs, then times --queries searches of each shape: by capability (GIN index on
capabilities), by capability + available + min_reputation, by min_reputation only and unfiltered (the
(reputation, created_at) index), plus match. Prints the median and p95 per shape and the plan each shape
uses. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

from services.directory.store.profiles import ProfileStore
from shared.config import Settings
from shared.db import create_pool, migrate
from shared.runtime.embedded import EmbeddedPostgres, free_port

MIGRATIONS = Path(__file__).resolve().parents[1] / "services" / "directory" / "migrations"
CAPABILITIES = 200

LOAD = """
INSERT INTO directory.agents (agent_id, api_key_hash, name, capabilities, public, available, reputation,
                              reputation_count, reputation_sum, created_at)
SELECT 'agent_' || lpad(to_hex(g), 12, '0'), md5(g::text) || md5((g + 1)::text), 'bench-' || g,
       ARRAY['cap' || (g % $2), 'cap' || ((g * 7) % $2), 'cap' || ((g * 13) % $2)],
       true, g % 10 <> 0, round((random() * 5)::numeric, 2), 1, 0, now() - g * interval '1 second'
  FROM generate_series($1::bigint, $3::bigint) AS g"""


async def timed(fn, queries: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(queries):
        started = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


async def bench(dsn: str, agents: int, queries: int) -> None:
    async with create_pool(Settings(database_url=dsn)) as pool:
        await migrate(pool, "directory", MIGRATIONS)
        await pool.execute("TRUNCATE directory.agents")
        started = time.perf_counter()
        await pool.execute(LOAD, 1, CAPABILITIES, agents)
        await pool.execute("ANALYZE directory.agents")
        print(f"loaded {agents:,} agents in {time.perf_counter() - started:.1f} s")
        store = ProfileStore(pool)

        def pick():
            return f"cap{random.randrange(CAPABILITIES)}"

        shapes = {
            "capability": lambda: store.search(pick(), None, 0.0, 50),
            "capability+available+min_reputation": lambda: store.search(pick(), True, 3.0, 50),
            "min_reputation only": lambda: store.search(None, None, 4.5, 50),
            "unfiltered": lambda: store.search(None, None, 0.0, 50),
            "match": lambda: store.match("agent_none", pick(), 2.0, 10),
        }
        for name, fn in shapes.items():
            await fn()  # warm the plan cache
            p50, p95 = await timed(fn, queries)
            print(f"{name:40s} p50 {p50:7.2f} ms   p95 {p95:7.2f} ms")
        plan = await pool.fetch(
            "EXPLAIN SELECT agent_id FROM directory.agents WHERE public AND capabilities @>"
            " ARRAY['cap7'] ORDER BY reputation DESC, created_at DESC LIMIT 50"
        )
        print(
            "plan (capability):", " / ".join(r[0].strip() for r in plan if "Index" in r[0] or "Scan" in r[0])
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", help="an existing database (default: an embedded PostgreSQL)")
    parser.add_argument("--agents", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    if args.dsn:
        asyncio.run(bench(args.dsn, args.agents, args.queries))
        return
    with tempfile.TemporaryDirectory() as tmp:
        pg = EmbeddedPostgres(Path(tmp), free_port(), fast_unsafe=True).start()
        try:
            asyncio.run(bench(pg.dsn("postgres"), args.agents, args.queries))
        finally:
            pg.stop()


if __name__ == "__main__":
    main()
