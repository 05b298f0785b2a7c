"""The TypeScript client (sdk/typescript) against the real stack: its types regenerated from this stack's
/openapi.json must match the checked-in ones, and its Node test suite (every method, errors, a real 429,
SSE resume, WebSocket push) must pass. Skips only when Node and npm are absent (`run.py test` installs them
in CI)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ADMIN_PASSWORD, ROOT

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


@pytest.mark.timeout(600)  # npm ci on a clean machine, two tsc builds, then a ~40 s suite
async def test_typescript_client(stack, tmp_path: Path) -> None:
    await asyncio.to_thread(_ensure_node_modules)
    fresh = await asyncio.to_thread(_generate, stack.base_url, tmp_path / "schema.ts")
    checked_in = await asyncio.to_thread(SCHEMA.read_text)
    if fresh != checked_in:  # a service still starting is briefly missing from the document
        await asyncio.sleep(3)
        fresh = await asyncio.to_thread(_generate, stack.base_url, tmp_path / "schema.ts")
    assert fresh == checked_in, (
        "sdk/typescript/src/generated/schema.ts differs from what the server publishes at /openapi.json; "
        "regenerate it against a running stack (python3 run.py up): "
        "cd sdk/typescript && npm run generate -- --url http://127.0.0.1:8000"
    )
    built = await asyncio.to_thread(_run, str(NODE), "scripts/build.mjs", "--tests")
    assert built.returncode == 0, f"tsc failed:\n{built.stdout}\n{built.stderr}"
    tested = await asyncio.to_thread(
        _run,
        str(NODE),
        "scripts/test.mjs",
        env={
            "MOLTGRID_TEST_URLS": ",".join(stack.url(i) for i in range(2)),
            "MOLTGRID_TEST_ADMIN_PASSWORD": ADMIN_PASSWORD,
        },
    )
    assert tested.returncode == 0, f"node --test failed:\n{tested.stdout[-20000:]}\n{tested.stderr[-5000:]}"
    assert "# fail 0" in tested.stdout, tested.stdout[-5000:]
