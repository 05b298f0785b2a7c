"""python -m services.coordination"""

from __future__ import annotations

from pathlib import Path

from services.coordination.handlers import CoordinationHandlers
from services.coordination.runner import ensure_bucket
from services.coordination.store import ScenarioStore
from services.coordination.task_store import TaskStore
from services.coordination.tasks import TaskHandlers
from shared.bus import Op
from shared.config import Settings
from shared.events import OutboxPublisher, ensure_stream
from shared.purge import follow_agent_purges
from shared.rotation import EncryptedTables, rotation_ops
from shared.service import Runtime, main

# Agent content stored by task graphs (scenarios hold none): re-encrypted by `moltgrid rotate-keys`.
ENCRYPTED: EncryptedTables = {"coordination.tasks": (("task_id",), ("description", "result", "metadata"))}


class CoordinationSettings(Settings):
    coordination_max_runs: int = 4  # scenario runs one replica performs at once (each starts its own agents)
    task_lease_sweep_seconds: float = 1.0  # how often a replica returns tasks whose claim lease ran out


async def build(rt: Runtime) -> dict[str, Op]:
    s: CoordinationSettings = rt.settings
    store = ScenarioStore(rt.pool)
    tasks = TaskStore(rt.pool, rt.cipher)
    await ensure_bucket(rt.js, s.jetstream_replicas)
    await ensure_stream(rt.js)
    publisher = OutboxPublisher(rt.pool, rt.js, "coordination", poll_interval=0.5)
    publisher.start()
    rt.on_stop(publisher.stop)

    async def purge(agent_id: str) -> int:
        return await store.purge_agent(agent_id) + await tasks.purge_agent(agent_id)

    rt.background(lambda: follow_agent_purges(rt.js, "coordination", purge), name="agent_purges")
    task_handlers = TaskHandlers(tasks, publisher.kick)
    rt.every(s.task_lease_sweep_seconds, task_handlers.sweep_leases, name="task_leases")
    return {
        **CoordinationHandlers(store, s.nats_servers, s.coordination_max_runs).ops(),
        **task_handlers.ops(),
        **rotation_ops(rt.pool, rt.cipher, ENCRYPTED),
    }


if __name__ == "__main__":
    main(
        "coordination",
        build,
        migrations=Path(__file__).parent / "migrations",
        settings_cls=CoordinationSettings,
    )
