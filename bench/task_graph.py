"""Task graphs: what the cycle check costs as the graph deepens, and claim latency behind a dependency.

    python -m bench.task_graph                       # an embedded PostgreSQL in a temporary directory
    python -m bench.task_graph --dsn postgresql://user@host:5432/db --depths 10,100,1000,10000

Migrates the coordination schema, builds chains of --depths tasks (t1 ← t2 ← … ← tN, one INSERT … SELECT
generate_series each), then times, through the service's own handlers (TaskHandlers, no HTTP), adding one
dependency on the end of the chain — the worst case of the cycle check, which walks every task the new
dependency already depends on — and claiming a task whose one dependency has completed. Prints medians and
p99s; not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

from services.coordination.tasks import models as m
from services.coordination.tasks.handlers import TaskHandlers
from services.coordination.tasks.store import TaskStore
from shared.bus import Ctx
from shared.config import Settings
from shared.crypto import Cipher
from shared.db import create_pool, migrate
from shared.runtime.embedded import EmbeddedPostgres, free_port

MIGRATIONS = Path(__file__).resolve().parents[1] / "services" / "coordination" / "migrations"
AGENT = "agent_bench0000"
CHAIN = """
WITH t AS (INSERT INTO coordination.tasks (task_id, creator_agent, title)
           SELECT $1 || g, $2, 'chain' FROM generate_series(1, $3::int) AS g)
INSERT INTO coordination.task_dependencies (task_id, depends_on)
SELECT $1 || g, $1 || (g - 1) FROM generate_series(2, $3::int) AS g
"""


def summary(latencies: list[float]) -> str:
    latencies.sort()
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
    return f"p50 {statistics.median(latencies):7.2f} ms  p99 {p99:7.2f} ms"


async def dependency_on_chain(pool: asyncpg.Pool, handlers: TaskHandlers, depth: int, n: int) -> str:
    prefix = f"chain{depth}_"
    await pool.execute(CHAIN, prefix, AGENT, depth)
    await pool.execute("ANALYZE coordination.tasks; ANALYZE coordination.task_dependencies")
    ctx = Ctx(agent_id=AGENT)
    latencies = []
    for _ in range(n):
        task = await handlers.create(m.TaskCreate(title="leaf"), ctx)
        started = time.perf_counter()
        await handlers.add_dependency(
            m.TaskDependency(task_id=task["task_id"], depends_on=f"{prefix}{depth}"), ctx
        )
        latencies.append((time.perf_counter() - started) * 1000)
    # and the refusal, which walks the whole chain to find the cycle
    started = time.perf_counter()
    try:
        await handlers.add_dependency(
            m.TaskDependency(task_id=f"{prefix}1", depends_on=f"{prefix}{depth}"), ctx
        )
    except Exception as exc:  # Conflict: the cycle is found
        refused = f"{type(exc).__name__} in {(time.perf_counter() - started) * 1000:.2f} ms"
    return f"{summary(latencies)}  (cycle refused: {refused})"


async def claims_after_dependency(handlers: TaskHandlers, n: int) -> str:
    ctx = Ctx(agent_id=AGENT)
    latencies = []
    for _ in range(n):
        first = await handlers.create(m.TaskCreate(title="first"), ctx)
        second = await handlers.create(m.TaskCreate(title="second", depends_on=[first["task_id"]]), ctx)
        await handlers.claim(m.TaskClaim(task_id=first["task_id"]), ctx)
        await handlers.complete(m.TaskComplete(task_id=first["task_id"], result="ok"), ctx)
        started = time.perf_counter()
        await handlers.claim(m.TaskClaim(task_id=second["task_id"]), ctx)
        latencies.append((time.perf_counter() - started) * 1000)
    return summary(latencies)


async def run(dsn: str, depths: list[int], n: int) -> None:
    async with create_pool(Settings(database_url=dsn), max_size=2) as pool:
        await migrate(pool, "coordination", MIGRATIONS)
        handlers = TaskHandlers(TaskStore(pool, Cipher(None)), lambda: None)
        await claims_after_dependency(handlers, 10)  # warm the statement cache
        print(
            f"claim of a task whose dependency completed: {await claims_after_dependency(handlers, n)}",
            flush=True,
        )
        for depth in depths:
            print(
                f"add a dependency on a chain of {depth:>6,}: {await dependency_on_chain(pool, handlers, depth, n)}",
                flush=True,
            )
        await pool.execute("DELETE FROM coordination.tasks WHERE creator_agent = $1", AGENT)
        await pool.execute("DELETE FROM coordination.outbox")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dsn", help="PostgreSQL DSN (default: start an embedded PostgreSQL)")
    parser.add_argument("--depths", default="10,100,1000,10000")
    parser.add_argument("-n", type=int, default=100, help="timed operations per figure")
    args = parser.parse_args()
    depths = [int(d) for d in args.depths.split(",")]
    if args.dsn:
        asyncio.run(run(args.dsn, depths, args.n))
        return
    with tempfile.TemporaryDirectory(prefix="moltgrid-tasks-") as tmp:
        pg = EmbeddedPostgres(Path(tmp), free_port(), fast_unsafe=True).start()
        try:
            asyncio.run(run(pg.create_database(f"tasks_{uuid.uuid4().hex[:8]}"), depths, args.n))
        finally:
            pg.stop()


if __name__ == "__main__":
    main()
