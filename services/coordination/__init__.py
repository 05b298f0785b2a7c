"""Multi-agent coordination (schema `coordination`): scenario runs (`scenarios/`), task graphs (`tasks/`) and
the text utilities (`text/`), each with its own handlers, models and (for the first two) store."""

from __future__ import annotations

from pathlib import Path

from services.coordination.scenarios.handlers import ScenarioHandlers
from services.coordination.scenarios.runner import ensure_bucket
from services.coordination.scenarios.store import ScenarioStore
from services.coordination.tasks.handlers import TaskHandlers
from services.coordination.tasks.store import TaskStore
from services.coordination.text.handlers import TextHandlers
from shared.config import Settings
from shared.service import Runtime
from shared.spec import Every, Outbox, Parts, Service


class CoordinationSettings(Settings):
    coordination_max_runs: int = 4  # scenario runs one replica performs at once (each starts its own agents)
    task_lease_sweep_seconds: float = 1.0  # how often a replica returns tasks whose claim lease ran out


async def build(rt: Runtime[CoordinationSettings]) -> Parts:
    s = rt.settings
    store = ScenarioStore(rt.pool)
    tasks = TaskStore(rt.pool, rt.cipher)
    await ensure_bucket(rt.js, s.jetstream_replicas)

    async def purge(agent_id: str) -> int:
        return await store.purge_agent(agent_id) + await tasks.purge_agent(agent_id)

    task_handlers = TaskHandlers(tasks, rt.kick)
    return Parts(
        groups=[
            ScenarioHandlers(store, s.nats_servers, s.coordination_max_runs),
            task_handlers,
            TextHandlers(),
        ],
        loops=[Every("task_leases", s.task_lease_sweep_seconds, task_handlers.sweep_leases)],
        purge=purge,
    )


SERVICE = Service(
    name="coordination",
    build=build,
    settings=CoordinationSettings,
    migrations=Path(__file__).parent / "migrations",
    # agent content stored by task graphs (scenarios hold none)
    encrypted={"coordination.tasks": (("task_id",), ("description", "result", "metadata"))},
    outbox=Outbox(poll_interval=0.5),
)
