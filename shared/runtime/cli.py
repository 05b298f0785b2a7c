"""The `moltgrid` command: up, migrate, status, version."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import urllib.request
from pathlib import Path

import click

from shared.config import VERSION, Settings
from shared.runtime.embedded import EmbeddedNats, EmbeddedPostgres, port_open
from shared.runtime.supervisor import ROOT, Supervisor, components, parse_replicas


def start_infra(data_dir: Path, *, nats_port: int, pg_port: int) -> tuple[str, str, list]:
    """Start embedded NATS/Postgres unless MOLTGRID_NATS_URL / MOLTGRID_DATABASE_URL point elsewhere."""
    started: list = []
    nats_url = os.environ.get("MOLTGRID_NATS_URL")
    if not nats_url:
        if port_open(nats_port):
            raise click.ClickException(f"port {nats_port} is taken; set MOLTGRID_EMBEDDED_NATS_PORT")
        started.append(EmbeddedNats(data_dir, nats_port).start())
        nats_url = started[-1].url
        click.echo(f"» embedded NATS (JetStream) on {nats_url}, data in {data_dir / 'nats'}")
    db_url = os.environ.get("MOLTGRID_DATABASE_URL")
    if not db_url:
        if port_open(pg_port):
            raise click.ClickException(f"port {pg_port} is taken; set MOLTGRID_EMBEDDED_PG_PORT")
        pg = EmbeddedPostgres(data_dir, pg_port).start()
        started.append(pg)
        db_url = pg.create_database("moltgrid")
        click.echo(f"» embedded PostgreSQL on 127.0.0.1:{pg_port}, data in {data_dir / 'postgres'}")
    return nats_url, db_url, started


@click.group()
def main() -> None:
    """MoltGrid: infrastructure for autonomous agents."""


@main.command()
def version() -> None:
    """Print the version."""
    click.echo(VERSION)


@main.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help="default ./.moltgrid")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--replicas", default="", help="e.g. memory=2,gateway=2 (gateways share --port)")
@click.option("--nats-port", default=int(os.environ.get("MOLTGRID_EMBEDDED_NATS_PORT", 4222)), show_default=True)
@click.option("--pg-port", default=int(os.environ.get("MOLTGRID_EMBEDDED_PG_PORT", 5433)), show_default=True)
def up(data_dir: Path | None, host: str, port: int, replicas: str, nats_port: int, pg_port: int) -> None:
    """Start the whole system; Ctrl-C stops it gracefully. Data persists in the data directory."""
    try:
        counts = parse_replicas(replicas)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--replicas")
    data_dir = (data_dir or Path(os.environ.get("MOLTGRID_DATA_DIR", ROOT / ".moltgrid"))).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    nats_url, db_url, infra = start_infra(data_dir, nats_port=nats_port, pg_port=pg_port)
    sup = Supervisor({"MOLTGRID_NATS_URL": nats_url, "MOLTGRID_DATABASE_URL": db_url,
                      "MOLTGRID_HOST": host, "MOLTGRID_PORT": str(port)})
    stopping = {"flag": False}

    def on_signal(*_: object) -> None:
        stopping["flag"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        sup.start_all(counts)
        click.echo(f"» {len(sup.children)} processes ({', '.join(components())}); API on http://{host}:{port}")
        sup.watch(lambda: stopping["flag"])
    finally:
        click.echo("» stopping")
        sup.stop_all()
        for server in reversed(infra):
            server.stop()
        click.echo("» stopped")


@main.command()
def migrate() -> None:
    """Apply every component's schema migrations to MOLTGRID_DATABASE_URL."""
    from shared.db import create_pool
    from shared.db import migrate as apply

    async def run() -> None:
        async with create_pool(Settings()) as pool:
            for component in components():
                folder = ROOT / ("gateway" if component == "gateway" else f"services/{component}") / "migrations"
                if folder.exists():
                    done = await apply(pool, component, folder)
                    click.echo(f"{component}: {len(done)} applied")

    asyncio.run(run())


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
