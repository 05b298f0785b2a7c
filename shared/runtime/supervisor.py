"""Runs the gateway and the services as OS processes (one per service, or several services sharing one:
shared.runtime.host), restarting any that die."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

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


@dataclass
class Supervisor:
    env: dict[str, str]
    log_dir: Path | None = None  # None: children write to our stdout/stderr
    children: dict[str, Child] = field(default_factory=dict)
    _restarts: dict[str, float] = field(default_factory=dict)
    _env_of: dict[str, dict[str, str]] = field(default_factory=dict)

    def spawn(self, component: str, index: int = 0, extra_env: dict[str, str] | None = None) -> Child:
        """Start one replica; a respawn of the same name reuses its previous extra_env (e.g. its port)."""
        name = f"{component}-{index}"
        extra_env = self._env_of.setdefault(name, extra_env or {}) if extra_env is None else extra_env
        self._env_of[name] = extra_env
        env = {**os.environ, **self.env, **extra_env, "MOLTGRID_INSTANCE": name}
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log = self.log_dir / f"{name}.log"
            out: int | object = open(log, "ab")  # noqa: SIM115 - the child process owns the log file
        else:
            log, out = Path("/dev/stderr"), None
        proc = subprocess.Popen(
            [sys.executable, "-m", module_of(component)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,  # type: ignore[arg-type]
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        if out is not None:
            out.close()  # type: ignore[attr-defined]
        child = Child(name, proc, log)
        self.children[name] = child
        return child

    def watch(self, should_stop: Callable[[], bool]) -> None:
        """Restart children that exit unexpectedly (with a back-off) until should_stop() is true."""
        while not should_stop():
            for name, child in list(self.children.items()):
                if child.alive():
                    continue
                last = self._restarts.get(name, 0.0)
                if time.monotonic() - last < 2.0:
                    continue
                print(
                    f"» {name} exited with {child.proc.returncode}; restarting", file=sys.stderr, flush=True
                )
                self._restarts[name] = time.monotonic()
                component, _, index = name.rpartition("-")
                self.spawn(component, int(index))
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
