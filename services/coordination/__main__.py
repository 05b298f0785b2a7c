"""python -m services.coordination"""
from __future__ import annotations

from pathlib import Path

from shared.bus import Op
from shared.config import Settings
from shared.purge import follow_agent_purges
from shared.service import Runtime, main
from services.coordination.handlers import CoordinationHandlers
from services.coordination.runner import ensure_bucket
from services.coordination.store import ScenarioStore


class CoordinationSettings(Settings):
    coordination_max_runs: int = 4  # scenario runs one replica performs at once (each starts its own agents)


async def build(rt: Runtime) -> dict[str, Op]:
    s: CoordinationSettings = rt.settings
    store = ScenarioStore(rt.pool)
    await ensure_bucket(rt.js, s.jetstream_replicas)
    rt.background(lambda: follow_agent_purges(rt.js, "coordination", store.purge_agent), name="agent_purges")
    return CoordinationHandlers(store, s.nats_servers, s.coordination_max_runs).ops()


if __name__ == "__main__":
    main("coordination", build, migrations=Path(__file__).parent / "migrations", settings_cls=CoordinationSettings)
