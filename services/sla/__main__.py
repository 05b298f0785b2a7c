"""python -m services.sla"""
from __future__ import annotations

from pathlib import Path

from shared.bus import Op
from shared.config import Settings
from shared.service import Runtime, main
from services.sla.handlers import SlaHandlers
from services.sla.store import SlaStore


class SlaSettings(Settings):
    sla_check_seconds: float = 60.0


async def build(rt: Runtime) -> dict[str, Op]:
    handlers = SlaHandlers(SlaStore(rt.pool), rt.nc, rt.settings.service_names(), rt.settings.sla_check_seconds,
                           rt.cipher.enabled)
    rt.every(rt.settings.sla_check_seconds, handlers.check, name="uptime_check")
    rt.every(3600, handlers.store.prune, name="prune_checks")
    return handlers.ops()


if __name__ == "__main__":
    main("sla", build, migrations=Path(__file__).parent / "migrations", settings_cls=SlaSettings)
