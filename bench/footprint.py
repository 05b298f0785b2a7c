"""The default `moltgrid up`'s memory, measured as a user would run it: idle, then after each of N mixed runs.

    python -m bench.footprint [--runs 3] [--duration 10] [--concurrency 64] [--layout shared]

Starts `moltgrid up` itself (embedded NATS and PostgreSQL, durable, in a temporary data directory, rate
limit raised), and reports the proportional set size of its whole process tree — the `up` supervisor,
NATS, PostgreSQL with every backend, the gateway and the services — at idle, then right after each run of
the load generator's mixed scenario (PostgreSQL still holds the backends the load opened) and once the
stack is idle again, so growth across runs shows.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench import measure
from bench.__main__ import run_loadgen
from shared.runtime.embedded import free_port
from shared.runtime.stack import LAYOUTS, SHARED

SETTLE_S = 5.0  # after start-up, before measuring
IDLE_AGAIN_S = 15.0  # after a run: pool connections idle for MOLTGRID_DB_IDLE_SECONDS (10 s) have closed


def by_process(root: int) -> str:
    """'postgres 61, python 48, …': PSS in MB by executable name (the python processes are told apart by
    their module: gateway, shared.runtime.host, shared.runtime.cli)."""
    import psutil

    out: dict[str, float] = {}
    for proc in measure.tree([root]):
        try:
            cmd = proc.cmdline()
            name = cmd[2] if len(cmd) > 2 and cmd[1] == "-m" else proc.name()
            name = {"shared.runtime.cli": "up (supervisor)", "shared.runtime.host": "services host"}.get(
                name, name
            )
            out[name] = out.get(name, 0.0) + proc.memory_full_info().pss / 2**20
        except (psutil.NoSuchProcess, IndexError):
            pass
    return ", ".join(f"{k} {v:.0f}" for k, v in sorted(out.items(), key=lambda kv: -kv[1]))


def wait_healthy(base: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/v1/health", timeout=5) as r:
                if r.status == 200 and b'"operational"' in r.read():
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"moltgrid up did not become healthy at {base}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--layout", default=SHARED, choices=LAYOUTS)
    a = p.parse_args(argv)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="moltgrid-footprint-") as tmp:
        env = {**os.environ, "MOLTGRID_RATE_LIMIT_PER_MINUTE": "100000000", "MOLTGRID_LOG_LEVEL": "warning"}
        up = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "shared.runtime.cli",
                "up",
                "--data-dir",
                tmp,
                "--port",
                str(port),
                "--nats-port",
                str(free_port()),
                "--pg-port",
                str(free_port()),
                "--layout",
                a.layout,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(Path(tmp) / "up.log", "wb"),  # noqa: SIM115 - the child owns the log file
        )
        try:
            wait_healthy(base)
            time.sleep(SETTLE_S)
            print(
                f"moltgrid up ({a.layout} layout), idle: {measure.pss_bytes([up.pid]) / 2**20:.0f} MB PSS "
                f"({by_process(up.pid)})",
                flush=True,
            )
            for run in range(1, a.runs + 1):
                r = run_loadgen(base, "mixed", a.concurrency, a.duration, 16)
                print(
                    f"mixed run {run}: {r.get('rps', '?')} req/s, errors {r.get('errors', r.get('error'))}; "
                    f"right after: {measure.pss_bytes([up.pid]) / 2**20:.0f} MB PSS ({by_process(up.pid)})",
                    flush=True,
                )
                time.sleep(IDLE_AGAIN_S)
                print(
                    f"  {IDLE_AGAIN_S:.0f} s later: {measure.pss_bytes([up.pid]) / 2**20:.0f} MB PSS "
                    f"({by_process(up.pid)})",
                    flush=True,
                )
        finally:
            up.send_signal(signal.SIGINT)
            try:
                up.wait(60)
            except subprocess.TimeoutExpired:
                up.kill()


if __name__ == "__main__":
    main()
