"""Vector memory figures: retrieval quality, embedding throughput, search latency.

    python3 run.py bench vectors                              # all three parts
    python3 run.py bench vectors --parts search --sizes 10000,100000 --queries 300

- quality: the shipped set bench/data/retrieval.json (60 documents, 36 queries paraphrased to share few words
  with their answer). recall@1 and recall@5 of the local embedder (all-MiniLM-L6-v2 on numpy, the code the
  embedder service runs) against a keyword baseline (PostgreSQL full-text search: English stemming and stop
  words, any query word may match, ranked by ts_rank).
- throughput: texts per second through the embedder service over NATS (one replica, its own process), sent
  as concurrent one-text requests (what vector upserts and searches send; the service micro-batches them) and
  as 32-text requests; also the replica's memory before and after the model loads.
- search: VectorStore.search (the memory service's SQL: HNSW, iterative scan) over N unit vectors in one
  agent's namespace, seeded in SQL (generate_series + l2_normalize), index built after the load; p50 and
  p99 of `--queries` searches with limit 5, and the index's recall@5 against an exact scan.
  The vectors are clustered (1,000 random centres plus noise), shaped like real embeddings.

The stack is embedded NATS and PostgreSQL in a temporary directory. Figures depend on the machine: on a
shared 2-core box they vary from run to run.
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

import numpy as np
import psutil

from shared.bus import call
from shared.config import Settings
from shared.crypto import Cipher
from shared.db import create_pool, migrate
from shared.runtime.stack import Infra, Stack
from shared.subjects import svc

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "retrieval.json"
MIGRATIONS = HERE.parent / "services" / "memory" / "migrations"
AGENT, NAMESPACE = "agent_bench00000", "bench"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def recall(ranked: list[list[str]], answers: list[str], k: int) -> float:
    return sum(answer in found[:k] for found, answer in zip(ranked, answers, strict=False)) / len(answers)


# ── quality ──────────────────────────────────────────────────────────────────────────────────────────────
KEYWORD_SEARCH = """
WITH q AS (SELECT string_agg(quote_literal(lexeme), ' | ')::tsquery AS q
             FROM unnest(tsvector_to_array(to_tsvector('english', $1))) AS lexeme)
