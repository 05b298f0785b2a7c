"""The `moltgrid` command: up, migrate, status, ping, rotate-keys, create-agent, tail-events, mcp, admin-hash,
version."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import urllib.request
from datetime import UTC
from pathlib import Path

import click

from shared.runtime.credentials import redact
from shared.runtime.embedded import EmbeddedPostgres, port_open
from shared.runtime.stack import LAYOUTS, SHARED, Infra, Stack
from shared.runtime.supervisor import ROOT, components, parse_replicas


@click.group()
def main() -> None:
    """MoltGrid: infrastructure for autonomous agents."""


@main.command()
def version() -> None:
    """Print the version."""
    from shared.config import VERSION

    click.echo(VERSION)


@main.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help="default ./.moltgrid")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--replicas", default="", help="e.g. memory=2,gateway=2 (gateways share --port)")
@click.option(
    "--nats-port", default=int(os.environ.get("MOLTGRID_EMBEDDED_NATS_PORT", 4222)), show_default=True
)
@click.option("--pg-port", default=int(os.environ.get("MOLTGRID_EMBEDDED_PG_PORT", 5433)), show_default=True)
@click.option(
    "--layout",
    type=click.Choice(LAYOUTS),
    default=os.environ.get("MOLTGRID_LAYOUT", SHARED),
    show_default=True,
    help="shared: the services share one process per replica (small machines); "
    "separate: one process per service replica",
)
def up(
    data_dir: Path | None, host: str, port: int, replicas: str, nats_port: int, pg_port: int, layout: str
) -> None:
    """Start the whole system; Ctrl-C stops it gracefully. Data persists in the data directory."""
    try:
        counts = parse_replicas(replicas)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--replicas") from exc
    data_dir = (data_dir or Path(os.environ.get("MOLTGRID_DATA_DIR", ROOT / ".moltgrid"))).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    nats_url, database_url = os.environ.get("MOLTGRID_NATS_URL"), os.environ.get("MOLTGRID_DATABASE_URL")
    for url, wanted, what, var in (
        (nats_url, nats_port, "NATS", "MOLTGRID_EMBEDDED_NATS_PORT"),
        (database_url, pg_port, "PostgreSQL", "MOLTGRID_EMBEDDED_PG_PORT"),
    ):
        if not url and port_open(wanted):
            raise click.ClickException(f"port {wanted} for the embedded {what} is taken; set {var} or --help")
    infra = Infra.start(
        data_dir, nats_url=nats_url, database_url=database_url, nats_port=nats_port, pg_port=pg_port
    )
    if not database_url:  # with psql, so that the supervisor never loads asyncpg (it stays small)
        database_url = next(s for s in infra.servers if isinstance(s, EmbeddedPostgres)).create_database(
            "moltgrid"
        )
    auth = f"; credentials in {infra.credentials.path}" if infra.credentials else ""
    click.echo(
        f"» NATS {redact(infra.nats_url)}; PostgreSQL {redact(database_url)}; data in {data_dir}{auth}"
    )
    stack = Stack(infra, database_url, log_dir=None, env={"MOLTGRID_HOST": host})
    stack.sup.servers = list(infra.servers)  # restarted too when they die
    stopping = {"flag": False}

    def on_signal(*_: object) -> None:
        stopping["flag"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        gateways = counts.pop("gateway", 1)
        stack.start(
            counts, gateways=gateways, ports=[port] * gateways, layout=layout
        )  # gateways share the port
        click.echo(
            f"» {len(stack.sup.children)} processes ({', '.join(sorted(stack.sup.children))}; "
            f"{', '.join(components())}); API on http://{host}:{port}"
        )
        stack.sup.watch(lambda: stopping["flag"])
    finally:
        click.echo("» stopping")
        stack.stop()
        infra.stop()
        click.echo("» stopped")


@main.command()
def migrate() -> None:
    """Apply every component's schema migrations to MOLTGRID_DATABASE_URL."""
    from shared.config import Settings
    from shared.db import create_pool
    from shared.db import migrate as apply

    async def run() -> None:
        async with create_pool(Settings()) as pool:
            for component in components():
                folder = (
                    ROOT / ("gateway" if component == "gateway" else f"services/{component}") / "migrations"
                )
                if folder.exists():
                    done = await apply(pool, component, folder)
                    click.echo(f"{component}: {len(done)} applied")

    asyncio.run(run())


