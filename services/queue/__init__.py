"""The job queue: durable jobs with leases, retries with back-off and dead letters (schema `queue`)."""

from __future__ import annotations

from pathlib import Path

from services.queue.dead_letters import DeadLetterHandlers
from services.queue.jobs import JobHandlers
from services.queue.stats import StatsHandlers
from services.queue.store import Defaults, JobStore
from shared.config import Settings
from shared.service import Runtime
from shared.spec import Every, Outbox, Parts, Service


class QueueSettings(Settings):
    queue_visibility_timeout: int = (
        300  # seconds a claim's lease lasts unless the submit or claim says otherwise
    )
    queue_max_attempts: int = (
        3  # claims before a job that keeps failing (or losing its lease) is dead-lettered
    )
    queue_backoff_base_seconds: float = 1.0  # retry n waits uniform(0, min(max, base · 2^(n-1)))
    queue_backoff_max_seconds: float = 300.0
    queue_lease_sweep_seconds: float = 1.0  # how often lapsed leases are returned to pending


async def build(rt: Runtime[QueueSettings]) -> Parts:
    s = rt.settings
    defaults = Defaults(
        s.queue_visibility_timeout,
        s.queue_max_attempts,
        s.queue_backoff_base_seconds,
        s.queue_backoff_max_seconds,
    )
    store = JobStore(rt.pool, rt.cipher, defaults)

    async def sweep() -> None:
        if await store.sweep_leases():
            rt.kick()

    return Parts(
        groups=[JobHandlers(store, rt.kick), DeadLetterHandlers(store), StatsHandlers(store)],
        loops=[Every("lease_sweep", s.queue_lease_sweep_seconds, sweep)],
        purge=store.purge_agent,
    )


SERVICE = Service(
    name="queue",
    build=build,
    settings=QueueSettings,
    migrations=Path(__file__).parent / "migrations",
    encrypted={"queue.jobs": (("job_id",), ("payload", "result", "progress"))},
    outbox=Outbox(),
)
