"""python -m services.marketplace"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from services.marketplace.handlers import MarketplaceHandlers
from services.marketplace.ledger import Ledger
from services.marketplace.notices import RatingNotices
from services.marketplace.store import TaskStore
from shared.bus import Op
from shared.config import Settings
from shared.events import OutboxPublisher, ensure_stream
from shared.purge import follow_agent_purges
from shared.registrations import follow_registrations
from shared.service import Runtime, main


class MarketplaceSettings(Settings):
    # Credits granted to every agent when it registers (later versions of the original: 200).
    starting_credits: int = Field(200, ge=0)  # MOLTGRID_STARTING_CREDITS
    marketplace_sweep_seconds: float = 1.0  # how often open tasks past their deadline are refunded
    marketplace_notice_seconds: float = 2.0  # how often undelivered rating notices are retried


async def build(rt: Runtime) -> dict[str, Op]:
    s: MarketplaceSettings = rt.settings
    tasks = TaskStore(rt.pool, rt.cipher, s.starting_credits)
    notices = RatingNotices(rt.pool, rt.nc)
    await ensure_stream(rt.js)
    publisher = OutboxPublisher(rt.pool, rt.js, "marketplace")
    publisher.start()
    rt.on_stop(publisher.stop)
    rt.every(s.marketplace_sweep_seconds, tasks.expire_overdue, name="deadline_sweep")
    rt.background(lambda: notices.run(s.marketplace_notice_seconds), name="rating_notices")
    rt.background(lambda: follow_agent_purges(rt.js, "marketplace", tasks.purge_agent), name="agent_purges")
    ledger = Ledger(rt.pool, s.starting_credits)
    # The starting grant is recorded when the agent registers (the first use still opens a missing account:
    # both paths insert the same account and the same `grant:<agent>` ledger row, so an agent is granted once).
    rt.background(
        lambda: follow_registrations(rt.js, "marketplace", ledger.open_account), name="registrations"
    )

    def after_commit() -> None:
        publisher.kick()
        notices.kick()

    return MarketplaceHandlers(tasks, ledger, after_commit).ops()


if __name__ == "__main__":
    main(
        "marketplace",
        build,
        migrations=Path(__file__).parent / "migrations",
        settings_cls=MarketplaceSettings,
    )