@main.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.option(
    "--nats-url", default="nats://nats:4222", show_default=True, help="the servers, without credentials"
)
@click.option(
    "--database-url",
    default="postgresql://postgres:5432/moltgrid",
    show_default=True,
    help="the database, without credentials",
)
def credentials(out: Path, nats_url: str, database_url: str) -> None:
    """Generate (or complete) the credentials in OUT and write the files docker compose and kustomize use.

    Existing secrets in OUT/credentials.json are kept; delete an entry and run again to rotate it.
    """
    from shared.runtime.credentials import Credentials

    out.mkdir(parents=True, exist_ok=True)
    os.chmod(out, 0o700)
    creds = Credentials.load_or_create(out)
    for path in creds.write_deployment(out, nats_url, database_url):
        click.echo(f"» {path}")


@main.command()
def provision() -> None:
    """Create or update every component's PostgreSQL role (its password from MOLTGRID_*_DATABASE_URL of the
    credentials) owning its schema, connected as the superuser MOLTGRID_DATABASE_URL names. Idempotent."""
    import asyncpg

    from shared.runtime.credentials import FILE, Credentials, provision_sql

    creds_dir = Path(os.environ.get("MOLTGRID_CREDENTIALS_DIR", "/run/moltgrid"))
    if not (creds_dir / FILE).exists():
        raise click.ClickException(f"no {FILE} in {creds_dir} (set MOLTGRID_CREDENTIALS_DIR)")
    creds = Credentials.load_or_create(creds_dir)
    dsn = os.environ["MOLTGRID_DATABASE_URL"]

    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            database = await conn.fetchval("SELECT current_database()")
            await conn.execute(provision_sql(creds, database))
        finally:
            await conn.close()

    asyncio.run(run())
    click.echo("» roles and schemas provisioned")


@main.command()
@click.option("--url", default="http://127.0.0.1:8000", show_default=True)
def status(url: str) -> None:
    """Show the health of every service, as the gateway sees it."""
    try:
        with urllib.request.urlopen(f"{url}/v1/health", timeout=5) as r:
            click.echo(json.dumps(json.load(r), indent=2))
    except OSError as exc:
        click.echo(f"gateway not reachable at {url}: {exc}", err=True)
        sys.exit(1)


@main.command("rotate-keys")
@click.option("--batch", default=500, show_default=True)
@click.option(
    "--state-file",
    type=click.Path(path_type=Path),
    default=None,
    help="where progress is kept between runs (default <data dir>/rotate-keys.json)",
)
def rotate_keys(batch: int, state_file: Path | None) -> None:
    """Re-encrypt stored values with the newest key in MOLTGRID_ENCRYPTION_KEYS (resumable).

    Restart every service with the new key list (newest first, old keys after it) before running this;
    remove the old key only after it has finished.
    """
    from shared.config import Settings
    from shared.runtime.rotate import rotate_all
    from shared.service import connect_nats

    settings = Settings()
    state = state_file or (Path(os.environ.get("MOLTGRID_DATA_DIR", ROOT / ".moltgrid")) / "rotate-keys.json")
    state.parent.mkdir(parents=True, exist_ok=True)

    def bar(table: str, total: int) -> object:
        return click.progressbar(length=total, label=f"{table:<32}").__enter__()

    async def run() -> dict[str, int]:
        nc = await connect_nats(settings, "rotate-keys")
        try:
            return await rotate_all(nc, settings.service_names(), state, batch, bar)
        finally:
            await nc.close()

    done = asyncio.run(run())
    for table, count in done.items():
        click.echo(f"{table}: {count} rows re-encrypted")


