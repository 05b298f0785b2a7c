"""Runs the gateway and the services as OS processes (one per service, or several services sharing one:
shared.runtime.host), restarting any that die, the embedded NATS and PostgreSQL servers included, with a
back-off (1 s doubling to 30 s while a process keeps dying young); every exited child is reaped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from shared.runtime.embedded import Child
from shared.subjects import SERVICES

ROOT = Path(__file__).resolve().parents[2]


def components() -> list[str]:
    """The gateway plus every service."""
    return ["gateway", *SERVICES]


HOST = "services"  # the shared-process component: services-<i> hosts replica i of several services
SERVICES_ENV = "MOLTGRID_SHARED_SERVICES"  # comma-separated: the services a shared host runs


def module_of(component: str) -> str:
    if component == HOST:
        return "shared.runtime.host"  # which services: MOLTGRID_SHARED_SERVICES in the replica's env
    return "gateway" if component == "gateway" else f"services.{component}"


def parse_replicas(spec: str | None) -> dict[str, int]:
    """'memory=2,gateway=2' → {'memory': 2, 'gateway': 2}; unknown names are refused."""
    out: dict[str, int] = {}
    for part in filter(None, (spec or "").split(",")):
        name, _, count = part.partition("=")
        if name.strip() not in components():
            raise ValueError(f"unknown component {name!r}; known: {', '.join(components())}")
        out[name.strip()] = int(count)
    return out


BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0
STABLE_SECONDS = 60.0  # a process that ran this long before dying is restarted without delay growth


@dataclass
class Backoff:
    """When a dead process may next be restarted: after 1 s, doubling while it keeps dying young."""

    delay: float = 0.0
    next_at: float = 0.0
    pending: bool = False  # seen dead, restart scheduled
    started_at: float = field(default_factory=time.monotonic)

    def schedule(self, now: float) -> None:
        young = now - self.started_at < STABLE_SECONDS
        self.delay = min(BACKOFF_MAX, self.delay * 2) if young and self.delay else BACKOFF_FIRST
        self.next_at, self.pending = now + self.delay, True

    def started(self, now: float) -> None:
        self.started_at, self.pending = now, False


@dataclass
class Supervisor:
    env: dict[str, str]
    log_dir: Path | None = None  # None: children write to our stdout/stderr
    # component, its extra env → the process's own credentials (replacing the operator's in env)
    secrets: Callable[[str, dict[str, str]], dict[str, str]] | None = None
    children: dict[str, Child] = field(default_factory=dict)
    servers: list[Any] = field(default_factory=list)  # embedded NATS/PostgreSQL: .child, .start()
    _backoff: dict[str, Backoff] = field(default_factory=dict)
    _env_of: dict[str, dict[str, str]] = field(default_factory=dict)

    def spawn(self, component: str, index: int = 0, extra_env: dict[str, str] | None = None) -> Child:
        """Start one replica; a respawn of the same name reuses its previous extra_env (e.g. its port)."""
        name = f"{component}-{index}"
        extra_env = self._env_of.setdefault(name, extra_env or {}) if extra_env is None else extra_env
        self._env_of[name] = extra_env
        own = self.secrets(component, extra_env) if self.secrets else {}
        env = {**os.environ, **self.env, **own, **extra_env, "MOLTGRID_INSTANCE": name}
        out: IO[bytes] | None = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log = self.log_dir / f"{name}.log"
            out = open(log, "ab")  # noqa: SIM115 - the child process owns the log file
        else:
            log = Path("/dev/stderr")
        proc = subprocess.Popen(
            [sys.executable, "-m", module_of(component)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        if out is not None:
            out.close()
        child = Child(name, proc, log)
        self.children[name] = child
        return child

    def restarting(self) -> list[str]:
        """The processes (and servers) down now, waiting for their restart."""
        down = [name for name, child in self.children.items() if not child.alive()]
        return down + [s.child.name for s in self.servers if s.child is not None and not s.child.alive()]

    def _due(self, name: str, code: int | None) -> bool:
        """Whether a dead process is due for its restart (its first sighting schedules it)."""
        now = time.monotonic()
        backoff = self._backoff.setdefault(name, Backoff())
        if not backoff.pending:
            backoff.schedule(now)
            print(
                f"» {name} exited with {code}; restarting in {backoff.delay:.0f}s",
                file=sys.stderr,
                flush=True,
            )
        return now >= backoff.next_at

    def _started(self, name: str) -> None:
        self._backoff.setdefault(name, Backoff()).started(time.monotonic())

    def watch(self, should_stop: Callable[[], bool]) -> None:
        """Restart children and embedded servers that exit unexpectedly (with a back-off) until
        should_stop() is true. poll() reaps each exited child, so none stays <defunct>."""
        while not should_stop():
            for server in self.servers:  # first: the services need them
                child = server.child
                if child is None or child.alive() or not self._due(child.name, child.proc.returncode):
                    continue
                try:
                    server.start()
                    print(f"» {child.name} restarted", file=sys.stderr, flush=True)
                except Exception as exc:  # e.g. PostgreSQL's old backends still hold its shared memory
                    print(f"» {child.name} did not start: {exc}", file=sys.stderr, flush=True)
                    server.kill()  # (if it is up but not listening) the next attempt starts it afresh
                self._started(child.name)  # a failed start dies young: the next delay doubles
            for name, child in list(self.children.items()):
                if child.alive() or not self._due(name, child.proc.returncode):
                    continue
                component, _, index = name.rpartition("-")
                self.spawn(component, int(index))
                self._started(name)
            time.sleep(0.5)

    def stop_all(self, timeout: float = 15) -> None:
        for child in self.children.values():
            if child.alive():
                child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in self.children.values():
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
