"""SLA: uptime checks of every service, the SLA timeline and the contact form (schema `sla`)."""

from __future__ import annotations

from pathlib import Path

import asyncpg
from pydantic import AliasChoices, Field

from services.sla.contact import ContactStore, Mailer
from services.sla.handlers import SlaHandlers
from services.sla.store import SlaStore
from shared.config import Settings
from shared.service import Runtime
from shared.spec import Every, Parts, Service


class SlaSettings(Settings):
    sla_check_seconds: float = 60.0
    # Contact e-mails; SMTP_FROM / SMTP_TO / SMTP_PASSWORD (the original's names, Gmail) work too.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = Field(
        default="", validation_alias=AliasChoices("MOLTGRID_SMTP_PASSWORD", "SMTP_PASSWORD")
    )
    smtp_from: str = Field(default="", validation_alias=AliasChoices("MOLTGRID_SMTP_FROM", "SMTP_FROM"))
    smtp_to: str = Field(default="", validation_alias=AliasChoices("MOLTGRID_SMTP_TO", "SMTP_TO"))
    smtp_starttls: bool = True
    contact_mail_seconds: float = 30.0  # how often unsent contact e-mails are retried

    def mailer(self, pool: asyncpg.Pool) -> Mailer:
        host = self.smtp_host or ("smtp.gmail.com" if self.smtp_from and self.smtp_to else "")
        return Mailer(
            pool,
            host,
            self.smtp_port,
            self.smtp_user or self.smtp_from,
            self.smtp_password,
            self.smtp_from,
            self.smtp_to,
            self.smtp_starttls,
        )


async def build(rt: Runtime[SlaSettings]) -> Parts:
    s = rt.settings
    mailer = s.mailer(rt.pool)
    handlers = SlaHandlers(
        SlaStore(rt.pool),
        ContactStore(rt.pool),
        mailer,
        rt.nc,
        s.service_names(),
        s.sla_check_seconds,
        rt.cipher.enabled,
    )
    return Parts(
        groups=[handlers.ops()],
        loops=[
            Every("contact_mailer", s.contact_mail_seconds, mailer.send_pending),
            Every("uptime_check", s.sla_check_seconds, handlers.check),
            Every("prune_checks", 3600, handlers.store.prune),
        ],
    )


SERVICE = Service(
    name="sla", build=build, settings=SlaSettings, migrations=Path(__file__).parent / "migrations"
)
