"""Helpers for the queue and scheduler tests: extra service replicas started (and stopped) by a test, and what
the queue and the scheduler hold, read through their operations."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from shared.bus import Ctx, call
from shared.runtime.embedded import Child
from shared.subjects import svc
from tests.stack import Stack


async def wait_started(child: Child, offset: int = 0, timeout: float = 30) -> None:
    """Until the replica logged service_started after `offset` (its subscriptions are in place)."""
    deadline = time.monotonic() + timeout
    while b"service_started" not in (child.log.read_bytes()[offset:] if child.log.exists() else b""):
        if not child.alive():
            raise RuntimeError(f"{child.name} exited:\n{child.log.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{child.name} did not start")
        await asyncio.sleep(0.05)


def log_size(stack: Stack, name: str) -> int:
    log = stack.log_dir / f"{name}.log" if stack.log_dir else None
    return log.stat().st_size if log is not None and log.exists() else 0


@asynccontextmanager
async def replicas(
    stack: Stack,
    component: str,
    indices: list[int],
    env: dict[str, str] | None = None,
) -> AsyncIterator[list[Child]]:
    """Start extra replicas named <component>-<index> with extra env; stop them when the block ends."""
    offsets = [log_size(stack, f"{component}-{i}") for i in indices]
    children = [stack.sup.spawn(component, i, dict(env or {})) for i in indices]
    try:
        await asyncio.gather(*(wait_started(c, o) for c, o in zip(children, offsets, strict=False)))
        yield children
    finally:
        await asyncio.gather(*(asyncio.to_thread(c.stop) for c in children))
        for i in indices:
            stack.sup.children.pop(f"{component}-{i}", None)


async def jobs_of(nc: Any, agent_id: str, queue_name: str | None = None) -> list[dict[str, Any]]:
    """Every job of an agent (job_id, status, attempts, …), through the queue's admin listing."""
    jobs: list[dict[str, Any]] = []
    while True:
        body = {"agent_id": agent_id, "limit": 500, "offset": len(jobs)}
        page = (await call(nc, svc("queue", "admin_jobs"), body, timeout=10, ctx=Ctx(admin=True))).unwrap()
        jobs += page["items"]
        if len(page["items"]) < 500:
            return [j for j in jobs if queue_name is None or j["queue_name"] == queue_name]


async def fires_of(nc: Any, agent_id: str, task_id: str) -> list[dict[str, Any]]:
    """A schedule's fires (at most 200), oldest first, through its runs operation."""
    body = {"task_id": task_id, "limit": 200}
    runs = (await call(nc, svc("scheduler", "runs"), body, timeout=10, ctx=Ctx(agent_id=agent_id))).unwrap()
    return list(reversed(runs["runs"]))
