"""The `moltgrid` command's operator sub-commands against the running stack."""
from __future__ import annotations

import os
import subprocess
import sys


def _moltgrid(stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MOLTGRID_NATS_URL": stack.infra.nats_url}
    return subprocess.run([sys.executable, "-m", "shared.runtime.cli", *args], capture_output=True, text=True,
                          env=env, timeout=60)


def test_ping_any_replica_and_one_replica(stack):
    assert _moltgrid(stack, "ping", "memory").returncode == 0
    assert _moltgrid(stack, "ping", "memory", "--instance", "memory-1").returncode == 0
    missing = _moltgrid(stack, "ping", "memory", "--instance", "memory-9", "--timeout", "0.5")
    assert missing.returncode == 1 and "unhealthy" in missing.stdout + missing.stderr


def test_status_and_version(stack):
    result = _moltgrid(stack, "status", "--url", stack.base_url)
    assert result.returncode == 0 and '"status"' in result.stdout
    assert _moltgrid(stack, "version").stdout.strip()