SELECT d.id FROM bench_docs d, q WHERE d.tsv @@ q.q ORDER BY ts_rank(d.tsv, q.q) DESC, d.id LIMIT 5"""


async def quality(dsn: str) -> dict[str, Any]:
    from services.embedder.minilm import MiniLM

    data = json.loads(DATA.read_text())
    ids, docs = list(data["documents"]), list(data["documents"].values())
    queries = [q["query"] for q in data["queries"]]
    answers = [q["answer"] for q in data["queries"]]

    model = MiniLM.load()
    doc_vectors, query_vectors = model.encode(docs), model.encode(queries)
    similarity = query_vectors @ doc_vectors.T
    embedded = [[ids[i] for i in np.argsort(-row)[:5]] for row in similarity]

    async with create_pool(Settings(database_url=dsn)) as pool:
        async with pool.acquire() as conn:  # temp tables are per connection: one connection throughout
            await conn.execute("CREATE TEMP TABLE bench_docs (id text PRIMARY KEY, tsv tsvector)")
            await conn.executemany(
                "INSERT INTO bench_docs VALUES ($1, to_tsvector('english', $2))",
                list(zip(ids, docs, strict=False)),
            )
            keyword = [[r["id"] for r in await conn.fetch(KEYWORD_SEARCH, q)] for q in queries]
    result = {
        "documents": len(docs),
        "queries": len(queries),
        "embedder": {"recall@1": recall(embedded, answers, 1), "recall@5": recall(embedded, answers, 5)},
        "keyword": {"recall@1": recall(keyword, answers, 1), "recall@5": recall(keyword, answers, 5)},
    }
    print(f"retrieval quality ({len(docs)} documents, {len(queries)} paraphrased queries):")
    for name in ("embedder", "keyword"):
        r = result[name]
        label = (
            "local embedder (all-MiniLM-L6-v2)" if name == "embedder" else "keyword baseline (PostgreSQL FTS)"
        )
        print(f"  {label:38s} recall@1 {r['recall@1']:.3f}   recall@5 {r['recall@5']:.3f}")
    return result


# ── throughput ───────────────────────────────────────────────────────────────────────────────────────────
async def throughput(stack: Stack, total: int, replicas: int) -> dict[str, Any]:
    import nats

    texts = list(json.loads(DATA.read_text())["documents"].values())
    process = psutil.Process(stack.sup.children["embedder-0"].proc.pid)
    idle_mb = process.memory_info().rss / 2**20
    nc = await nats.connect(stack.infra.nats_url)
    try:
        started = time.perf_counter()
        (await call(nc, svc("embedder", "embed"), {"texts": ["warm up"]}, timeout=120)).unwrap()
        first_call = time.perf_counter() - started
        for _ in range(4 * replicas):  # every replica loads its model before the timed runs
            await asyncio.gather(
                *(
                    call(nc, svc("embedder", "embed"), {"texts": ["warm up"]}, timeout=120)
                    for _ in range(replicas)
                )
            )
        loaded_mb = process.memory_info().rss / 2**20

        async def run(batch: int, concurrency: int) -> tuple[float, float]:
            latencies: list[float] = []
            sent = 0

            async def worker() -> None:
                nonlocal sent
                while sent < total:
                    chunk = [texts[(sent + i) % len(texts)] + f" #{sent + i}" for i in range(batch)]
                    sent += batch
                    t0 = time.perf_counter()
                    (await call(nc, svc("embedder", "embed"), {"texts": chunk}, timeout=120)).unwrap()
                    latencies.append(time.perf_counter() - t0)

            t0 = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return sent / (time.perf_counter() - t0), statistics.median(latencies) * 1000

        single_rate, single_p50 = await run(1, 32)
        batch_rate, batch_p50 = await run(32, 2)
    finally:
        await nc.close()
    result = {
        "first_call_s": round(first_call, 2),
        "idle_rss_mb": round(idle_mb),
        "loaded_rss_mb": round(loaded_mb),
        "single_text_requests": {"texts_per_s": round(single_rate, 1), "p50_ms": round(single_p50, 1)},
        "batched_requests": {"texts_per_s": round(batch_rate, 1), "p50_ms": round(batch_p50, 1)},
    }
    print(
        f"embedder service ({replicas} replica(s), {stack.env.get('MOLTGRID_EMBEDDER_THREADS', '1')} BLAS "
        f"thread(s) each): first call (loads the model) {first_call:.2f} s; "
        f"RSS {idle_mb:.0f} MB idle → {loaded_mb:.0f} MB loaded"
    )
    print(
        f"  {total} one-text requests, 32 in flight:  {single_rate:7.1f} texts/s  (request p50 {single_p50:.0f} ms)"
    )
    print(
        f"  {total} texts in 32-text requests, 2 in flight: {batch_rate:7.1f} texts/s  (request p50 {batch_p50:.0f} ms)"
    )
    return result


# ── search ───────────────────────────────────────────────────────────────────────────────────────────────
# Clustered unit vectors, shaped like real embeddings: 1,000 random "topic" centres, each row its centre plus
# noise (noise norm ≈ 1.1, so a row's cosine to its centre is ≈ 0.67 and to a sibling ≈ 0.45; unrelated rows
# ≈ 0). Uniformly random vectors would have no near neighbours at all, the one case no ANN index handles.
CENTRES = """
CREATE TEMP TABLE centres AS
SELECT c, l2_normalize((SELECT array_agg(random() - 0.5) FROM generate_series(1, 384) WHERE c >= 0)::vector) AS v
  FROM generate_series(0, 999) AS c"""
SEED = """
INSERT INTO memory.vectors (agent_id, namespace, key, text, embedding)
SELECT $1, $2, 'k' || g, 'bench text ' || g,
       l2_normalize(centres.v + (SELECT array_agg((random() - 0.5) * 0.2) FROM generate_series(1, 384)
                                  WHERE g > 0)::vector)
  FROM generate_series($3::int, $4::int) AS g JOIN centres ON centres.c = (g * 7919) % 1000"""
QUERIES = """
SELECT l2_normalize(v + (SELECT array_agg((random() - 0.5) * 0.2) FROM generate_series(1, 384) WHERE c >= 0)
                    ::vector)::text AS q FROM centres ORDER BY random() LIMIT $1"""


async def search(infra: Infra, size: int, queries: int) -> dict[str, Any]:
    from services.memory.db import Db
    from services.memory.stores.vectors import VectorStore, vector_literal

    dsn = await infra.create_database(f"bench_vectors_{size}")
    async with create_pool(Settings(database_url=dsn)) as pool:
        await migrate(pool, "memory", MIGRATIONS)
        await pool.execute("TRUNCATE memory.vectors")
        await pool.execute("DROP INDEX IF EXISTS memory.vectors_embedding")
        started = time.perf_counter()
        async with pool.acquire() as conn:  # the centres are a temporary table: one connection
            await conn.execute(CENTRES)
            for lo in range(1, size + 1, 10_000):
                await conn.execute(SEED, AGENT, NAMESPACE, lo, min(lo + 9_999, size), timeout=600)
            # another agent's rows, which every search must skip
            await conn.execute(SEED, "agent_other00000", NAMESPACE, 1, max(size // 10, 1), timeout=600)
            await conn.execute(SEED, "agent_tiny000000", NAMESPACE, 1, 7)  # and an agent with 7 entries
            probes = [json.loads(r["q"]) for r in await conn.fetch(QUERIES, min(queries, 1000))]
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        async with pool.acquire() as conn:
            await conn.execute("SET maintenance_work_mem = '1GB'")
            await conn.execute(
                "CREATE INDEX vectors_embedding ON memory.vectors USING hnsw (embedding vector_cosine_ops)",
                timeout=3600,
            )
        indexed = time.perf_counter() - started
        await pool.execute("ANALYZE memory.vectors", timeout=600)

        store = VectorStore(Db(pool), Cipher(None))
        probes = (probes * (queries // len(probes) + 1))[:queries]
        for probe in probes[:10]:  # warm caches and plans
            await store.search(
                AGENT, NAMESPACE, probe, limit=5, min_similarity=0.0, composite=False, metadata_filter=None
            )
        latencies, found = [], []
        for probe in probes:
            t0 = time.perf_counter()
            hits = await store.search(
                AGENT, NAMESPACE, probe, limit=5, min_similarity=0.0, composite=False, metadata_filter=None
            )
            latencies.append((time.perf_counter() - t0) * 1000)
            found.append([h["key"] for h in hits])
        exact_hits = 0
        checked = probes[:20]
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SET LOCAL enable_indexscan = off")
            for probe, got in zip(checked, found, strict=False):
                rows = await conn.fetch(
                    "SELECT key FROM memory.vectors WHERE agent_id = $1 AND namespace = $2"
                    " ORDER BY embedding <=> $3::text::vector LIMIT 5",
                    AGENT,
                    NAMESPACE,
                    vector_literal(probe),
                )
                exact_hits += len({r["key"] for r in rows} & set(got))
        plan = await pool.fetch(
            "EXPLAIN SELECT key FROM memory.vectors WHERE agent_id = $1 AND namespace = $2"
            " ORDER BY embedding <=> $3::text::vector LIMIT 5",
            AGENT,
            NAMESPACE,
            vector_literal(probes[0]),
        )
        # An agent with a handful of entries among all these must still get every one of them back.
        small = [
            await store.search(
                "agent_tiny000000",
                NAMESPACE,
                probe,
                limit=10,
                min_similarity=0.0,
                composite=False,
                metadata_filter=None,
            )
            for probe in probes[:20]
        ]
        # unrelated entries point away from a query about half the time (cosine < 0: left out)
        tiny_found = sum(len(hits) for hits in small) / len(small)
        tiny_exact = 0
        for probe in probes[:20]:
            tiny_exact += await pool.fetchval(
                "SELECT count(*) FROM memory.vectors WHERE agent_id = 'agent_tiny000000'"
                " AND 1 - (embedding <=> $1::text::vector) >= 0",
                vector_literal(probe),
            )
    result = {
        "vectors": size,
        "load_s": round(loaded, 1),
        "index_build_s": round(indexed, 1),
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "recall@5_vs_exact": round(exact_hits / (5 * len(checked)), 3),
        "plan": " / ".join(r[0].strip() for r in plan if "Scan" in r[0]),
        "small_agent_found_vs_exact": f"{tiny_found:.2f} / {tiny_exact / 20:.2f}",
    }
    print(
        f"search, {size:,} vectors in one namespace (+{max(size // 10, 1):,} of another agent): "
        f"p50 {result['p50_ms']:.2f} ms  p99 {result['p99_ms']:.2f} ms  over {queries} searches; "
        f"recall@5 vs exact {result['recall@5_vs_exact']:.3f}; seeded in {loaded:.0f} s, HNSW built in "
        f"{indexed:.0f} s; plan: {result['plan']}; an agent with 7 entries gets "
        f"{result['small_agent_found_vs_exact']} of its entries with similarity ≥ 0 (found / exist)"
    )
    return result


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="bench vectors", description=__doc__.split("\n\n")[0])
    p.add_argument("--parts", default="quality,throughput,search")
    p.add_argument("--sizes", default="10000,100000")
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--texts", type=int, default=512, help="texts per throughput run")
    p.add_argument("--embedders", type=int, default=1, help="embedder replicas for the throughput runs")
    p.add_argument("--embedder-threads", type=int, default=1, help="BLAS threads per embedder replica")
    p.add_argument("--json", type=Path, help="also write the results here")
    a = p.parse_args(argv)
    parts = {s.strip() for s in a.parts.split(",")}
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="moltgrid-bench-vectors-") as tmp:
        infra = Infra.start(Path(tmp))
        stack: Stack | None = None
        try:
            dsn = infra.create_database_sync("bench")
            if "quality" in parts:
                results["quality"] = asyncio.run(quality(dsn))
            if "throughput" in parts:
                stack = Stack(
                    infra,
                    dsn,
                    log_dir=Path(tmp) / "logs",
                    env={
                        "MOLTGRID_LOG_LEVEL": "warning",
                        "MOLTGRID_EMBEDDER_THREADS": str(a.embedder_threads),
                    },
                )
                stack.start({"embedder": a.embedders}, only={"embedder"})
                stack.wait_ready_blocking()
                results["throughput"] = asyncio.run(throughput(stack, a.texts, a.embedders))
                stack.stop()
                stack = None
            if "search" in parts:
                results["search"] = [
                    asyncio.run(search(infra, int(n), a.queries)) for n in a.sizes.split(",")
                ]
        finally:
            if stack is not None:
                stack.stop()
            infra.stop()
    print("(a shared, noisy 2-core machine: figures vary between runs)")
    if a.json:
        a.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