@main.command()
@click.argument("service")
@click.option("--instance", default=None, help="one replica (its MOLTGRID_INSTANCE); default: any replica")
@click.option("--timeout", default=2.0, show_default=True)
def ping(service: str, instance: str | None, timeout: float) -> None:
    """Exit 0 when the service (or one replica of it) answers over NATS: for container health probes."""
    import nats as nats_client

    from shared.bus import call
    from shared.config import Settings, inbox_prefix
    from shared.subjects import instance_health, svc

    async def run() -> bool:
        servers = Settings().nats_servers
        nc = await nats_client.connect(
            servers, connect_timeout=timeout, max_reconnect_attempts=0, inbox_prefix=inbox_prefix(servers)
        )
        try:
            subject = instance_health(service, instance) if instance else svc(service, "health")
            return (await call(nc, subject, {}, timeout=timeout)).ok
        finally:
            await nc.close()

    try:
        healthy = asyncio.run(run())
    except Exception as exc:
        click.echo(f"unhealthy: {exc}", err=True)
        sys.exit(1)
    click.echo("ok" if healthy else "unhealthy")
    sys.exit(0 if healthy else 1)


@main.command("create-agent")
@click.option("--name", default=None)
@click.option("--url", default="http://127.0.0.1:8000", show_default=True)
def create_agent(name: str | None, url: str) -> None:
    """Register an agent and print its id and API key (shown once)."""
    request = urllib.request.Request(
        f"{url}/v1/register",
        data=json.dumps({"name": name}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            click.echo(json.dumps(json.load(r), indent=2))
    except OSError as exc:
        raise click.ClickException(f"registration failed: {exc}") from exc


@main.command("mcp")
@click.option(
    "--url",
    envvar="MOLTGRID_URL",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="the MoltGrid API (env MOLTGRID_URL)",
)
def mcp_stdio(url: str) -> None:
    """Serve MCP over stdio for an MCP client; the agent's API key comes from MOLTGRID_API_KEY."""
    api_key = os.environ.get("MOLTGRID_API_KEY", "")
    if not api_key:
        raise click.ClickException("set MOLTGRID_API_KEY to the agent's API key")
    # the gateway's stdio server, named by module as the supervisor names components (shared/ imports no
    # gateway code); exec keeps this process, its stdin/stdout and its environment
    os.execv(sys.executable, [sys.executable, "-m", "gateway.mcp_stdio", "--url", url])


@main.command("admin-hash")
def admin_hash() -> None:
    """Print a password hash for MOLTGRID_ADMIN_PASSWORD_HASH (the admin panel at /admin).

    On a terminal the password is asked for twice, without echo; otherwise it is read from the first line of
    standard input (`echo "$PASSWORD" | moltgrid admin-hash`). Only the hash goes to standard output.
    """
    from shared.passwords import hash_password

    if sys.stdin.isatty():
        password = click.prompt("Admin password", hide_input=True, confirmation_prompt=True, err=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise click.ClickException("the password is empty")
    click.echo(hash_password(password))


@main.command("tail-events")
@click.option("--agent", default="*", help="an agent id (default: every agent)")
@click.option("--type", "event_type", default=">", help="e.g. job.completed (default: every type)")
@click.option("--since", default=0.0, help="also replay the last N seconds from the EVENTS stream")
def tail_events(agent: str, event_type: str, since: float) -> None:
    """Print domain events as they happen (JSON lines), from the JetStream EVENTS stream."""
    from datetime import datetime, timedelta

    import nats as nats_client

    from shared.config import Settings, inbox_prefix
    from shared.events import follow

    subject = f"events.{agent}.{event_type}"

    async def run() -> None:
        servers = Settings().nats_servers
        nc = await nats_client.connect(servers, inbox_prefix=inbox_prefix(servers))
        start = datetime.now(UTC) - timedelta(seconds=since) if since else None
        sub = await follow(nc.jetstream(), subject, since=start)
        try:
            async for msg in sub.messages:
                click.echo(msg.data.decode())
        finally:
            await nc.close()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
