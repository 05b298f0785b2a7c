"""The queue-peers bench: its peers stay bench-only, and its table reports what it measured."""

from __future__ import annotations

import re
from pathlib import Path

import run
from bench import queue_peers
from bench.queue_peers import Result, Settings

ROOT = Path(__file__).resolve().parents[2]


def names(lock: Path) -> set[str]:
    out = set()
    for line in lock.read_text().splitlines():
        m = re.match(r"([A-Za-z0-9_.-]+)==", line.strip())
        if m:
            out.add(m.group(1).lower().replace("_", "-"))
    return out


def test_peers_are_pinned_and_never_runtime_dependencies() -> None:
    peers = names(ROOT / "bench" / "requirements-peers.lock")
    assert {"pgqueuer", "celery", "redis"} <= peers
    for line in (ROOT / "bench" / "requirements-peers.lock").read_text().splitlines():
        if "==" in line:
            assert "--hash=sha256:" in line, line
    for lock in run.LOCKS:
        assert not peers & names(ROOT / lock), lock
    assert "bench/requirements-peers.lock" not in run.LOCKS  # the project's venv never depends on it
    assert run.BENCH_PEERS.name == "bench-peers" and run.BENCH_PEERS.parent == run.VENV


def test_table_gives_rates_latencies_cpu_and_ratios(tmp_path: Path) -> None:
    s = Settings(10, 2, 4, 10, 2, 100, 1000, tmp_path)
    ours = Result("moltgrid", jobs=20_000, seconds=10, latencies=[float(i) for i in range(1, 101)], cpu_s=10)
    theirs = Result("pgqueuer", jobs=10_000, seconds=10, latencies=[2.0 * i for i in range(1, 101)], cpu_s=10)
    skipped = Result("celery", note="skipped: no redis-server")
    text = queue_peers.table([ours, theirs, skipped], s)
    assert re.search(r"moltgrid\s+2000\s+50\.0\s+99\.0\s+0\.50", text), text
    assert re.search(r"pgqueuer\s+1000\s+100\.0\s+198\.0\s+1\.00", text), text
    assert "moltgrid ÷ pgqueuer: jobs/s ×2.00, p99 latency ×0.50, CPU per job ×0.50" in text
    assert "moltgrid ÷ celery" not in text  # nothing measured, no ratio
    assert "skipped: no redis-server" in text
