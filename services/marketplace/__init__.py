"""The task marketplace: tasks paid in credits, escrow, delivery, ratings (schema `marketplace`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from services.marketplace.handlers import CreditHandlers, StatsHandlers, TaskHandlers
from services.marketplace.ledger_store import LedgerStore
from services.marketplace.notice_store import RatingNoticeStore
from services.marketplace.notices import RatingNotices
from services.marketplace.task_store import TaskStore
from shared.config import Settings
from shared.service import Runtime
from shared.spec import Every, Loop, Outbox, Parts, Service


class MarketplaceSettings(Settings):
    # Credits granted to every agent when it registers (later versions of the original: 200).
    starting_credits: int = Field(200, ge=0)  # MOLTGRID_STARTING_CREDITS
    # a task posted and claimed from one client network pays and rates (off: its reward returns to the poster)
    same_network_counts: bool = False
    marketplace_sweep_seconds: float = 1.0  # how often open tasks past their deadline are refunded
    marketplace_notice_seconds: float = 2.0  # how often undelivered rating notices are retried


async def build(rt: Runtime[MarketplaceSettings]) -> Parts:
    s = rt.settings
    ledger = LedgerStore(rt.pool, s.starting_credits)
    notice_store = RatingNoticeStore(rt.pool)
    tasks = TaskStore(rt.pool, rt.cipher, ledger, notice_store, s.same_network_counts)
    notices = RatingNotices(notice_store, rt.nc)

    def after_commit() -> None:
        rt.kick()
        notices.kick()

    # The starting grant is recorded when the agent registers (the first use still opens a missing account:
    # both paths insert the same account and the same `grant:<agent>` ledger row, so an agent is granted once).
    return Parts(
        groups=[TaskHandlers(tasks, after_commit), CreditHandlers(ledger), StatsHandlers(tasks, ledger)],
        loops=[
            Every("deadline_sweep", s.marketplace_sweep_seconds, tasks.expire_overdue),
            Loop("rating_notices", lambda: notices.run(s.marketplace_notice_seconds)),
        ],
        purge=tasks.purge_agent,
        on_registered=ledger.open_account,
    )


SERVICE = Service(
    name="marketplace",
    build=build,
    settings=MarketplaceSettings,
    migrations=Path(__file__).parent / "migrations",
    outbox=Outbox(),
    encrypted={"marketplace.tasks": (("task_id",), ("result",))},
)
