"""The TypeScript client (sdk/typescript) against the real stack: its types regenerated from this stack's
/openapi.json must match the checked-in ones, and its Node test suite (every method, errors, a real 429,
SSE resume, WebSocket push, an A2A round trip; every route of /openapi.json and of the gateway's routing
table reached or listed as not for this client) must pass. Skips only when Node and npm are absent
(`run.py test` installs them in CI).

Time goes to `npm ci` (only when the lock file changed), two tsc runs plus the tests' own (the CommonJS one
without a repeated type check) and the suite; the type comparison runs beside the build."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import pytest

from gateway.routes import GATEWAY_ROUTES
from tests.conftest import ADMIN_PASSWORD, ROOT

P = ParamSpec("P")
T = TypeVar("T")
SDK = ROOT / "sdk" / "typescript"
SCHEMA = SDK / "src" / "generated" / "schema.ts"
NODE, NPM = shutil.which("node"), shutil.which("npm")
pytestmark = pytest.mark.skipif(
    not (NODE and NPM), reason="node and npm not found (python3 run.py test installs them when CI=1)"
)


def _run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=SDK, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )


def _ensure_node_modules() -> None:
    """`npm ci` from the committed lock file, redone only when the lock file changed."""
    stamp = SDK / "node_modules" / ".moltgrid-lock-sha256"
    want = hashlib.sha256((SDK / "package-lock.json").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == want:
        return
    done = _run(str(NPM), "ci", "--no-audit", "--no-fund", "--loglevel=error")
    assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
    stamp.write_text(want)


def _generate(base_url: str, out: Path) -> str:
    done = _run(str(NODE), "scripts/generate.mjs", "--url", base_url, "--out", str(out), timeout=120)
    assert done.returncode == 0, f"type generation failed:\n{done.stdout}\n{done.stderr}"
    return out.read_text()


async def _timed(phases: dict[str, float], name: str, fn: Callable[P, T], *args: P.args, **kw: P.kwargs) -> T:
    """`fn` in a thread, its wall time recorded as phases[name]."""
    started = time.monotonic()
    try:
        return await asyncio.to_thread(fn, *args, **kw)
    finally:
        phases[name] = round(time.monotonic() - started, 1)


async def _types_match(base_url: str, out: Path, phases: dict[str, float]) -> tuple[str, str]:
    fresh = await _timed(phases, "generate", _generate, base_url, out)
    checked_in = await asyncio.to_thread(SCHEMA.read_text)
    if fresh != checked_in:  # a service still starting is briefly missing from the document
        await asyncio.sleep(3)
        fresh = await _timed(phases, "generate again", _generate, base_url, out)
    return fresh, checked_in


# npm ci on a clean machine (~30 s), tsc (~20-40 s on a busy machine), a ~20 s suite
@pytest.mark.timeout(300)
async def test_typescript_client(stack, tmp_path: Path) -> None:
    phases: dict[str, float] = {}
    await _timed(phases, "npm ci", _ensure_node_modules)
    # the comparison needs the stack, the build only the checked-in files: both at once
    types = asyncio.ensure_future(_types_match(stack.base_url, tmp_path / "schema.ts", phases))
    built = await _timed(phases, "build", _run, str(NODE), "scripts/build.mjs", "--tests")
    fresh, checked_in = await types
    assert fresh == checked_in, (
        "sdk/typescript/src/generated/schema.ts differs from what the server publishes at /openapi.json; "
        "regenerate it against a running stack (python3 run.py up): "
        "cd sdk/typescript && npm run generate -- --url http://127.0.0.1:8000"
    )
    assert built.returncode == 0, f"tsc failed:\n{built.stdout}\n{built.stderr}"
    tested = await _timed(
        phases,
        "node --test",
        _run,
        str(NODE),
        "scripts/test.mjs",
        env={
            "MOLTGRID_TEST_URLS": ",".join(stack.url(i) for i in range(2)),
            "MOLTGRID_TEST_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "MOLTGRID_TEST_ROUTES": json.dumps([[r.method, r.path, r.kind] for r in GATEWAY_ROUTES]),
        },
    )
    print(f"phases (s): {phases}")
    assert tested.returncode == 0, (
        f"node --test failed (phases {phases}):\n{tested.stdout[-20000:]}\n{tested.stderr[-5000:]}"
    )
    assert "# fail 0" in tested.stdout, tested.stdout[-5000:]
