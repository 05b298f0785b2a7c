"""Runs one scenario: a dedicated NATS connection (the run's traffic never queues behind the service's own
requests), the pattern bounded by timeout_seconds, then the measured result judged against success_criteria."""

from __future__ import annotations

import asyncio
from typing import Any

import nats
from nats.js.api import KeyValueConfig
from nats.js.errors import BucketNotFoundError

from services.coordination.scenarios.patterns import PATTERNS
from services.coordination.scenarios.protocol import Pattern, now_ms
from shared.events import jetstream_retry

BUCKET = "coord_elections"  # one key per leader-election run; entries expire after an hour
PARAMETERS = {"total_tasks", "messages", "tasks", "max_rounds", "bid_window_ms"}  # sizes, not criteria


async def ensure_bucket(js: Any, replicas: int) -> None:
    await jetstream_retry(lambda: _ensure_bucket(js, replicas), f"ensure bucket {BUCKET}")


async def _ensure_bucket(js: Any, replicas: int) -> None:
    try:
        await js.key_value(BUCKET)
    except BucketNotFoundError:
        try:
            await js.create_key_value(KeyValueConfig(bucket=BUCKET, ttl=3600, replicas=replicas))
        except Exception:  # created meanwhile by another replica
            await js.key_value(BUCKET)


def judge(pattern: Pattern, agent_count: int, criteria: dict[str, Any], timed_out: bool) -> dict[str, Any]:
    """The result: the contract's fields for the pattern, what was measured, and each criterion checked."""
    fields, failures = pattern.outcome()
    measured = pattern.measures()
    checks = [
        {
            "name": "min_participation",
            "expected": float(criteria.get("min_participation", 1.0)),
            "actual": round(measured["participants"] / agent_count, 4),
        }
    ]
    checks[0]["passed"] = checks[0]["actual"] >= checks[0]["expected"]
    if "max_latency_ms" in criteria:
        actual = measured["latency_ms"]
        checks.append(
            {
                "name": "max_latency_ms",
                "expected": float(criteria["max_latency_ms"]),
                "actual": actual,
                "passed": actual is not None and actual <= float(criteria["max_latency_ms"]),
            }
        )
    failures += [f"{c['name']}: {c['actual']} vs required {c['expected']}" for c in checks if not c["passed"]]
    if timed_out:
        failures.insert(0, "timed out before the protocol finished")
    ignored = sorted(
        set(criteria)
        - PARAMETERS
        - {"min_participation", "max_latency_ms", "max_imbalance", "min_delivery_rate"}
    )
    return {
        "pattern": pattern.name,
        "success": not failures,
        **fields,
        **measured,
        "agent_count": agent_count,
        "timed_out": timed_out,
        "criteria": checks,
        "failures": failures,
        **({"ignored_criteria": ignored} if ignored else {}),
    }


async def run_pattern(
    nats_servers: list[str],
    run_id: str,
    name: str,
    agent_count: int,
    timeout: float,
    criteria: dict[str, Any],
) -> dict[str, Any]:
    nc = await nats.connect(
        nats_servers, name=f"coordination-run-{run_id}", connect_timeout=2, max_reconnect_attempts=2
    )
    try:
        kv = await nc.jetstream().key_value(BUCKET)
        pattern = PATTERNS[name](nc, kv, run_id, agent_count, criteria)
        timed_out = False
        try:
            await asyncio.wait_for(pattern.run(), timeout)
        except TimeoutError:
            timed_out = True
        pattern.finished = now_ms()
        await pattern.close()
        return judge(pattern, agent_count, criteria, timed_out)
    finally:
        await nc.close()
