"""MoltGrid 1.0 memory costs through the real stores (no HTTP): what versions and history add to a write,
compare-and-set, session appends with token counting, and tiered recall over full tiers.

    python -m bench.memory_v1                       # an embedded PostgreSQL in a temporary directory
    python -m bench.memory_v1 --dsn postgresql://user@host:5432/db --n 1000

Prints p50/p99 (ms) and operations per second, one operation at a time, for:
- write: a new key (insert + history row);
- overwrite: the same key again (version bump, history row, trimming past 50 versions);
- cas: overwrite with expected_version;
- append: a ~40-token message to a session (token count + one transaction);
- recall: /v1/tiered/recall's work over 500 session messages and 500 notes.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from services.memory import tokens
from services.memory.conversation import Conversations
from services.memory.db import Db
from services.memory.handlers.tiered import TieredHandlers
from services.memory.models import tiered as v
from services.memory.stores.entries import EntryStore, Write
from services.memory.stores.sessions import SessionStore
from services.memory.stores.vectors import VectorStore
from services.memory.summarizer import Summarizer
from shared.bus import Ctx
from shared.config import Settings
from shared.crypto import Cipher
from shared.db import create_pool, migrate
from shared.runtime.embedded import EmbeddedPostgres, free_port

MIGRATIONS = Path(__file__).resolve().parents[1] / "services" / "memory" / "migrations"
AGENT = "agent_benchv1000"
MESSAGE = "The shipment for harbour three left at noon; customs needs the signed invoice before Friday."


async def timed(n: int, op: Callable[[int], Awaitable[Any]]) -> dict[str, float]:
    latencies = []
    started = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        await op(i)
        latencies.append((time.perf_counter() - t) * 1000)
    total = time.perf_counter() - started
    latencies.sort()
    return {
        "p50_ms": round(statistics.median(latencies), 3),
        "p99_ms": round(latencies[max(int(len(latencies) * 0.99) - 1, 0)], 3),
        "ops_s": round(n / total),
    }


async def run(dsn: str, n: int, encrypted: bool) -> None:
    from cryptography.fernet import Fernet

    cipher = Cipher([Fernet.generate_key().decode()] if encrypted else None)
    async with create_pool(Settings(database_url=dsn), max_size=4) as pool:
        await migrate(pool, "memory", MIGRATIONS)
        db = Db(pool)
        entries, sessions_store = EntryStore(db, cipher), SessionStore(db, cipher)
        conversations = Conversations(sessions_store, Summarizer(None, None, None))
        tiered = TieredHandlers(
            conversations, sessions_store, entries, VectorStore(db, cipher), cipher, lambda: None
        )
        ctx = Ctx(agent_id=AGENT)
        await tokens.warm_up()
        run_id = uuid.uuid4().hex[:6]

        results = {
            "write": await timed(n, lambda i: entries.write(AGENT, Write("bench", f"{run_id}-{i}", MESSAGE))),
            "overwrite": await timed(
                n, lambda i: entries.write(AGENT, Write("bench", f"{run_id}-hot", f"{i}"))
            ),
        }
        version = await entries.current_version(AGENT, "bench", f"{run_id}-hot")

        async def cas(i: int) -> None:
            await entries.write(
                AGENT, Write("bench", f"{run_id}-hot", f"cas {i}", expected_version=version + i)
            )

        results["cas"] = await timed(n, cas)
        session = await sessions_store.create(AGENT, "bench", None, 1_000_000)
        results["append"] = await timed(
            n,
            lambda i: sessions_store.append(
                AGENT, session["session_id"], "user", MESSAGE, tokens.count(MESSAGE)
            ),
        )
        for i in range(500):
            await entries.write(AGENT, Write("recall", f"note-{i}", f"{MESSAGE} note {i}"))
        query = v.Recall(query="signed invoice for harbour", namespace="recall", tiers=["short", "mid"], k=10)
        results["recall"] = await timed(max(n // 20, 10), lambda i: tiered.recall(query, ctx))
        print(f"encryption {'on' if encrypted else 'off'}, {n} operations each, one at a time:")
        for name, figures in results.items():
            print(
                f"  {name:<10} p50 {figures['p50_ms']:>7} ms   p99 {figures['p99_ms']:>7} ms"
                f"   {figures['ops_s']:>6} ops/s",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dsn", help="PostgreSQL DSN (default: start an embedded PostgreSQL)")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--plain", action="store_true", help="without encryption at rest")
    args = parser.parse_args()
    if args.dsn:
        asyncio.run(run(args.dsn, args.n, not args.plain))
        return
    with tempfile.TemporaryDirectory(prefix="moltgrid-memv1-") as tmp:
        pg = EmbeddedPostgres(Path(tmp), free_port(), fast_unsafe=True).start()
        try:
            asyncio.run(run(pg.create_database(f"memv1_{uuid.uuid4().hex[:8]}"), args.n, not args.plain))
        finally:
            pg.stop()


if __name__ == "__main__":
    main()
