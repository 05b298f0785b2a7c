"""Settings: one way in, environment variables with the MOLTGRID_ prefix (see .env.example)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

VERSION = "0.6.0"
API_VERSION = "0.5.0"  # the public contract we are compatible with (reported by /v1/health)


def inbox_prefix(servers: list[str]) -> str:
    """Replies come back on `_INBOX_<user>.…` when the URL names a NATS user: each component may subscribe
    to its own inbox prefix only (shared/runtime/credentials.py), so none reads another's replies."""
    user = urlsplit(servers[0]).username if servers else None
    return f"_INBOX_{user}" if user and user.replace("_", "").replace("-", "").isalnum() else "_INBOX"


def server_list(urls: str) -> list[str]:
    """MOLTGRID_NATS_URL may list several servers of a cluster, comma-separated."""
    return [u.strip() for u in urls.split(",") if u.strip()]


class Settings(BaseSettings):
    """Settings shared by every process; services subclass it for their own fields."""

    model_config = SettingsConfigDict(env_prefix="MOLTGRID_", frozen=True, extra="ignore")

    nats_url: str = "nats://127.0.0.1:4222"
    database_url: str = "postgresql://moltgrid@127.0.0.1:5433/moltgrid"
    data_dir: Path = Path(".moltgrid")
    log_level: str = "info"
    log_format: str = "auto"  # auto | json | console
    # Comma-separated Fernet keys, newest first. ENCRYPTION_KEY (the seed's name) is accepted too.
    encryption_keys: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("MOLTGRID_ENCRYPTION_KEYS", "ENCRYPTION_KEY")
    )
    request_timeout: float = 5.0  # seconds a gateway waits for a service reply
    max_inflight: int = 128  # concurrent requests one service replica handles
    db_pool_size: int = 10
    db_idle_seconds: float = 60.0  # a pool connection unused this long is closed (down to one)
    jetstream_replicas: int = 1  # replicas of MoltGrid's JetStream streams (3 on a 3-node cluster)

    services: str = ""  # comma-separated services this deployment runs; default: every service

    def service_names(self) -> list[str]:
        """The services health checks expect (so a disabled one is not reported as down)."""
        if self.services:
            return [s.strip() for s in self.services.split(",") if s.strip()]
        from shared.subjects import SERVICES

        return list(SERVICES)

    @property
    def nats_servers(self) -> list[str]:
        return server_list(self.nats_url)

    @property
    def encryption_enabled(self) -> bool:
        return bool(self.encryption_keys and self.encryption_keys.get_secret_value().strip())
