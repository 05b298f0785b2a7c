"""python -m services.queue"""

from __future__ import annotations

from pathlib import Path

from services.queue.handlers import QueueHandlers
from services.queue.maintenance import Maintenance
from services.queue.store import Defaults, QueueStore
from shared.bus import Op
from shared.config import Settings
from shared.events import OutboxPublisher, ensure_stream
from shared.purge import follow_agent_purges
from shared.service import Runtime, main


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


async def build(rt: Runtime) -> dict[str, Op]:
    s: QueueSettings = rt.settings
    store = QueueStore(
        rt.pool,
        rt.cipher,
        Defaults(
            s.queue_visibility_timeout,
            s.queue_max_attempts,
            s.queue_backoff_base_seconds,
            s.queue_backoff_max_seconds,
        ),
    )
    maintenance = Maintenance(rt.pool)
    await ensure_stream(rt.js)
    publisher = OutboxPublisher(rt.pool, rt.js, "queue")
    publisher.start()
    rt.on_stop(publisher.stop)

    async def sweep() -> None:
        if await maintenance.sweep_leases():
            publisher.kick()

    rt.every(s.queue_lease_sweep_seconds, sweep, name="lease_sweep")
    rt.background(lambda: follow_agent_purges(rt.js, "queue", maintenance.purge_agent), name="agent_purges")
    return QueueHandlers(store, maintenance, publisher.kick).ops()


if __name__ == "__main__":
    main("queue", build, migrations=Path(__file__).parent / "migrations", settings_cls=QueueSettings)
