"""Cron schedules that submit queue jobs, exactly once per tick across replicas (schema `scheduler`)."""

from __future__ import annotations

from pathlib import Path

from services.scheduler.clock import Clock, TestClockHandlers
from services.scheduler.schedules import ScheduleHandlers
from services.scheduler.stats import StatsHandlers
from services.scheduler.store import SchedulerStore
from services.scheduler.ticker import Ticker, TickSettings
from shared.config import Settings
from shared.ops import OpGroup
from shared.service import Runtime
from shared.spec import Every, Parts, Service


class SchedulerSettings(Settings):
    scheduler_tick_seconds: float = 1.0  # how often each replica looks for due schedules
    scheduler_grace_seconds: float = 60.0  # a tick at most this late is on time (catchup=skip still fires it)
    scheduler_resubmit_after_seconds: float = 10.0  # unacknowledged fires are re-submitted after this
    # schedules one agent may hold (0 = unbounded), and of them schedules firing more often than every
    # `scheduler_frequent_seconds`; beyond: 429 quota_exceeded
    scheduler_max_per_agent: int = 50
    scheduler_max_frequent_per_agent: int = 5
    scheduler_frequent_seconds: float = 300.0
    scheduler_test_clock: bool = False  # registers svc.scheduler.set_clock (tests only; see docs/queue.md)
    scheduler_test_exit: str = ""  # tests only: before_submit | after_submit — exit there, like a crash


async def build(rt: Runtime[SchedulerSettings]) -> Parts:
    s = rt.settings
    store = SchedulerStore(rt.pool, rt.cipher, s.scheduler_max_per_agent, s.scheduler_max_frequent_per_agent)
    clock = Clock(store, test_mode=s.scheduler_test_clock)
    ticker = Ticker(
        store,
        clock,
        rt.nc,
        TickSettings(
            grace_seconds=s.scheduler_grace_seconds,
            resubmit_after=s.scheduler_resubmit_after_seconds,
            test_exit=s.scheduler_test_exit,
        ),
    )
    groups: list[OpGroup] = [
        ScheduleHandlers(store, clock, ticker, s.scheduler_frequent_seconds),
        StatsHandlers(store),
    ]
    if s.scheduler_test_clock:
        groups.append(TestClockHandlers(clock))
    return Parts(
        groups=groups,
        loops=[Every("tick", s.scheduler_tick_seconds, ticker.tick)],
        purge=store.purge_agent,
    )


SERVICE = Service(
    name="scheduler",
    build=build,
    settings=SchedulerSettings,
    migrations=Path(__file__).parent / "migrations",
    encrypted={"scheduler.schedules": (("task_id",), ("payload",))},
)
