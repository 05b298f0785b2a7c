"""The coordination service's declaration: settings, stores, operation groups and loops."""

from __future__ import annotations

from pathlib import Path

from services.coordination.scenarios.handlers import ScenarioHandlers
from services.coordination.scenarios.runner import ensure_bucket
from services.coordination.scenarios.store import ScenarioStore
from services.coordination.tasks.handlers import TaskHandlers
from services.coordination.tasks.store import TaskStore
from services.coordination.text.handlers import TextHandlers
from services.coordination.text.pool import TextPool
from shared.config import Settings
from shared.service import Runtime
from shared.spec import Every, Outbox, Parts, Service


class CoordinationSettings(Settings):
    coordination_max_runs: int = 4  # scenario runs one replica performs at once (each starts its own agents)
    scenario_grace_seconds: float = (
        60.0  # past timeout_seconds + this, a run still `running` has lost its replica
    )
    scenario_sweep_seconds: float = 30.0  # how often a replica ends such runs as failed
    task_lease_sweep_seconds: float = 1.0  # how often a replica returns tasks whose claim lease ran out
    text_workers: int = 1  # worker processes per replica for the text utilities
    text_waiting: int = 16  # text requests queued behind busy workers before more answer 503
    text_budget_seconds: float = 2.0  # a text request's time, queueing included, before it answers 503


async def build(rt: Runtime[CoordinationSettings]) -> Parts:
    s = rt.settings
    store = ScenarioStore(rt.pool)
    tasks = TaskStore(rt.pool, rt.cipher)
    await ensure_bucket(rt.js, s.jetstream_replicas)

    async def purge(agent_id: str) -> int:
        return await store.purge_agent(agent_id) + await tasks.purge_agent(agent_id)

    task_handlers = TaskHandlers(tasks, rt.kick)
    scenarios = ScenarioHandlers(store, s.nats_servers, s.coordination_max_runs, s.scenario_grace_seconds)
    # within the gateway's wait, so a request over budget answers 503 rather than the gateway's 504
    text_pool = TextPool(s.text_workers, s.text_waiting, min(s.text_budget_seconds, 0.75 * s.request_timeout))
    text_pool.start()
    await text_pool.warm_up()  # before the service answers, so no early request waits for the workers
    return Parts(
        groups=[
            scenarios,
            task_handlers,
            TextHandlers(text_pool),
        ],
        loops=[
            Every("task_leases", s.task_lease_sweep_seconds, task_handlers.sweep_leases),
            Every("abandoned_runs", s.scenario_sweep_seconds, scenarios.end_abandoned_runs),
        ],
        purge=purge,
        on_stop=[text_pool.close],
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
