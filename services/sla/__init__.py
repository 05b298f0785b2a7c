"""SLA: uptime checks of every service, the SLA timeline and the contact form (schema `sla`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field

from services.sla.check_store import CheckStore
from services.sla.contact_store import ContactStore
from services.sla.handlers import AdminHandlers, ContactHandlers, UptimeHandlers
from services.sla.mailer import Mailer
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

    def mailer(self, contacts: ContactStore) -> Mailer:
        host = self.smtp_host or ("smtp.gmail.com" if self.smtp_from and self.smtp_to else "")
        return Mailer(
            contacts,
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
    checks, contacts = CheckStore(rt.pool), ContactStore(rt.pool)
    mailer = s.mailer(contacts)
    services, encrypted = s.service_names(), rt.cipher.enabled
    uptime = UptimeHandlers(checks, rt.nc, services, s.sla_check_seconds, encrypted)
    return Parts(
        groups=[
            uptime,
            ContactHandlers(contacts, mailer),
            AdminHandlers(checks, contacts, rt.nc, services, encrypted),
        ],
        loops=[
            Every("contact_mailer", s.contact_mail_seconds, mailer.send_pending),
            Every("uptime_check", s.sla_check_seconds, uptime.check),
            Every("prune_checks", 3600, checks.prune),
        ],
    )


SERVICE = Service(
    name="sla", build=build, settings=SlaSettings, migrations=Path(__file__).parent / "migrations"
)
