"""What a service declares about itself, for the runtime (shared.service) to wire.

Every service package exposes one `SERVICE = Service(...)` in its `__init__.py`. The declaration says what
the runtime must provide (settings class, migrations, an outbox) and what it must add to the service's own
operations (key rotation for its encrypted tables, an admin-only agent purge that also follows the durable
purge command, the registration follower, health and describe). Its `build` function makes the service's
stores and handler groups from a `Runtime` and returns them as `Parts`: the operation groups, the periodic
and long-lived loops, the purge function and the stop hooks.

Nothing here opens a connection: the declaration is importable on its own (the shared-process host imports
several), and `Service.main` is what `python -m services.<name>` runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from shared.bus import Op
from shared.config import Settings
from shared.ops import OpGroup

if TYPE_CHECKING:
    from shared.service import Runtime

# table → (primary key columns, encrypted columns): what `moltgrid rotate-keys` re-encrypts
EncryptedTables = dict[str, tuple[tuple[str, ...], tuple[str, ...]]]
Purge = Callable[[str], Awaitable[int]]  # deletes what an agent owns in the service; returns rows removed
OnRegistered = Callable[[str], Awaitable[None]]  # idempotent: a registration may be delivered twice
S = TypeVar("S", bound=Settings)


@dataclass(frozen=True)
class Outbox:
    """The service writes domain events into `<schema>.outbox` in its transactions; the runtime runs the
    publisher that moves them to JetStream (`rt.kick()` asks it to publish now)."""

    poll_interval: float = 1.0
    batch: int = 200  # events published concurrently per transaction


@dataclass(frozen=True)
class Every:
    """A periodic duty (sweeps, ticks): failures are logged and retried the next period."""

    name: str
    seconds: float
    run: Callable[[], Awaitable[Any]]


@dataclass(frozen=True)
class Loop:
    """A long-lived consumer: restarted with back-off if it fails (PostgreSQL restarting under it, say)."""

    name: str
    run: Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Http:
    """An HTTP application the runtime serves (the gateway): an aiohttp `web.Application`, started after
    everything else and stopped first (intake ends before loops, NATS and the pool). `reuse_port`: several
    replicas may share one port; `options` go to aiohttp's AppRunner."""

    app: Any
    host: str
    port: int
    reuse_port: bool = True
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Parts:
    """What a service's build makes: its handler groups and duties (and, for the gateway, the HTTP app it
    serves; a component with no groups answers no `svc.<name>.*` operation)."""

    groups: Sequence[OpGroup | Mapping[str, Op]]
    loops: Sequence[Every | Loop] = ()
    purge: Purge | None = None  # every service that holds agent data has one
    on_registered: OnRegistered | None = None  # follow agent registrations (ADMIN stream)
    on_stop: Sequence[Callable[[], Awaitable[None]]] = ()  # run after intake stopped, before NATS closes
    http: Http | None = None


@dataclass(frozen=True)
class Service(Generic[S]):
    """One service, declared. `migrations` None: the service stores nothing and opens no pool."""

    name: str
    build: Callable[[Runtime[S]], Awaitable[Parts]]
    settings: type[S]
    migrations: Path | None = None
    encrypted: EncryptedTables = field(default_factory=dict)
    outbox: Outbox | None = None
    schema: str | None = None  # default: the service's name

    def __post_init__(self) -> None:
        if self.migrations is None and (self.encrypted or self.outbox is not None):
            raise ValueError(
                f"service {self.name}: encrypted tables and an outbox need migrations (a schema)"
            )

    @property
    def schema_name(self) -> str:
        return self.schema or self.name

    def main(self) -> None:
        """Run this service alone until SIGINT/SIGTERM (`python -m services.<name>`)."""
        from shared.service import run_loop, run_service

        run_loop(run_service(self))
